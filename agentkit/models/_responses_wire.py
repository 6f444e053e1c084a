"""Layer 3 (model boundary): the Responses dialect (`POST /v1/responses`) on the wire.

The same neutral records as Chat Completions, in OpenAI's second shape:

- messages become `input` items: system, developer and user messages as input messages, an
  assistant answer as its reasoning items, its text and one `function_call` per tool call,
  and a tool result as a `function_call_output` by `call_id`;
- tools are flat (`{"type": "function", "name", "parameters", "strict", "description"}`),
  a forced tool is `{"type": "function", "name"}`, structured output is `text.format`, and
  `max_tokens` is `max_output_tokens`;
- nothing is stored at the provider: `store: false`, and reasoning comes back encrypted
  (`include: ["reasoning.encrypted_content"]`) to be replayed in the next request;
- `n > 1` does not exist here: refused before sending; `seed` is not part of the dialect
  and is left out with a warning.

Answers are read leniently: unknown output items are skipped (logged), and an incomplete
response (`max_output_tokens`) ends as `finish_reason: "length"` does on Chat Completions.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from agentkit._exceptions import ModelConfigurationError, ModelResponseError
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

from ._base import ModelRequest, ToolChoice, forced_tool
from ._media_wire import Spliced, check_media, responses_part
from ._profile import ModelProfile, SettingDroppedWarning
from ._wire_read import wire_count, wire_list, wire_object, wire_text

__all__ = ["decode_response", "encode_responses_request"]

logger = logging.getLogger("agentkit")
_SAMPLING = ("temperature", "top_p", "user", "service_tier", "metadata")
"""Settings the Responses dialect takes under their own name."""


def encode_responses_request(
    request: ModelRequest,
    *,
    model: str,
    stream: bool,
    profile: ModelProfile,
    spliced: Spliced | None = None,
) -> dict[str, Any]:
    """The JSON body of a `/responses` request.

    Raises:
        ModelConfigurationError: `n > 1` (the dialect has one answer per request).
    """
    settings = request.settings
    if (settings.n or 1) > 1:
        raise ModelConfigurationError(
            f"{model} speaks the Responses dialect, which has one answer per request: n="
            f"{settings.n} cannot be sent (make n requests instead)"
        )
    messages, previous = (
        _unsent(request.messages) if profile.server_state else (request.messages, None)
    )
    body: dict[str, Any] = {
        "model": model,
        "input": [item for m in messages for item in encode_input(m, profile, model, spliced)],
        "store": profile.server_state,
    }
    if previous is not None:
        body["previous_response_id"] = previous
    if profile.reasoning_replay:
        body["include"] = ["reasoning.encrypted_content"]
    if settings.max_tokens is not None:
        body["max_output_tokens"] = settings.max_tokens
    if stream:
        body["stream"] = True
    if request.tools:
        body["tools"] = [
            _tool(d.name, d.parameters, d.description, d.strict) for d in request.tools
        ]
        if settings.tool_choice is not None:
            body["tool_choice"] = _tool_choice(settings.tool_choice)
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    for name in _SAMPLING:
        value = getattr(settings, name)
        if value is not None:
            body[name] = dict(value) if name == "metadata" else value
    if settings.reasoning_effort is not None:
        body["reasoning"] = {"effort": settings.reasoning_effort}
    if settings.seed is not None:
        warnings.warn(
            f"{model} (Responses) has no seed; it was left out of the request",
            SettingDroppedWarning,
            stacklevel=4,
        )
    text: dict[str, Any] = {}
    if settings.response_format is not None:
        text["format"] = _text_format(settings.response_format.model_dump(by_alias=True))
    if settings.verbosity is not None:
        text["verbosity"] = settings.verbosity
    if text:
        body["text"] = text
    if settings.extra_body:
        body.update(settings.extra_body)
    return body


def _unsent(messages: Sequence[Message]) -> tuple[Sequence[Message], str | None]:
    """What to send when the provider keeps the conversation.

    The instructions, and what came after the last stored answer (which
    `previous_response_id` names); everything when no answer was stored yet.
    """
    for position in range(len(messages) - 1, -1, -1):
        answer = messages[position]
        if isinstance(answer, AssistantMessage) and answer.response_id:
            instructions = [m for m in messages[:position]
                            if isinstance(m, SystemMessage | DeveloperMessage)]  # fmt: skip
            return [*instructions, *messages[position + 1 :]], answer.response_id
    return messages, None


def encode_input(
    message: Message, profile: ModelProfile, model: str, spliced: Spliced | None = None
) -> list[dict[str, Any]]:
    """One message as Responses input items (an answer may be several)."""
    if isinstance(message, SystemMessage | DeveloperMessage):
        return [{"role": message.role, "content": message.content}]
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return [{"role": "user", "content": message.content}]
        check_media(message.content, profile, model)
        return [
            {
                "role": "user",
                "content": [responses_part(p, model, spliced) for p in message.content],
            }
        ]
    if isinstance(message, ToolMessage):
        output: str | list[dict[str, Any]] = message.content
        if message.parts:  # text, images and files together in the call's output
            check_media(message.parts, profile, model)
            output = [{"type": "input_text", "text": message.content}]
            output += [responses_part(part, model, spliced) for part in message.parts]
        return [{"type": "function_call_output", "call_id": message.tool_call_id,
                 "output": output}]  # fmt: skip
    items: list[dict[str, Any]] = [_reasoning_item(r) for r in message.reasoning if r.id]
    items += [dict(item) for item in message.provider_items]
    if message.content:
        items.append({"role": "assistant", "content": message.content})
    items += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in message.tool_calls
    ]
    return items


def _reasoning_item(reasoning: Reasoning) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": reasoning.id,
        "summary": [{"type": "summary_text", "text": reasoning.summary}]
        if reasoning.summary
        else [],
    }
    if reasoning.encrypted_content is not None:
        item["encrypted_content"] = reasoning.encrypted_content
    return item


def _tool(name: str, parameters: Any, description: str | None, strict: bool) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": "function", "name": name, "parameters": dict(parameters),
                            "strict": strict}  # fmt: skip
    if description:
        tool["description"] = description
    return tool


def _tool_choice(choice: ToolChoice) -> str | dict[str, str]:
    named = forced_tool(choice)
    return str(choice) if named is None else {"type": "function", "name": named}


def _text_format(response_format: dict[str, Any]) -> dict[str, Any]:
    if response_format.get("type") != "json_schema":
        return {"type": response_format["type"]}
    spec = response_format.get("json_schema") or response_format
    made = {"type": "json_schema", "name": spec.get("name"), "schema": spec.get("schema")}
    if spec.get("strict") is not None:
        made["strict"] = spec["strict"]
    return made


# -- answers ------------------------------------------------------------------------------


def decode_response(data: Any) -> Completion:
    """Read a Response object (a 200 body, or the one in `response.completed`).

    Raises:
        ModelResponseError: It is not a Response, or repeats a call id.
    """
    response = wire_object(data, "response")
    if response.get("status") == "failed":
        error = wire_object(response.get("error"), "response.error")
        raise ModelResponseError(
            f"the response failed: {str(error.get('message') or 'no message')[:500]}",
            body=str(error)[:500],
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[Reasoning] = []
    refusal: list[str] = []
    kept: list[dict[str, Any]] = []
    for n, item in enumerate(wire_list(response.get("output"), "response.output")):
        item = wire_object(item, f"output[{n}]")
        if not _read_item(item, texts, calls, reasoning, refusal):
            kept.append(item)
    if repeated := repeated_call_ids(calls):
        raise ModelResponseError(
            f"response.output: two or more function calls have the call_id {repeated[0]!r}; "
            "each call needs its own id (nothing was run)"
        )
    response_id = wire_text(response.get("id"), "response.id") or None
    message = AssistantMessage(
        response_id=response_id,
        content="".join(texts) or None,
        tool_calls=tuple(calls),
        refusal="".join(refusal) or None,
        reasoning=tuple(reasoning),
        provider_items=tuple(kept),
    )
    return Completion(
        id=wire_text(response.get("id"), "response.id") or "",
        model=wire_text(response.get("model"), "response.model") or "",
        created=wire_count(response.get("created_at"), "response.created_at"),
        choices=(Choice(index=0, message=message, finish_reason=_finish(response, calls)),),
        usage=decode_responses_usage(response.get("usage")),
    )


def _read_item(
    item: dict[str, Any],
    texts: list[str],
    calls: list[ToolCall],
    reasoning: list[Reasoning],
    refusal: list[str],
) -> bool:
    """Read `item` into the lists; False when it is not a kind agentkit reads."""
    kind = item.get("type")
    if kind == "message":
        for part in wire_list(item.get("content"), "message.content"):
            part = wire_object(part, "message.content[]")
            if part.get("type") == "output_text":
                texts.append(wire_text(part.get("text"), "output_text.text") or "")
            elif part.get("type") == "refusal":
                refusal.append(wire_text(part.get("refusal"), "refusal.refusal") or "")
    elif kind == "function_call":
        calls.append(
            ToolCall(
                id=wire_text(item.get("call_id"), "function_call.call_id") or "",
                name=wire_text(item.get("name"), "function_call.name") or "",
                arguments=wire_text(item.get("arguments"), "function_call.arguments") or "",
            )
        )
    elif kind == "reasoning":
        reasoning.append(read_reasoning(item))
    else:  # a built-in tool's item, or something newer: kept, never acted on
        logger.debug("Responses output item of type %r kept as it came", kind)
        return False
    return True


def read_reasoning(item: dict[str, Any]) -> Reasoning:
    """A `reasoning` output item as the neutral record."""
    summary = [
        wire_text(part.get("text"), "reasoning.summary[].text") or ""
        for part in wire_list(item.get("summary"), "reasoning.summary")
        if isinstance(part, dict)
    ]
    return Reasoning(
        id=wire_text(item.get("id"), "reasoning.id"),
        summary="\n\n".join(s for s in summary if s),
        encrypted_content=wire_text(item.get("encrypted_content"), "reasoning.encrypted_content"),
    )


def _finish(response: dict[str, Any], calls: list[ToolCall]) -> str:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if calls else "stop"


def decode_responses_usage(data: Any) -> Usage:
    """The Responses `usage` object, in the neutral record (absent values count as zero)."""
    if data is None:
        return Usage(requests=1)
    usage = wire_object(data, "usage")
    given = wire_object(usage.get("input_tokens_details"), "usage.input_tokens_details")
    made = wire_object(usage.get("output_tokens_details"), "usage.output_tokens_details")
    return Usage(
        requests=1,
        prompt_tokens=wire_count(usage.get("input_tokens"), "usage.input_tokens"),
        completion_tokens=wire_count(usage.get("output_tokens"), "usage.output_tokens"),
        total_tokens=wire_count(usage.get("total_tokens"), "usage.total_tokens"),
        cached_tokens=wire_count(given.get("cached_tokens"), "cached_tokens"),
        reasoning_tokens=wire_count(made.get("reasoning_tokens"), "reasoning_tokens"),
    )
