"""Layer 4 (run loop): what a run produces: its result, its turns, and the events it streams.

Events are frozen records with a literal `kind`, named in the past tense. A streamed run
yields the model's deltas (`TextDelta`, `ToolCallStarted`, `ToolCallArgumentsDelta`,
`ToolCallReady`, `RefusalDelta`) as they arrive, and the loop's own events below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from ._messages import AssistantMessage, Message, ToolCall, Usage, messages_to_json
from .models._base import (
    RefusalDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)

__all__ = [
    "RunEnded",
    "RunEvent",
    "RunResult",
    "ToolCallFinished",
    "ToolResult",
    "Turn",
    "TurnEnded",
]

OutputT = TypeVar("OutputT")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call."""

    call: ToolCall
    content: str
    """The text sent back to the model."""
    ok: bool
    """False when the call failed (bad arguments, exception, timeout, denial...)."""
    duration: float
    """Seconds spent, validation and approval included."""
    error: str | None = None
    """Why it failed, when it did (the same words the model was sent)."""
    value: Any = None
    """What the tool returned, before serialization (None when it failed)."""
    usage: Usage | None = None
    """What the tool spent on the run's behalf (`RunContext.add_usage`); in the run's usage."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One model request and the tool calls it led to."""

    index: int
    response: AssistantMessage
    finish_reason: str | None
    usage: Usage
    tool_results: tuple[ToolResult, ...]
    model_seconds: float
    """Seconds the model took to answer (the whole stream, when streaming)."""
    tool_seconds: float
    """Seconds from the first tool start to the last tool end."""


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """What a run produced. `messages` can be saved as JSON and passed back as history."""

    output: OutputT
    """The final text, or the validated structured output, or a stop tool's return value."""
    messages: list[Message]
    """The whole conversation: the history given, then everything this run added."""
    new_message_index: int
    """Where this run's messages start in `messages`."""
    usage: Usage = field(default_factory=Usage)
    """Summed over every request of this run."""
    turns: list[Turn] = field(default_factory=list)

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added (its prompt included)."""
        return self.messages[self.new_message_index :]

    def messages_json(self) -> bytes:
        """`messages` as JSON, for `messages_from_json` and `message_history=`."""
        return messages_to_json(self.messages)


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call finished (successfully or not)."""

    result: ToolResult
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """A turn ended: the model answered and its tool calls (if any) ran."""

    turn: Turn
    kind: Literal["turn_ended"] = "turn_ended"


@dataclass(frozen=True, slots=True)
class RunEnded:
    """The run reached its final output."""

    result: RunResult[object]
    kind: Literal["run_ended"] = "run_ended"


RunEvent = (
    TextDelta
    | RefusalDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallReady
    | ToolCallFinished
    | TurnEnded
    | RunEnded
)
