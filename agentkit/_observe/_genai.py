"""Layer 4 (run loop): neutral messages in the OpenTelemetry GenAI conventions' shape.

`gen_ai.input.messages` and `gen_ai.output.messages` (recorded only with content capture on)
hold `{"role": ..., "parts": [...]}` records: `text`, `tool_call` (id, name, arguments),
`tool_call_response` (id, response), `reasoning` and media parts, whatever dialect the model
speaks (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-input-messages.json). Media
travel as references, never as their bytes: a `uri` part for a URL, a `file` part for a
provider's file id, and for inline data a `blob` part whose content is replaced by its size.
"""

from __future__ import annotations

import json
from typing import Any

from agentkit._media import Audio, Document, Image
from agentkit._messages import (
    AssistantMessage,
    Choice,
    ImagePart,
    Message,
    TextPart,
    ToolMessage,
)

__all__ = ["genai_input", "genai_output"]

_MODALITY = {"image": "image", "audio": "audio", "document": "document"}


def genai_input(messages: Any) -> list[dict[str, Any]]:
    """A request's messages as the conventions' input messages."""
    return [_message(message) for message in messages]


def genai_output(choices: Any) -> list[dict[str, Any]]:
    """A completion's choices as the conventions' output messages (with finish reasons)."""
    out = []
    for choice in choices:
        assert isinstance(choice, Choice)
        record = _message(choice.message)
        record["finish_reason"] = _finish(choice.finish_reason)
        out.append(record)
    return out


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, AssistantMessage):
        return {"role": "assistant", "parts": _assistant_parts(message)}
    if isinstance(message, ToolMessage):
        response: Any = message.content
        parts: list[dict[str, Any]] = [
            {"type": "tool_call_response", "id": message.tool_call_id, "response": response}
        ]
        parts += [_media(part) for part in message.parts]
        return {"role": "tool", "parts": parts}
    role = "system" if message.role == "developer" else message.role
    content = message.content
    if isinstance(content, str):
        return {"role": role, "parts": [{"type": "text", "content": content}]}
    return {"role": role, "parts": [_content_part(part) for part in content]}


def _assistant_parts(message: AssistantMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"type": "reasoning", "content": each.summary} for each in message.reasoning if each.summary
    ]
    if message.content:
        parts.append({"type": "text", "content": message.content})
    if message.refusal:
        parts.append({"type": "refusal", "content": message.refusal})
    for call in message.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name,
             "arguments": _arguments(call.arguments)}
        )  # fmt: skip
    return parts


def _content_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "content": part.text}
    if isinstance(part, ImagePart):
        if part.url.startswith("data:"):
            return {"type": "blob", "modality": "image", "content": f"[{len(part.url)} characters]"}
        return {"type": "uri", "modality": "image", "uri": part.url}
    return _media(part)


def _media(part: Image | Document | Audio) -> dict[str, Any]:
    modality = _MODALITY.get(part.kind, part.kind)
    mime = part.media_type or None
    if part.url is not None:
        return {"type": "uri", "modality": modality, "mime_type": mime, "uri": part.url}
    if part.file_id is not None:
        return {"type": "file", "modality": modality, "mime_type": mime, "file_id": part.file_id}
    return {"type": "blob", "modality": modality, "mime_type": mime,
            "content": f"[{part.size} bytes]"}  # fmt: skip


def _arguments(raw: str) -> Any:
    """The call's arguments as JSON when they parse (the conventions' shape), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _finish(reason: str | None) -> str:
    return {"tool_calls": "tool_call", None: "stop"}.get(reason, reason or "stop")
