"""Layer 4 (run loop): what of a long conversation is sent: history processors and estimates.

```python
from agentkit import Agent, clear_old_tool_results, compact, keep_last_turns

agent = Agent(model, tools=tools, history_processors=[clear_old_tool_results(keep=3), compact()])
```

Before every request the loop passes the conversation (without the instructions, which are
always sent) through each processor in turn; what comes out is sent, and what the run stores
(`result.messages`, the session) is not changed. After each processor the history is checked:
not empty, not starting with a tool result, and no tool call parted from its result (the
provider would refuse the request) — a processor that breaks one of these, or raises, ends
the run with a `HistoryError` naming it.

The prompt's size is estimated before each request, in O(new messages): the tokens the
provider reported for the previous request, plus a quarter token per character of what was
added since (no tokenizer is downloaded).
"""

from __future__ import annotations

import inspect
import logging
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._exceptions import AgentkitError, ContextWindowExceeded
from ._messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    messages_to_json,
)

__all__ = [
    "Compaction",
    "HistoryContext",
    "HistoryProblem",
    "HistoryProcessor",
    "apply_processors",
    "clear_old_tool_results",
    "compact",
    "keep_last_turns",
    "truncate_tool_results",
]

logger = logging.getLogger("agentkit")


@dataclass(frozen=True, slots=True)
class HistoryContext:
    """What a history processor knows besides the messages."""

    model: Any
    """The run's `Model` (a compaction may ask it, or another one)."""
    model_name: str
    window: int | None
    """The model's context window in tokens (its profile's `context_window`), when known."""
    estimate: int
    """The estimated prompt tokens of the messages as they are now, instructions included."""
    turn: int
    """Which request of the run this is, from 0."""
    forced: bool = False
    """The provider just refused the prompt as too long: shrink it whatever the estimate."""
    memo: dict[str, Any] | None = None
    """Kept with a stored conversation (a session) from run to run: where a processor
    remembers what it did (`compact()` keeps its summary here); None without a session."""
    observer: Any = None
    """The run's observer (internal): what `ask` reports its request to."""

    async def ask(self, model: Any, request: Any) -> Any:
        """`model`'s answer to `request`, observed as one of the run's requests.

        It gets its span and its bar on the timeline: how a processor that asks a model (a
        compaction) shows.
        """
        from ._observe import ObservedRequest

        if self.observer is None:
            return await model.complete(request)
        with ObservedRequest(self.observer, request) as watch:
            completion = await model.complete(watch.request)
            watch.completed(completion)
        return completion


HistoryProcessor = Callable[
    [list[Message], HistoryContext], list[Message] | Awaitable[list[Message]]
]


class HistoryProblem(AgentkitError):
    """A processor's history cannot be sent; the loop raises it as `HistoryError`."""


async def apply_processors(
    processors: Sequence[HistoryProcessor], messages: list[Message], context: HistoryContext
) -> list[Message]:
    """`messages` through each processor, each result checked (see the module docs)."""
    for processor in processors:
        name = getattr(processor, "__name__", None) or type(processor).__name__
        try:
            made = processor(list(messages), context)
            if inspect.isawaitable(made):
                made = await made
        except Exception as error:
            raise HistoryProblem(
                f"history processor {name} raised {type(error).__name__}: {error}"[:500]
            ) from error
        check_history(made, name)
        messages = made
    return messages


_MESSAGE_TYPES = (UserMessage, AssistantMessage, ToolMessage, SystemMessage)


