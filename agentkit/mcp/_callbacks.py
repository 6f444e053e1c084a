"""Layer 5 (edges): what an MCP server may ask of agentkit: sampling and elicitation.

Both are off unless the user opts in. `sampling/createMessage` is answered by the agentkit
`Model` given as `sampling_model` (text in, text out; the server's tools are not offered).
An elicitation goes to the `elicitation` callback, which sees the server's message and the
schema of what it asks for and returns the answer, or None to decline. Without a callback
every elicitation is declined.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types

from agentkit._messages import AssistantMessage, Message, SystemMessage, UserMessage
from agentkit.models._base import Model, ModelRequest, ModelSettings

__all__ = ["Elicitor", "SamplingModel", "elicitation_callback", "sampling_callback"]

SamplingModel = Model
Elicitor = Callable[[str, Mapping[str, Any]], Any]
"""`(message, requested_schema) -> answer mapping, or None to decline`; sync or async."""

_STOP_REASONS = {"stop": "endTurn", "length": "maxTokens"}


def sampling_callback(model: Model | None) -> Any:
    """The SDK callback that answers `sampling/createMessage` with `model` (None: refuse)."""
    if model is None:
        return None

    async def sample(_context: Any, params: types.CreateMessageRequestParams) -> Any:
        messages: list[Message] = []
        if params.system_prompt:
            messages.append(SystemMessage(content=params.system_prompt))
        for message in params.messages:
            text = _text_of(message.content)
            if message.role == "assistant":
                messages.append(AssistantMessage(content=text))
            else:
                messages.append(UserMessage(content=text))
        settings = ModelSettings(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop=tuple(params.stop_sequences[:4]) if params.stop_sequences else None,
        )
        completion = await model.complete(ModelRequest(messages=messages, settings=settings))
        choice = completion.choices[0]
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=choice.message.content or ""),
            model=completion.model or "agentkit",
            stop_reason=_STOP_REASONS.get(choice.finish_reason or "", choice.finish_reason),
        )

    return sample


def _text_of(content: Any) -> str:
    blocks = content if isinstance(content, list) else [content]
    return "\n".join(str(getattr(block, "text", "")) for block in blocks if block is not None)


def elicitation_callback(elicitor: Elicitor | None) -> Any:
    """The SDK callback that hands elicitations to `elicitor` (None: decline them all)."""

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if elicitor is None or not isinstance(params, types.ElicitRequestFormParams):
            return types.ElicitResult(action="decline")
        schema = dict(params.requested_schema)
        answer = elicitor(params.message, schema)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content=dict(answer))

    return elicit
