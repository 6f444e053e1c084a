"""Layer 3 (model boundary): the Chat Completions dialect: records to and from its wire JSON.

Requests are built strictly (only what is set; nothing `null` the providers' schemas forbid).
Responses are read leniently, because real servers differ from the published schema: missing
`logprobs`/`refusal`, `system_fingerprint: null`, explicit nulls, extra fields such as AI/ML
API's `meta`, `choices: []` usage chunks, `n > 1` choices in any order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from agentkit._exceptions import ConfigurationError, ModelConfigurationError, ModelResponseError
from agentkit._messages import (
    AssistantMessage,
    Choice,
    Completion,
    DeveloperMessage,
    Message,
    Reasoning,
    SystemMessage,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
    repeated_call_ids,
)
from agentkit._tool import BaseTool, ToolDefinition

from ._base import ModelRequest, ModelSettings, ResponseFormat, ToolChoice, forced_tool
from ._cost import reported_usd
from ._media_wire import Spliced, chat_part, chat_tool_media, check_media, describe_part
from ._profile import ModelProfile, SettingDroppedWarning
from ._wire_read import (
    short_repr,
    wire_arguments,
    wire_content,
    wire_count,
    wire_list,
    wire_object,
    wire_text,
)

__all__ = [
    "OPEN_PROFILE",
    "decode_completion",
    "decode_usage",
    "encode_message",
    "encode_request",
    "openai_tool",
]

OPEN_PROFILE = ModelProfile()
"""Everything sent as it is set: for servers agentkit knows nothing about."""


def encode_request(
    request: ModelRequest,
    *,
    model: str,
    stream: bool = False,
    profile: ModelProfile = OPEN_PROFILE,
    spliced: Spliced | None = None,
) -> dict[str, Any]:
    """Build the JSON body of a `/chat/completions` request, shaped to `profile`.

    Raises:
        ValueError: `tool_choice` names a tool the request does not have, or `extra_body`
            repeats a key agentkit sets itself.
        ModelConfigurationError: A setting the profile cannot take and that cannot be
            dropped without changing the answer's shape (`n > 1`, a `response_format`).
    """
    settings = request.settings
    body: dict[str, Any] = {
        "model": model,
        "messages": _encode_messages(request.messages, profile, model, spliced),
    }
    if settings.max_tokens is not None:
        body[profile.max_tokens_field] = settings.max_tokens
    if stream:
        body["stream"] = True
        if settings.include_usage and profile.stream_usage:
            body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [_tool(d, profile.strict_tools) for d in request.tools]
        if settings.tool_choice is not None:
            choice = _encode_tool_choice(settings.tool_choice, request, profile, model)
            if choice is not None:
                body["tool_choice"] = choice
        if settings.parallel_tool_calls is not None:
            if profile.parallel_tool_calls:
                body["parallel_tool_calls"] = settings.parallel_tool_calls
            else:
                _dropped(model, "parallel_tool_calls")
    _add_sampling(body, settings, profile, model)
    return _with_extra_body(body, settings.extra_body)


_PLAIN_SETTINGS = (
    "n", "seed", "temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
    "top_logprobs", "reasoning_effort", "verbosity", "user", "service_tier", "stop",
    "logit_bias", "metadata",
)  # fmt: skip
"""Settings sent under their own name when set (tuples as lists, mappings as objects)."""


def _add_sampling(
    body: dict[str, Any], settings: ModelSettings, profile: ModelProfile, model: str
) -> None:
    for name in _PLAIN_SETTINGS:
        value = getattr(settings, name)
        if value is None:
            continue
        if name in profile.dropped_settings or (name == "seed" and not profile.seed):
            _dropped(model, name)
            continue
        if name == "n" and value > 1 and not profile.multiple_choices:
            raise ModelConfigurationError(
                f"{model} answers with one choice only; n={value} cannot be sent "
                "(make n requests instead, or set ModelProfile(multiple_choices=True))"
            )
        body[name] = list(value) if isinstance(value, tuple) else _plain(value)
    if settings.response_format is not None:
        body["response_format"] = _encode_format(settings.response_format, profile, model)


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _encode_format(
    response_format: ResponseFormat, profile: ModelProfile, model: str
) -> dict[str, Any]:
    if (response_format.type == "json_schema" and not profile.json_schema) or (
        response_format.type == "json_object" and not profile.json_object
    ):
        raise ModelConfigurationError(
            f"{model} does not accept response_format {response_format.type!r}; leave it to "
            "the agent's output_type (it uses the output tool there), or set "
            f"ModelProfile({response_format.type}=True) if the server does accept it"
        )
    encoded = response_format.model_dump(by_alias=True, exclude_none=True)
    if encoded["type"] != "json_schema":
        return encoded
    del encoded["type"]
    if not profile.strict_tools:
        encoded.pop("strict", None)
    return {"type": "json_schema", "json_schema": encoded}


def _dropped(model: str, name: str) -> None:
    warnings.warn(
        f"{model} does not accept {name!r}; it was left out of the request "
        "(see its ModelProfile in docs/providers.md)",
        SettingDroppedWarning,
        stacklevel=5,
    )


def _with_extra_body(body: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if not extra:
        return body
    clashes = sorted(set(extra) & set(body))
    if clashes:
        raise ConfigurationError(
            f"extra_body repeats {', '.join(map(repr, clashes))}, which agentkit already sets; "
            "use the corresponding setting instead"
        )
    return {**body, **extra}


def _encode_tool_choice(
    choice: ToolChoice, request: ModelRequest, profile: ModelProfile, model: str
) -> str | dict[str, Any] | None:
    names = [definition.name for definition in request.tools]
    named = forced_tool(choice)
    if named is not None and named not in names:
        raise ConfigurationError(
            f"tool_choice {choice!r} is neither 'none', 'auto', 'required' nor the name of a "
            f"tool of this request ({', '.join(names)})"
        )
    if named is not None and not profile.tool_choice_named:
        if len(names) > 1 or not profile.tool_choice_required:
            _dropped(model, "tool_choice naming a tool")
            return None
        named, choice = None, "required"  # the only tool: the same thing
    if choice == "required" and not profile.tool_choice_required:
        _dropped(model, "tool_choice 'required'")
        return None
    if named is None:
        return str(choice)
    return {"type": "function", "function": {"name": named}}


def openai_tool(tool: ToolDefinition | BaseTool) -> dict[str, Any]:
    """A tool in the Chat Completions wire shape, `{"type": "function", "function": {...}}`.

    What agentkit sends in a request's `tools`; use it to hand a tool to another client.
    """
    return _tool(tool.definition() if isinstance(tool, BaseTool) else tool, strict_ok=True)


def _tool(definition: ToolDefinition, strict_ok: bool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": definition.name}
    if definition.description:
        function["description"] = definition.description
    function["parameters"] = dict(definition.parameters)
    if definition.strict and strict_ok:
        function["strict"] = True
    return {"type": "function", "function": function}


def _encode_messages(
    messages: Sequence[Message], profile: ModelProfile, model: str, spliced: Spliced | None
) -> list[dict[str, Any]]:
    """The conversation on the wire.

    The media of a turn's tool results follow its tool messages in one user message (tool
    messages are text only).
    """
    encoded: list[dict[str, Any]] = []
    held: list[ToolMessage] = []  # tool messages of this turn that carry media
    for message in messages:
        if held and not isinstance(message, ToolMessage):
            encoded.append(chat_tool_media(held, model, spliced))
            held = []
        if isinstance(message, ToolMessage) and message.parts:
            check_media(message.parts, profile, model)
            held.append(message)
        elif isinstance(message, UserMessage) and not isinstance(message.content, str):
            check_media(message.content, profile, model)
        encoded.append(
            encode_message(
                message, profile.instructions_role, profile.reasoning_field, model, spliced
            )
        )
    if held:
        encoded.append(chat_tool_media(held, model, spliced))
    return encoded


def encode_message(
    message: Message,
    instructions_role: str | None = None,
    reasoning_field: str | None = None,
    model: str | None = None,
    spliced: Spliced | None = None,
    thumbnails: bool = False,
) -> dict[str, Any]:
    """Encode one message record in the wire format.

    `instructions_role` sends system and developer messages in that role; `reasoning_field`
    sends an answer's reasoning back in that field (where the provider needs it). Without
    `model` (traces, timelines), images, documents and audio are described, not sent.
    """
    if isinstance(message, SystemMessage | DeveloperMessage):
        encoded = message.model_dump()
        if instructions_role is not None:
            encoded["role"] = instructions_role
        return encoded
    if isinstance(message, ToolMessage):
        encoded = {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
        if message.parts and model is None:
            encoded["parts"] = [describe_part(part, thumbnails) for part in message.parts]
        return encoded
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return {"role": "user", "content": message.content}
        if model is None:
            return {
                "role": "user",
                "content": [describe_part(p, thumbnails) for p in message.content],
            }
        return {"role": "user", "content": [chat_part(p, model, spliced) for p in message.content]}
    encoded = _encode_assistant(message)
    if reasoning_field is not None and message.reasoning:
        encoded[reasoning_field] = "\n\n".join(r.summary for r in message.reasoning if r.summary)
    return encoded


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
    calls = [
        _decode_call(call, f"{where}.message.tool_calls[{n}]")
        for n, call in enumerate(
            wire_list(message.get("tool_calls"), f"{where}.message.tool_calls")
        )
    ]
    if repeated := repeated_call_ids(calls):
        raise ModelResponseError(
            f"{where}.message.tool_calls: two or more calls have the id {repeated[0]!r}; "
            "each call of an answer needs its own id (nothing was run)"
        )
    thought = read_reasoning_field(message, f"{where}.message")
    return Choice(
        index=wire_count(choice.get("index"), f"{where}.index", default=position),
        message=AssistantMessage(
            content=wire_content(message.get("content"), f"{where}.message.content"),
            tool_calls=tuple(calls),
            refusal=wire_text(message.get("refusal"), f"{where}.message.refusal"),
            reasoning=(Reasoning(summary=thought),) if thought else (),
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


REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where Chat Completions servers put a reasoning model's thinking (DeepSeek, vLLM, Kimi,
GLM: `reasoning_content`; OpenRouter and AI/ML API: `reasoning`)."""