def check_history(messages: object, name: str) -> None:
    """Refuse a history a provider would refuse, naming the processor that made it.

    One pass over the messages (this runs after every processor, every turn).
    """
    if not isinstance(messages, list):
        raise HistoryProblem(f"history processor {name} returned {type(messages).__name__}, "
                             "not a list of messages")  # fmt: skip
    waiting: set[str] = set()
    first = True
    for message in messages:
        if not isinstance(message, _MESSAGE_TYPES) and not hasattr(message, "role"):
            raise HistoryProblem(f"history processor {name} returned a list holding "
                                 f"{type(message).__name__}, not only messages")  # fmt: skip
        if isinstance(message, SystemMessage):
            continue
        if isinstance(message, ToolMessage):
            if first:
                raise HistoryProblem(
                    f"history processor {name} made the history start with a tool result; "
                    "keep the answer that called the tool, or drop both"
                )
            if message.tool_call_id not in waiting:
                raise HistoryProblem(
                    f"history processor {name} parted the tool result "
                    f"{message.tool_call_id!r} from the answer that called it"
                )
            waiting.discard(message.tool_call_id)
        else:
            if waiting:
                raise HistoryProblem(
                    f"history processor {name} dropped the results of tool calls "
                    f"{', '.join(sorted(waiting))} but kept the calls"
                )
            if isinstance(message, AssistantMessage) and message.tool_calls:
                waiting = {call.id for call in message.tool_calls}
        first = False
    # calls at the very end are the ones this run is answering: nothing is missing yet
    if first:
        raise HistoryProblem(f"history processor {name} left no message to send")


# -- built-in processors ------------------------------------------------------------------


def _turn_starts(messages: list[Message]) -> list[int]:
    """Where each model turn starts: at an answer, taking the user messages just before it."""
    starts: list[int] = []
    for position, message in enumerate(messages):
        if isinstance(message, AssistantMessage):
            start = position
            while start > 0 and isinstance(messages[start - 1], UserMessage):
                start -= 1
            if not starts or start > starts[-1]:
                starts.append(start)
    return starts


def keep_last_turns(n: int) -> HistoryProcessor:
    """Send the first user message (the task) and the last `n` model turns.

    A turn is whole: an answer with its tool results, and the user messages just before it.
    """
    if n < 1:
        raise ValueError("keep_last_turns needs n >= 1")

    def keep_last(messages: list[Message], context: HistoryContext) -> list[Message]:
        return _kept(messages, n)

    keep_last.__name__ = f"keep_last_turns({n})"
    return keep_last


def clear_old_tool_results(keep: int = 3) -> HistoryProcessor:
    """Replace what tools returned more than `keep` model turns ago by a short placeholder.

    The placeholder says what was there and how long it was; the calls stay.
    """
    if keep < 0:
        raise ValueError("clear_old_tool_results needs keep >= 0")

    made: dict[int, tuple[ToolMessage, ToolMessage]] = {}  # each result cleared once
    last: list[list[Message]] = [[], []]  # the last history given, and what was sent for it

    def clear_old(messages: list[Message], context: HistoryContext) -> list[Message]:
        before, sent = last
        # The run's history only grows: what was cleared last turn stays cleared. Reused only
        # where the history still holds the very same messages (compared at C speed).
        reused = 0
        if len(before) <= len(messages) and all(map(operator.is_, before, messages)):
            reused = _last_tool_position(sent, before)
        out = _cleared_before(messages, keep, made, sent[:reused])
        last[:] = [list(messages), out]
        return out

    clear_old.__name__ = f"clear_old_tool_results(keep={keep})"
    return clear_old


def _kept(messages: list[Message], n: int) -> list[Message]:
    cut = _nth_last_turn(messages, n)  # from the end: what is read grows with n, not the history
    if cut is None:
        return messages
    first = next((m for m in messages[:cut] if isinstance(m, UserMessage)), None)
    return [first, *messages[cut:]] if first is not None else messages[cut:]


def _nth_last_turn(messages: list[Message], n: int) -> int | None:
    """Where the `n`-th last model turn starts, when there are more than `n` turns."""
    seen = 0
    for position in range(len(messages) - 1, -1, -1):
        if isinstance(messages[position], AssistantMessage):
            seen += 1
            if seen == n:
                start = position
                while start > 0 and isinstance(messages[start - 1], UserMessage):
                    start -= 1
                earlier = any(isinstance(m, AssistantMessage) for m in messages[:start])
                return start if earlier else None
    return None


