"""Layer 3 (model boundary): pure encoding and decoding between records and the wire JSON.

Requests are built strictly (only what is set; nothing `null` the providers' schemas forbid).
Responses are read leniently, because real servers differ from the published schema: missing
`logprobs`/`refusal`, `system_fingerprint: null`, explicit nulls, extra fields such as AI/ML
API's `meta`, `choices: []` usage chunks, `n > 1` choices in any order.
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
from ._model import TOOL_CHOICE_MODES, ModelRequest, ModelSettings
from ._tool import Tool, ToolDefinition

__all__ = [
    "decode_completion",
    "decode_error",
    "decode_usage",
    "encode_message",
    "encode_request",
    "openai_tool",
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
        body["tools"] = [openai_tool(definition) for definition in request.tools]
        if settings.tool_choice is not None:
            body["tool_choice"] = _encode_tool_choice(settings.tool_choice, request)
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    _add_sampling(body, settings)
    return _with_extra_body(body, settings.extra_body)


_PLAIN_SETTINGS = (
    "n", "seed", "temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
    "top_logprobs", "reasoning_effort", "user", "service_tier",
)  # fmt: skip
"""Settings sent under their own name, as they are, when set."""


def _add_sampling(body: dict[str, Any], settings: ModelSettings) -> None:
    for name in _PLAIN_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            body[name] = value
    if settings.stop is not None:
        body["stop"] = settings.stop if isinstance(settings.stop, str) else list(settings.stop)
    if settings.logit_bias is not None:
        body["logit_bias"] = dict(settings.logit_bias)
    if settings.metadata is not None:
        body["metadata"] = dict(settings.metadata)
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
    if choice in TOOL_CHOICE_MODES:
        return choice
    names = [definition.name for definition in request.tools]
    if choice not in names:
        raise ValueError(
            f"tool_choice {choice!r} is neither 'none', 'auto', 'required' nor the name of a "
            f"tool of this request ({', '.join(names)})"
        )
    return {"type": "function", "function": {"name": choice}}


def openai_tool(tool: ToolDefinition | Tool[..., Any]) -> dict[str, Any]:
    """A tool in the Chat Completions wire shape, `{"type": "function", "function": {...}}`.

    What agentkit sends in a request's `tools`; use it to hand a tool to another client.
    """
    definition = tool.definition() if isinstance(tool, Tool) else tool
    function: dict[str, Any] = {"name": definition.name}
    if definition.description:
        function["description"] = definition.description
    function["parameters"] = dict(definition.parameters)
    if definition.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


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
        ModelResponseError: The body is not a chat completion, or a field has the wrong type
            (the message names the field); nothing else escapes.
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise ModelResponseError(
            "the response is not a chat completion (no 'choices' list)", body=short_repr(data)
        )
    if not data["choices"]:
        raise ModelResponseError("the response has no choices (an empty 'choices' list)")
    choices = sorted(
        (_decode_choice(choice, position) for position, choice in enumerate(data["choices"])),
        key=lambda choice: choice.index,
    )
    return Completion(
        id=wire_text(data.get("id"), "id") or "",
        model=wire_text(data.get("model"), "model") or "",
        created=wire_count(data.get("created"), "created"),
        choices=tuple(choices),
        usage=decode_usage(data.get("usage"), data.get("meta")),
        system_fingerprint=wire_text(data.get("system_fingerprint"), "system_fingerprint"),
    )


def _decode_choice(data: Any, position: int) -> Choice:
    where = f"choices[{position}]"
    choice = wire_object(data, where)
    message = wire_object(choice.get("message"), f"{where}.message")
    calls = wire_list(message.get("tool_calls"), f"{where}.message.tool_calls")
    return Choice(
        index=wire_count(choice.get("index"), f"{where}.index", default=position),
        message=AssistantMessage(
            content=wire_content(message.get("content"), f"{where}.message.content"),
            tool_calls=tuple(
                _decode_call(call, f"{where}.message.tool_calls[{n}]")
                for n, call in enumerate(calls)
            ),
            refusal=wire_text(message.get("refusal"), f"{where}.message.refusal"),
        ),
        finish_reason=wire_text(choice.get("finish_reason"), f"{where}.finish_reason"),
    )


def _decode_call(data: Any, where: str) -> ToolCall:
    call = wire_object(data, where)
    function = wire_object(call.get("function"), f"{where}.function")
    return ToolCall(
        id=wire_text(call.get("id"), f"{where}.id") or "",
        name=wire_text(function.get("name"), f"{where}.function.name") or "",
        arguments=wire_arguments(function.get("arguments"), f"{where}.function.arguments"),
    )


def decode_usage(data: Any, meta: Any = None) -> Usage:
    """Read `usage` (and AI/ML API's `meta.usage`); absent values count as zero.

    Raises:
        ModelResponseError: A count is not a non-negative whole number.
    """
    usage = wire_object(data, "usage")
    prompt_details = wire_object(usage.get("prompt_tokens_details"), "usage.prompt_tokens_details")
    completion_details = wire_object(
        usage.get("completion_tokens_details"), "usage.completion_tokens_details"
    )
    meta_usage = (meta.get("usage") if isinstance(meta, dict) else None) or {}
    credits = meta_usage.get("credits_used") if isinstance(meta_usage, dict) else None
    return Usage(
        requests=1,
        prompt_tokens=wire_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        completion_tokens=wire_count(usage.get("completion_tokens"), "usage.completion_tokens"),
        total_tokens=wire_count(usage.get("total_tokens"), "usage.total_tokens"),
        cached_tokens=wire_count(prompt_details.get("cached_tokens"), "cached_tokens"),
        reasoning_tokens=wire_count(completion_details.get("reasoning_tokens"), "reasoning_tokens"),
        credits_used=_credits(credits),
    )


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


def _credits(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0  # AI/ML API's extra accounting: informative only, never worth failing a run


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