def read_reasoning_field(message: dict[str, Any], where: str) -> str:
    """The reasoning text of a message or delta (empty when it has none).

    `reasoning_details` (OpenRouter, AI/ML API: a list of typed parts) gives the text of its
    text and summary parts; encrypted parts have none to show.
    """
    details = message.get("reasoning_details")
    if isinstance(details, list):
        texts = [
            str(part.get("text") or part.get("summary") or "")
            for part in details
            if isinstance(part, dict)
        ]
        if any(texts):
            return "".join(texts)
    for name in REASONING_FIELDS:
        text = message.get(name)
        if isinstance(text, str) and text:
            return text
        if text is not None and not isinstance(text, str):
            wire_text(text, f"{where}.{name}")  # a wrong type is named, as for other fields
    return ""


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
    spent = meta_usage.get("usd_spent") if isinstance(meta_usage, dict) else None
    cost = reported_usd(spent) if spent is not None else None
    return Usage(
        cost=cost,
        cost_source="reported" if cost is not None else "unknown",
        requests=1,
        prompt_tokens=wire_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        completion_tokens=wire_count(usage.get("completion_tokens"), "usage.completion_tokens"),
        total_tokens=wire_count(usage.get("total_tokens"), "usage.total_tokens"),
        cached_tokens=wire_count(prompt_details.get("cached_tokens"), "cached_tokens"),
        reasoning_tokens=wire_count(completion_details.get("reasoning_tokens"), "reasoning_tokens"),
        credits_used=_credits(credits),
    )


def _credits(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0  # AI/ML API's extra accounting: informative only, never worth failing a run