def _last_tool_position(sent: list[Message], given: list[Message]) -> int:
    """How many of the last output's first messages can be kept as they are.

    Up to the last result it cleared: later ones were sent unchanged and may be cleared now.
    """
    for position in range(min(len(sent), len(given)) - 1, -1, -1):
        if sent[position] is not given[position]:
            return position + 1
    return 0


def _cleared_before(
    messages: list[Message],
    keep: int,
    made: dict[int, tuple[ToolMessage, ToolMessage]],
    done: list[Message] | None = None,
) -> list[Message]:
    """Tool results before the `keep`-th last turn cleared.

    The turn is found reading back from the end, and each result's placeholder is made once:
    the same object every turn, so what is counted per message is remembered downstream.
    """
    if keep:
        boundary = _nth_last_turn(messages, keep)
    else:
        turns = any(isinstance(m, AssistantMessage) for m in messages)
        boundary = len(messages) if turns else None
    if boundary is None:
        return messages
    if len(made) > _CLEARED_KEPT:
        made.clear()
    start = min(len(done or ()), boundary)
    out = [*(done or ())[:start], *messages[start:]]
    for position in range(start, boundary):
        message = out[position]
        if isinstance(message, ToolMessage):
            found = made.get(id(message))
            if found is None or found[0] is not message:
                found = made[id(message)] = (message, _cleared(message))
            out[position] = found[1]
    return out


_CLEARED_KEPT = 100_000
"""Placeholders remembered per processor (by the identity of the result they replace)."""


def _cleared(message: ToolMessage) -> ToolMessage:
    if message.content.startswith("[tool result cleared"):
        return message
    media = f" and {len(message.parts)} attachments" if message.parts else ""
    note = f"[tool result cleared to save context: {len(message.content)} characters{media}]"
    return ToolMessage(tool_call_id=message.tool_call_id, content=note)


def truncate_tool_results(max_chars: int = 20_000) -> HistoryProcessor:
    """Cut any tool result longer than `max_chars`, saying how much was left out."""
    if max_chars < 1:
        raise ValueError("truncate_tool_results needs max_chars >= 1")

    def truncate(messages: list[Message], context: HistoryContext) -> list[Message]:
        return [
            ToolMessage(
                tool_call_id=m.tool_call_id,
                content=f"{m.content[:max_chars]}\n[cut to save context: "
                f"{len(m.content) - max_chars} of {len(m.content)} characters left out]",
                parts=m.parts,
            )
            if isinstance(m, ToolMessage) and len(m.content) > max_chars
            else m
            for m in messages
        ]

    truncate.__name__ = f"truncate_tool_results({max_chars})"
    return truncate


# -- compaction ---------------------------------------------------------------------------

_SUMMARY_HEADER = "[Summary of the earlier conversation, made to save context]"
_SUMMARISE = (
    "Summarise the conversation below for the assistant that will continue it: the task, "
    "what was found (facts, numbers, names, file paths, tool results that matter), what was "
    "decided and what is left to do. Be complete and concise; write only the summary."
)
_REMEMBERED = 64


