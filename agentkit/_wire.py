"""Layer 3 (model boundary): pure encoding and decoding between records and the wire JSON.

Requests are built strictly (only what is set; nothing `null` the providers' schemas forbid).
Responses are read leniently, because real servers differ from the published schema: missing
`logprobs`/`refusal`, `system_fingerprint: null`, explicit nulls, extra fields such as AI/ML
API's `meta`, `choices: []` usage chunks, `n > 1` choices in any order.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from ._exceptions import (
    AuthenticationError,
    BadRequestError,
    ModelHTTPError,
    ModelResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from ._messages import (
    AssistantMessage,
    Choice,
    Completion,
    DeveloperMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)
from ._model import ModelRequest, ModelSettings

__all__ = [
    "decode_completion",
    "decode_error",
    "decode_usage",
    "encode_message",
    "encode_request",
    "retry_after_seconds",
]

_CHOICE_KEYWORDS = ("none", "auto", "required")
_STATUS_ERRORS: dict[int, type[ModelHTTPError]] = {
    400: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}
_MAX_BODY_TEXT = 500


def encode_request(request: ModelRequest, *, model: str, stream: bool = False) -> dict[str, Any]:
    """Build the JSON body of a `/chat/completions` request.

    Raises:
        ValueError: `tool_choice` names a tool the request does not have, or `extra_body`
            repeats a key agentkit sets itself.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [encode_message(message) for message in request.messages],
    }
    settings = request.settings
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    if stream:
        body["stream"] = True
        if settings.include_usage:
            body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [dict(definition) for definition in request.tools]
        if settings.tool_choice is not None:
            body["tool_choice"] = _encode_tool_choice(settings.tool_choice, request)
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    _add_sampling(body, settings)
    return _with_extra_body(body, settings.extra_body)


def _add_sampling(body: dict[str, Any], settings: ModelSettings) -> None:
    if settings.n is not None:
        body["n"] = settings.n
    if settings.seed is not None:
        body["seed"] = settings.seed
    response_format = settings.response_format
    if response_format is not None:
        encoded = response_format.model_dump(by_alias=True, exclude_none=True)
        if encoded["type"] == "json_schema":
            del encoded["type"]
            encoded = {"type": "json_schema", "json_schema": encoded}
        body["response_format"] = encoded


def _with_extra_body(body: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if not extra:
        return body
    clashes = sorted(set(extra) & set(body))
    if clashes:
        raise ValueError(
            f"extra_body repeats {', '.join(map(repr, clashes))}, which agentkit already sets; "
            "use the corresponding setting instead"
        )
    return {**body, **extra}


def _encode_tool_choice(choice: str, request: ModelRequest) -> str | dict[str, Any]:
    if choice in _CHOICE_KEYWORDS:
        return choice
    names = [definition["function"]["name"] for definition in request.tools]
    if choice not in names:
        raise ValueError(
            f"tool_choice {choice!r} is neither 'none', 'auto', 'required' nor the name of a "
            f"tool of this request ({', '.join(names)})"
        )
    return {"type": "function", "function": {"name": choice}}


def encode_message(message: Message) -> dict[str, Any]:
    """Encode one message record in the wire format."""
    if isinstance(message, SystemMessage | DeveloperMessage | ToolMessage):
        return message.model_dump()
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return {"role": "user", "content": message.content}
        return {"role": "user", "content": [_encode_part(part) for part in message.content]}
    return _encode_assistant(message)


def _encode_part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _encode_assistant(message: AssistantMessage) -> dict[str, Any]:
    encoded: dict[str, Any] = {"role": "assistant"}
    if message.tool_calls:
        # With tool calls, `content` is left out rather than null (AI/ML API rejects null).
        if message.content:
            encoded["content"] = message.content
        encoded["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    else:
        encoded["content"] = message.content or ""
    if message.refusal is not None:
        encoded["refusal"] = message.refusal
    return encoded


def decode_completion(data: Any) -> Completion:
    """Read a non-streamed response body (already parsed from JSON).

    Raises:
        ModelResponseError: The body is not a chat completion at all.
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise ModelResponseError(
            "the response is not a chat completion (no 'choices' list)", body=_short(data)
        )
    choices = sorted(
        (_decode_choice(choice, position) for position, choice in enumerate(data["choices"])),
        key=lambda choice: choice.index,
    )
    return Completion(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        created=int(data.get("created") or 0),
        choices=tuple(choices),
        usage=decode_usage(data.get("usage"), data.get("meta")),
        system_fingerprint=data.get("system_fingerprint"),
    )


def _decode_choice(data: Any, position: int) -> Choice:
    if not isinstance(data, dict):
        raise ModelResponseError("a choice is not an object", body=_short(data))
    message = data.get("message") or {}
    tool_calls = tuple(
        ToolCall(
            id=str(call.get("id") or ""),
            name=str((call.get("function") or {}).get("name") or ""),
            arguments=str((call.get("function") or {}).get("arguments") or ""),
        )
        for call in message.get("tool_calls") or ()
    )
    return Choice(
        index=int(data["index"]) if data.get("index") is not None else position,
        message=AssistantMessage(
            content=message.get("content"),
            tool_calls=tool_calls,
            refusal=message.get("refusal"),
        ),
        finish_reason=data.get("finish_reason"),
    )


def decode_usage(data: Any, meta: Any = None) -> Usage:
    """Read `usage` (and AI/ML API's `meta.usage`) leniently; absent values count as zero."""
    usage = data if isinstance(data, dict) else {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    meta_usage = (meta or {}).get("usage") or {} if isinstance(meta, dict) else {}
    return Usage(
        requests=1,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        total_tokens=int(usage.get("total_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        credits_used=float(meta_usage.get("credits_used") or 0.0),
    )


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
    return cls(
        message,
        status_code=status_code,
        code=code,
        request_id=headers.get("x-request-id") or body_request_id,
        body=parsed if parsed is not None else body.decode("utf-8", "replace")[:_MAX_BODY_TEXT],
        retry_after=retry_after_seconds(headers),
    )


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
        return json.loads(body)
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


def _short(data: Any) -> str:
    return repr(data)[:_MAX_BODY_TEXT]
