"""Layer 0 (foundation): secrets kept out of every text agentkit shows, logs or records.

A model knows its secrets (the API key, and whatever a URL carries in its userinfo or
query); `Redactor` takes them out of error messages, error bodies, log lines and span
attributes, whatever the capture mode, so a server that echoes the key back (or a key put
in a URL) never reaches a terminal, a log or a trace. `shown_url` is the form of a URL
that may be shown at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "Redactor", "shown_url"]

REDACTED = "[redacted]"
_SHORTEST = 6
"""Shorter 'secrets' (a query value like `1`) would redact ordinary words: not taken."""
_DEPTH = 20


def shown_url(url: str) -> str:
    """`url` without its userinfo and with every query value replaced (`?api-version=…`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be parsed)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port is not None else "")
    query = "&".join(f"{name}={REDACTED}" for name, _ in parse_qsl(parts.query, True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def masked_url(url: str) -> str:
    """A database URL (or `dbos:URL`) with its password replaced by `***`."""
    prefix = "dbos:" if url.startswith("dbos:") else ""
    try:
        parts = urlsplit(url[len(prefix) :])
        password = parts.password
    except ValueError:
        return "(a URL that cannot be parsed)"
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return prefix + urlunsplit(parts._replace(netloc=netloc))


class Redactor:
    """Replaces known secrets by `[redacted]` in texts and in errors.

    Args:
        secrets: The key and other secret strings.
        urls: URLs whose userinfo (user, password) and query values are secret too.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = (), urls: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s}
        for url in urls:
            found.update(_url_secrets(url))
        # Longest first: a secret that contains another is replaced whole.
        self._secrets = tuple(sorted((s for s in found if len(s) >= _SHORTEST), key=len)[::-1])

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, text: str) -> str:
        """`text` with every secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def value(self, value: Any, depth: int = 0) -> Any:
        """`value` (a string, or JSON-like lists and dicts of them) with secrets replaced."""
        if isinstance(value, str):
            return self.text(value)
        if depth > _DEPTH:
            return value
        if isinstance(value, dict):
            return {self.value(k, depth + 1): self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v, depth + 1) for v in value)
        return value

    def error(self, error: BaseException) -> BaseException:
        """Redact `error` in place (its message, `message` and `body`); return it."""
        if not self._secrets:
            return error
        error.args = tuple(self.value(arg) for arg in error.args)
        for name in ("message", "body"):
            if isinstance(getattr(error, name, None), str | dict | list):
                setattr(error, name, self.value(getattr(error, name)))
        return error


def _url_secrets(url: str) -> set[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found: set[str] = set()
    for raw in (parts.username, parts.password):
        if raw:
            found.update((raw, unquote(raw)))
    for _, value in parse_qsl(parts.query, True):
        if value:
            found.update((value, quote(value, safe="")))
    return found
