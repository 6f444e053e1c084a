"""Layer 4 (run loop): what a run produces: its result, its turns, and the events it streams.

Events are frozen records with a literal `kind`, named in the past tense. A streamed run
yields the model's deltas (`TextDelta`, `ToolCallStarted`, `ToolCallArgumentsDelta`,
`ToolCallReady`, `RefusalDelta`, `ReasoningDelta`) as they arrive, and the loop's own events below.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field, model_validator

from ._messages import (
    AssistantMessage,
    FrozenRecord,
    MediaRecord,
    Message,
    ToolCall,
    ToolMessage,
    Usage,
    messages_to_json,
    repeated_call_ids,
)
from ._private import seal, sealed
from ._tool import canonical_arguments
from .models._base import (
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)

__all__ = [
    "PendingApprovals",
    "PendingCall",
    "RunEnded",
    "RunEvent",
    "RunResult",
    "ToolCallFinished",
    "ToolResult",
    "Turn",
    "TurnEnded",
    "call_event_sink",
]

OutputT = TypeVar("OutputT")
STATE_FORMAT = 2
"""The approval state's format; format 1 (no id, set-up or seal) is still read."""


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
    deferred: Mapping[str, Any] | None = None
    """The validated arguments of a call whose approval was deferred (it did not run)."""
    denied: bool = False
    """The call needed approval and did not get it (it did not run)."""
    parts: tuple[MediaRecord, ...] = ()
    """Images, documents or audio the tool returned, sent with its text."""

    def message(self) -> ToolMessage:
        """The tool message that carries this result back to the model."""
        return ToolMessage(tool_call_id=self.call.id, content=self.content, parts=self.parts)


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
    model: str = ""
    """Who answered: the model's name, or the label of the `FallbackModel` member that did."""
    prompt_estimate: int | None = None
    """agentkit's estimate of the prompt's tokens before it was sent (see `Usage.prompt_tokens`
    for the provider's count)."""


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
    compactions: int = 0
    """Times the provider refused the prompt as too long and the run compacted and went on."""
    pending: PendingApprovals | None = None
    """Set when the run stopped for approvals (`approver=DEFER`): resume with
    `agent.resume(result.pending, decisions)`; `output` is then None."""

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added (its prompt included)."""
        return self.messages[self.new_message_index :]

    def usage_by_model(self) -> dict[str, Usage]:
        """This run's usage per model that answered (several with a `FallbackModel`)."""
        per: dict[str, Usage] = {}
        for turn in self.turns:
            per[turn.model] = per[turn.model] + turn.usage if turn.model in per else turn.usage
        return per

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
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallReady
    | ToolCallFinished
    | TurnEnded
    | RunEnded
)


class PendingCall(FrozenRecord):
    """A tool call that waits for a person's decision."""

    id: str
    name: str
    arguments: dict[str, Any]
    """The validated arguments: exactly what runs if it is approved."""
    raw_arguments: str


class PendingApprovals(FrozenRecord):
    """A run stopped for approvals, as JSON that any later process of this user can resume.

    It holds the conversation up to the answer that asked for the calls, the results of the
    calls of that answer that already ran (they are not run again), the calls waiting for a
    decision, and the set-up it was recorded under (names and digests: data, never code).
    No key, no header, no setting. `to_json` seals it with a MAC keyed by this user's
    secret; `from_json` refuses a state that was edited (or comes from another user).
    """

    format: int = STATE_FORMAT
    id: str | None = None
    """Tells this stop from any other with the same conversation (format 2 and later)."""
    messages: list[Message]
    finished: dict[str, str]
    """Call id to the result text sent back (the calls that ran, or failed, already)."""
    pending: list[PendingCall]
    setup: dict[str, str] = Field(default_factory=dict)
    """What the run was set up with (tools by digest, instructions, model); a resume under
    another set-up is refused, saying what differs. Empty in format 1 (not checked)."""

    @model_validator(mode="after")
    def _distinct_ids(self) -> PendingApprovals:
        answer = self.messages[-1] if self.messages else None
        calls = list(answer.tool_calls) if isinstance(answer, AssistantMessage) else []
        pending = [ToolCall(id=c.id, name=c.name, arguments="") for c in self.pending]
        if repeated := repeated_call_ids(calls) or repeated_call_ids(pending):
            raise ValueError(
                f"two or more calls have the id {repeated[0]!r}; a decision by id would "
                "decide them all, so this state cannot be used"
            )
        return self

    @classmethod
    def of(
        cls, messages: list[Message], results: list[ToolResult], setup: dict[str, str]
    ) -> PendingApprovals:
        """The state of a run stopped for approvals (the calls that ran keep their results)."""
        return cls(
            id=uuid.uuid4().hex,
            messages=list(messages),
            finished={r.call.id: r.content for r in results if r.deferred is None},
            pending=[
                PendingCall(
                    id=r.call.id,
                    name=r.call.name,
                    arguments=canonical_arguments(r.deferred),
                    raw_arguments=r.call.arguments,
                )
                for r in results
                if r.deferred is not None
            ],
            setup=setup,
        )

    def digest(self) -> str:
        """A digest of the whole state: the key under which it is marked decided."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def to_json(self) -> str:
        """The state as JSON, sealed (write it to a file; `from_json` reads it back)."""
        body = self.model_dump_json()
        return f'{body[:-1]},"seal":"{seal(body.encode())}"}}'

    @classmethod
    def from_json(cls, text: str | bytes, *, check_seal: bool = True) -> PendingApprovals:
        """Read a state written by `to_json`, after checking its seal.

        Args:
            text: The JSON.
            check_seal: False reads a state with no seal or another user's seal (one
                written by agentkit before 0.9, or moved from another machine). Its
                content is then only as trustworthy as the place it came from.

        Raises:
            ValueError: Not a state, a later format, or (with `check_seal`) edited, unsealed
                or sealed by another user.
        """
        raw = text.decode() if isinstance(text, bytes) else text
        body, found = _unsealed(raw)
        if check_seal and found is None:
            raise ValueError(
                "this approval state has no seal (agentkit before 0.9, or written by hand); "
                "if you trust where it came from, read it with check_seal=False"
            )
        if check_seal and found is not None and not sealed(body.encode(), found):
            raise ValueError(
                "this approval state was changed after it was written, or written by another "
                "user or machine: its seal does not match; nothing in it was used"
            )
        state = cls.model_validate_json(body)
        if state.format > STATE_FORMAT:
            raise ValueError(f"this approval state has format {state.format}; upgrade agentkit")
        return state


def _unsealed(text: str) -> tuple[str, str | None]:
    """The state's JSON without its seal, and the seal (None when it has none)."""
    found = _SEAL.search(text)
    if found is None:
        return text, None
    return text[: found.start()] + "}", found.group(1)


_SEAL = re.compile(r',"seal":"([0-9a-f]{64})"\}\s*$')


async def call_event_sink(sink: Callable[[RunEvent], Any], event: RunEvent) -> None:
    """Call a user's sync or async event hook."""
    outcome = sink(event)
    if inspect.isawaitable(outcome):
        await outcome
