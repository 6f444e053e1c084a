"""Layer 3 (model boundary): what a model is asked, and the `Model` protocol that answers.

A `Model` completes a `ModelRequest` (messages, tool definitions, settings) in one of two ways:
`complete()` returns the whole `Completion`; `stream()` is an async context manager whose
iterator yields `StreamDelta` records as they arrive and ends with `ResponseCompleted`. The
HTTP implementation is `ChatModel`; `agentkit.testing` has scripted ones. Nothing here knows
about the agent loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from pydantic import Field

from ._messages import Completion, FrozenRecord, Message, ToolCall

__all__ = [
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "Model",
    "ModelRequest",
    "ModelSettings",
    "RefusalDelta",
    "ResponseCompleted",
    "ResponseFormat",
    "StreamDelta",
    "TextDelta",
    "TextFormat",
    "ToolCallArgumentsDelta",
    "ToolCallReady",
    "ToolCallStarted",
    "completion_deltas",
]


class TextFormat(FrozenRecord):
    """`response_format: {"type": "text"}`: plain text (the default)."""

    type: Literal["text"] = "text"


class JsonObjectFormat(FrozenRecord):
    """`response_format: {"type": "json_object"}`: any valid JSON object.

    OpenAI rejects it unless the word "JSON" appears in the messages.
    """

    type: Literal["json_object"] = "json_object"


class JsonSchemaFormat(FrozenRecord):
    """`response_format: {"type": "json_schema", ...}`: JSON that follows `schema`."""

    type: Literal["json_schema"] = "json_schema"
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


ResponseFormat = TextFormat | JsonObjectFormat | JsonSchemaFormat

ToolChoiceMode = Literal["none", "auto", "required"]
"""The `tool_choice` keywords; any other `tool_choice` value names a tool."""
TOOL_CHOICE_MODES: tuple[ToolChoiceMode, ...] = get_args(ToolChoiceMode)


class ModelSettings(FrozenRecord):
    """Request settings; only the ones set are sent.

    `tool_choice` is `"none"`, `"auto"`, `"required"` or the name of one of the request's
    tools (sent in the named-function form). `tool_choice` and `parallel_tool_calls` are sent
    only with tools. `extra_body` passes other providers' parameters through as they are.
    """

    max_tokens: int | None = Field(default=None, ge=1)
    tool_choice: ToolChoiceMode | str | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    include_usage: bool = True
    """With `stream`, ask for the usage chunk (`stream_options.include_usage`)."""
    extra_body: Mapping[str, Any] | None = None

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field that `override` sets explicitly replaced."""
        if override is None:
            return self
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        return self.model_copy(update=changes)


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a model."""

    messages: Sequence[Message]
    tools: Sequence[Mapping[str, Any]] = ()
    """Tool definitions in wire form (`Tool.definition()`)."""
    settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text arrived."""

    choice: int
    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """A piece of a refusal arrived (the model declined to answer)."""

    choice: int
    text: str
    kind: Literal["refusal_delta"] = "refusal_delta"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a tool call: its id and name are known, its arguments not yet."""

    choice: int
    index: int
    id: str
    name: str
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True, slots=True)
class ToolCallArgumentsDelta:
    """A fragment of a tool call's JSON arguments arrived."""

    choice: int
    index: int
    delta: str
    kind: Literal["tool_call_arguments_delta"] = "tool_call_arguments_delta"


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    """A tool call's arguments are complete (the next call began, or the choice finished)."""

    choice: int
    index: int
    call: ToolCall
    truncated: bool = False
    """The choice finished with `"length"`: these arguments were cut off by `max_tokens`."""
    kind: Literal["tool_call_ready"] = "tool_call_ready"


@dataclass(frozen=True, slots=True)
class ResponseCompleted:
    """The response is complete: the same `Completion` a non-streamed request returns."""

    completion: Completion
    kind: Literal["response_completed"] = "response_completed"


StreamDelta = (
    TextDelta
    | RefusalDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallReady
    | ResponseCompleted
)


def completion_deltas(completion: Completion) -> list[StreamDelta]:
    """The deltas a whole completion amounts to (for servers and doubles that do not stream)."""
    deltas: list[StreamDelta] = []
    for choice in completion.choices:
        if choice.message.content:
            deltas.append(TextDelta(choice.index, choice.message.content))
        if choice.message.refusal:
            deltas.append(RefusalDelta(choice.index, choice.message.refusal))
        truncated = choice.finish_reason == "length"
        for index, call in enumerate(choice.message.tool_calls):
            deltas.append(ToolCallStarted(choice.index, index, call.id, call.name))
            deltas.append(ToolCallArgumentsDelta(choice.index, index, call.arguments))
            deltas.append(ToolCallReady(choice.index, index, call, truncated))
    deltas.append(ResponseCompleted(completion))
    return deltas


@runtime_checkable
class Model(Protocol):
    """Anything that completes chat requests: `ChatModel`, the test doubles, your own."""

    async def complete(self, request: ModelRequest) -> Completion:
        """Send `request` and return the whole completion."""
        ...

    def stream(
        self, request: ModelRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamDelta]]:
        """Send `request` with streaming; iterate the deltas inside the context."""
        ...

    async def aclose(self) -> None:
        """Release what the model holds (connections); a model that holds nothing returns."""
        ...
