"""Layer 3 (model boundary): reading JSON from any provider, field by field, and its errors.

Every reader returns the value or raises `ModelResponseError` naming the field, so a malformed
response never escapes as a `KeyError` or `TypeError`. Nothing here knows a dialect's shape.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import reprlib
import time
from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json

from agentkit._exceptions import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    ModelHTTPError,
    ModelResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "decode_error",
    "retry_after_seconds",
    "short_repr",
    "wire_arguments",
    "wire_content",
    "wire_count",
    "wire_list",
    "wire_object",
    "wire_text",
]

_STATUS_ERRORS: dict[int, type[ModelHTTPError]] = {
    400: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}
_MAX_BODY_TEXT = 500
_REPR = reprlib.Repr()  # bounded in depth and width (keyword arguments need Python 3.12)
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring = 4, 8, 8, 120

# -- field readers: each returns the value or raises ModelResponseError naming the field --


def wire_object(value: Any, where: str) -> dict[str, Any]:
    """An object, or `{}` for null/absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    return value


def wire_list(value: Any, where: str) -> list[Any]:
    """A list, or `[]` for null/absent."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong(where, "a list", value)
    return value


def wire_text(value: Any, where: str) -> str | None:
    """A string (numbers are taken as their text, as some servers send numeric ids)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _wrong(where, "a string", value)


def wire_content(value: Any, where: str) -> str | None:
    """Message text: a string, null, or a list of text parts (joined)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [wire_object(part, f"{where}[{n}]") for n, part in enumerate(value)]
        return "".join(wire_text(part.get("text"), f"{where}[].text") or "" for part in parts)
    raise _wrong(where, "a string or a list of text parts", value)


def wire_arguments(value: Any, where: str) -> str:
    """Tool-call arguments: a JSON string (an object some servers send is encoded back)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise _wrong(where, "a JSON string", value)


def wire_count(value: Any, where: str, *, default: int = 0) -> int:
    """A non-negative whole number (an integral float is accepted)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(where, "a whole number", value)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise _wrong(where, "a whole number", value)
    if value < 0:
        raise _wrong(where, "a non-negative number", value)
    return int(value)


def _wrong(where: str, expected: str, value: Any) -> ModelResponseError:
    return ModelResponseError(
        f"malformed response: {where} should be {expected}, got {short_repr(value, 60)}",
        body=short_repr(value),
    )


def short_repr(value: Any, limit: int = _MAX_BODY_TEXT) -> str:
    """A bounded `repr` of decoded JSON, safe for any depth and size."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode_error(
    status_code: int, headers: Mapping[str, str], body: bytes, content_type: str = ""
) -> ModelHTTPError:
    """Map an error response to the typed error for its status.

    Understands the OpenAI envelope `{"error": {...}}`, AI/ML API's flat
    `{"message", "statusCode", "requestId", ...}`, `application/problem+json`, and non-JSON
    bodies (an HTML page from a proxy).
    """
    parsed = _json_or_none(body)
    message, code, body_request_id = _error_fields(parsed)
    if message is None:
        message = _text_summary(body, status_code)
    cls = _STATUS_ERRORS.get(status_code, ServerError if status_code >= 500 else ModelHTTPError)
    if status_code in (400, 413, 422, 500) and _CONTEXT_EXCEEDED.search(
        f"{code or ''} {message} {_error_type(parsed)}"
    ):
        cls = ContextWindowExceeded
    error = cls(
        message,
        status_code=status_code,
        code=code,
        request_id=(
            headers.get("x-request-id") or body_request_id or headers.get("x-inference-id")
        ),
        body=parsed if parsed is not None else body.decode("utf-8", "replace")[:_MAX_BODY_TEXT],
        retry_after=retry_after_seconds(headers),
    )
    if status_code == 403 and _OUT_OF_CREDITS.search(f"{code or ''} {message}"):
        error.args = (
            f"{error} — the account is out of credits: not retried; top up the balance with "
            "the provider, or use another model or key",
        )  # `message` stays the provider's own words
    return error


_CONTEXT_EXCEEDED = re.compile(
    r"context_length_exceeded|maximum context length|context window|exceeds context length|"
    r"exceeds the (available )?context size|context size has been exceeded|prompt is too "
    r"long|exceed_context_size_error|ContextWindowExceededError|reduce the length of the "
    r"messages",
    re.IGNORECASE,
)
"""How providers say a prompt does not fit (OpenAI's code, AI/ML API passing OpenAI's words,
vLLM, llama.cpp, Ollama, LiteLLM, Anthropic through proxies); their texts are kept as test
fixtures in tests/data/context_errors.json."""
_OUT_OF_CREDITS = re.compile(r"credit|balance|quota|billing|insufficient", re.IGNORECASE)


def _error_type(parsed: Any) -> str:
    """The `type` of an error body (llama.cpp names the context error only there)."""
    inner = parsed.get("error") if isinstance(parsed, dict) else None
    found = inner.get("type") if isinstance(inner, dict) else None
    return found if isinstance(found, str) else ""


def _error_fields(parsed: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(parsed, dict):
        return None, None, None
    request_id = parsed.get("requestId") or parsed.get("request_id")
    inner = parsed.get("error")
    if isinstance(inner, dict):  # OpenAI's envelope, or problem+json's `error` object
        message = inner.get("message") or parsed.get("message") or parsed.get("title")
        code = inner.get("code") or inner.get("type") or inner.get("name")
    else:  # AI/ML API's flat body, or plain problem+json
        message = parsed.get("message") or parsed.get("detail") or parsed.get("title")
        if isinstance(inner, str) and not message:
            message = inner
        code = parsed.get("code") or parsed.get("type")
    if isinstance(message, list):  # some validators return one message per field
        message = "; ".join(str(item) for item in message)
    return (
        str(message) if message else None,
        str(code) if code else None,
        str(request_id) if request_id else None,
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(body: bytes) -> Any:
    try:
        return from_json(body)  # nesting is bounded: deep bodies fail here, not later
    except ValueError:
        return None


def _text_summary(body: bytes, status_code: int) -> str:
    text = body.decode("utf-8", "replace")
    if "<" in text and ">" in text:  # an HTML error page: keep its title or first words
        title = re.search(r"<title>(.*?)</title>", text, flags=re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    words = " ".join(text.split())
    if not words:
        return f"the server answered {status_code} with an empty body"
    return words[:200] + ("…" if len(words) > 200 else "")