class Compaction:
    """Summarise the older part of a long conversation into one message (see `compact`)."""

    def __init__(self, model: Any, keep_last: int, at: float, instructions: str) -> None:
        self.model: Any = model
        self.keep_last: int = keep_last
        self.at: float = at
        self.instructions: str = instructions
        self.__name__: str = f"compact(keep_last={keep_last})"
        self._done: dict[int, tuple[Message, int, str]] = {}
        """Per conversation (its first message): the last message summarised, its position,
        and the summary, so each turn after a compaction sends it again at no cost."""
        self.compactions: int = 0
        """Summaries made (by every run using this processor)."""

    async def __call__(self, messages: list[Message], context: HistoryContext) -> list[Message]:
        starts = _turn_starts(messages)
        if len(starts) <= self.keep_last:
            return messages
        split = starts[-self.keep_last]
        first = next((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), 0)
        known = self._done.get(id(messages[0]))
        if known is not None and not (known[1] < len(messages) and messages[known[1]] is known[0]):
            known = None  # another conversation with a reused id: start afresh
        if known is None and context.memo:
            known = _from_memo(context.memo, messages)  # a session's, from an earlier run
        due = context.forced or (
            context.window is not None and context.estimate > self.at * context.window
        )
        if due and split > (known[1] + 1 if known else first + 1):
            try:
                summary = await self._summarise(messages, first, split, known, context)
            except ContextWindowExceeded:  # the part to summarise is itself too long
                logger.warning(
                    "compaction: the older turns do not fit the summariser's window either; "
                    "sending the last %d turns with old tool results cleared instead",
                    self.keep_last,
                )
                return _cleared_before(_kept(messages, self.keep_last), self.keep_last, {})
            known = (messages[split - 1], split - 1, summary)
            self._remember(id(messages[0]), known)
            if context.memo is not None:  # kept with the session for its next run
                context.memo.update(covered=split, summary=summary, anchor=_json(known[0]))
        if known is None:
            return messages
        summary_message = UserMessage(content=f"{_SUMMARY_HEADER}\n{known[2]}")
        return [messages[first], summary_message, *messages[known[1] + 1 :]]

    async def _summarise(
        self,
        messages: list[Message],
        first: int,
        split: int,
        known: tuple[Message, int, str] | None,
        context: HistoryContext,
    ) -> str:
        from .models._base import ModelRequest

        start = known[1] + 1 if known else first + 1
        earlier = f"Summary so far:\n{known[2]}\n\n" if known else ""
        transcript = "\n".join(_line(m) for m in messages[start:split])
        request = ModelRequest(
            messages=[
                SystemMessage(content=self.instructions),
                UserMessage(content=f"{earlier}Conversation:\n{transcript}"),
            ]
        )
        model = self.model or context.model
        completion = await context.ask(model, request)
        self.compactions += 1
        return (completion.message.content or "").strip() or "(nothing to summarise)"

    def _remember(self, key: int, entry: tuple[Message, int, str]) -> None:
        self._done[key] = entry
        while len(self._done) > _REMEMBERED:
            self._done.pop(next(iter(self._done)))


def _json(message: Message) -> str:
    return messages_to_json([message]).decode()


def _from_memo(memo: dict[str, Any], messages: list[Message]) -> tuple[Message, int, str] | None:
    """A stored compaction, when the conversation still holds what it summarised."""
    covered, summary, anchor = memo.get("covered"), memo.get("summary"), memo.get("anchor")
    if not (isinstance(covered, int) and isinstance(summary, str) and isinstance(anchor, str)):
        return None
    if not 0 < covered <= len(messages) or _json(messages[covered - 1]) != anchor:
        return None  # the conversation changed (cleared, edited): compact afresh
    return messages[covered - 1], covered - 1, summary


def _line(message: Message) -> str:
    content: Any = getattr(message, "content", None)
    if isinstance(content, tuple):
        content = " ".join(p.text if isinstance(p, TextPart) else f"[{p.type}]" for p in content)
    text = content or ""
    if isinstance(message, AssistantMessage):
        calls = "; ".join(f"{c.name}({c.arguments[:500]})" for c in message.tool_calls)
        text = f"{text} [calls: {calls}]" if calls else text
    return f"{message.role}: {str(text)[:4000]}"


def compact(
    model: Any = None,
    *,
    keep_last: int = 4,
    at: float = 0.8,
    instructions: str = _SUMMARISE,
) -> Compaction:
    """A processor that summarises the older turns into one message.

    It compacts when the prompt nears the window, or when the provider refused it as too long.

    Args:
        model: Who summarises: a `Model` (a cheaper one), or None for the run's own.
        keep_last: Model turns kept as they are (with every pending tool call).
        at: Compact once the estimate passes this share of the model's `context_window`
            (without a known window, only after the provider refused a prompt).
        instructions: What the summariser is told.

    The first user message (the task) and the instructions are always kept.
    """
    if keep_last < 1 or not 0 < at <= 1:
        raise ValueError("compact needs keep_last >= 1 and 0 < at <= 1")
    return Compaction(model, keep_last, at, instructions)
