"""Layer 3 (model boundary): an endpoint's URL and secrets, checked once, shown safely.

`Endpoint` is what a model knows of where it sends: the request URL (a query string given
inside `base_url` moved after the path, the scheme's case ignored), the form of it that may
be shown (no userinfo, query values hidden), the secrets to take out of every error and log
line (the key, secret headers, the URL's password and secret-looking query values), and the
checks of its set-up that must fail with words, not tracebacks: a key sent over plain HTTP
beyond this machine (warned once), `SSL_CERT_FILE` naming nothing, a SOCKS proxy without its
extra, and what a certificate failure really was.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import ssl
import warnings
from collections.abc import Iterator, Mapping
from importlib.util import find_spec
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentkit._exceptions import ModelConfigurationError, ModelError
from agentkit._redact import Redactor, shown_url

__all__ = [
    "Endpoint",
    "PlainHTTPKeyWarning",
    "certificate_problem",
    "check_environment",
    "is_loopback",
]

_SECRET_NAME = re.compile(r"key|token|secret|sig|pass|auth|credential|session", re.IGNORECASE)
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class PlainHTTPKeyWarning(UserWarning):
    """An API key is sent over plain http:// to a host that is not this machine."""


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine (a name or an address, IPv6 with or without brackets)."""
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Endpoint:
    """A model's request URL and secrets (see the module docs).

    Args:
        base_url: The API root; a query string in it is moved after the path.
        path: What follows the root (`/chat/completions`).
        query: More query parameters (Azure's `api-version`).
        api_key: The key, to be kept out of every text.
        headers: Extra headers; the values of secret-looking ones are secrets too.

    Raises:
        ModelConfigurationError: `base_url` is not an http(s) URL.
    """

    def __init__(
        self,
        base_url: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.netloc:
            raise ModelConfigurationError(
                f"base_url must start with http:// or https://, got {shown_url(base_url)!r}"
            )
        pairs = [*parse_qsl(parts.query, keep_blank_values=True), *(query or {}).items()]
        root = parts.path.rstrip("/")
        self.base_url = urlunsplit((scheme, parts.netloc, root, "", ""))
        """The root without a query (the query goes after the path)."""
        self.url = urlunsplit((scheme, parts.netloc, root + path, urlencode(pairs), ""))
        self.shown = shown_url(self.url)
        """The URL as errors and logs show it: no userinfo, query values hidden."""
        self.host = parts.hostname or ""
        self.plain_http = scheme == "http" and not is_loopback(self.host)
        secrets = [api_key, *(v for k, v in (headers or {}).items() if _secret_header(k))]
        secrets += [value for name, value in pairs if _SECRET_NAME.search(name)]
        self.redactor = Redactor(secrets, urls=[base_url])
        self._public_headers = {
            k.lower(): v for k, v in (headers or {}).items() if not _secret_header(k)
        }
        self._warned = False

    def identity(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """What of this endpoint may change an answer, with no secret in it (a cache key)."""
        return {
            "url": self.redactor.text(self.url),
            "headers": dict(sorted(self._public_headers.items())),
            "profile": dict(profile),
        }

    def warn_plain_http(self, has_key: bool) -> None:
        """Warn once when a key is about to go over plain HTTP beyond this machine."""
        if has_key and self.plain_http and not self._warned:
            self._warned = True
            warnings.warn(
                f"the API key is sent unencrypted to {self.host} over http://; use https://, "
                "or a server on this machine",
                PlainHTTPKeyWarning,
                stacklevel=4,
            )

    def refuse_redirect(self, status: int, location: str | None) -> None:
        """Refuse a redirect: never followed, so the key never goes where it points.

        Raises:
            ModelConfigurationError: `status` is a redirect (3xx), naming it and where to.
        """
        if 300 <= status < 400:
            where = shown_url(location) if location else "nowhere given"
            raise ModelConfigurationError(
                f"{self.shown} answered {status}, redirecting to {where}; agentkit does not "
                "follow redirects (the key would go along): set base_url to the new place"
            )

    @contextlib.contextmanager
    def redacting(self) -> Iterator[None]:
        """Take the secrets out of any `ModelError` raised inside (in place, then re-raised)."""
        try:
            yield
        except ModelError as error:
            self.redactor.error(error)
            raise


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse, with words, environment settings that would fail later with a bare traceback.

    Raises:
        ModelConfigurationError: `SSL_CERT_FILE` names no file, or a SOCKS proxy is set
            without `socksio` (httpx's `socks` extra).
    """
    env = os.environ if environ is None else environ
    cert_file = env.get("SSL_CERT_FILE")
    if cert_file and not os.path.isfile(cert_file):
        raise ModelConfigurationError(
            f"SSL_CERT_FILE names {cert_file}, which is not a file; point it at your CA "
            "bundle (PEM), or unset it to use the system's"
        )
    for name in (*_PROXY_VARIABLES, *(n.lower() for n in _PROXY_VARIABLES)):
        if env.get(name, "").lower().startswith("socks") and find_spec("socksio") is None:
            raise ModelConfigurationError(
                f"{name} names a SOCKS proxy, which needs httpx's socks support: "
                'pip install "httpx[socks]" (or unset it)'
            )


def certificate_problem(error: BaseException | None) -> str | None:
    """What a TLS certificate failure in `error`'s chain was, with what to do; else None."""
    seen: set[int] = set()  # a hand-made chain may loop
    while error is not None and id(error) not in seen:
        if isinstance(error, ssl.SSLCertVerificationError):
            return _advice(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _advice(error: ssl.SSLCertVerificationError) -> str:
    reason = str(getattr(error, "verify_message", "") or error).lower()
    if "expired" in reason:
        return "its certificate has expired: the server's operator must renew it"
    if "hostname" in reason or "ip address mismatch" in reason:
        return "its certificate is for another host name: check the host in base_url"
    return (
        "its certificate is not signed by a CA this machine trusts: trust that CA with "
        "SSL_CERT_FILE, or pass http_client=httpx.AsyncClient(verify=...)"
    )


def _secret_header(name: str) -> bool:
    return name.lower() in ("authorization", "api-key", "x-api-key") or bool(
        _SECRET_NAME.search(name)
    )
