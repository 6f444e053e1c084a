"""Layer 4 (run loop): what instrumentation sees of a run, for OpenTelemetry and the timeline.

An `Instrument` is asked, when a run starts, for a `RunObserver`; the loop tells the observer
of each model request (its retries included) and each tool call as they start and end. With
no instrument registered, a run asks nobody and pays nothing: the loop checks one attribute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from agentkit._events import RunResult, ToolResult
from agentkit._messages import Completion, ToolCall
from agentkit.models._base import Model, ModelRequest, with_retry_hook

__all__ = [
    "Instrument",
    "ObservedRequest",
    "RunInfo",
    "RunObserver",
    "add_instrument",
    "observed_call",
    "observed_item",
    "remove_instrument",
    "start_observing",
]

RequestToken = TypeVar("RequestToken")
"""What an observer's `request_started` returns and its other request methods get back."""
ToolToken = TypeVar("ToolToken")
"""What an observer's `tool_started` returns and its `tool_ended` gets back."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What an instrument is told when a run starts."""

    kind: Literal["agent", "extraction"]
    name: str
    model: Model
    stream: bool
    extra: tuple[Instrument, ...] = ()
    """Instruments for this run only (a `trace_to=` timeline)."""


class RunObserver(Protocol[RequestToken, ToolToken]):
    """Told of one run's requests and tool calls; the tokens it returns come back to it.

    The tokens are the observer's own (a start time, a span, a line number): typed as
    `RunObserver[RequestToken, ToolToken]`, a type checker holds each end to what its start
    returned. Each start and its end are told in the same task, with the work in between: a
    run's start and `run_ended` in the run's task, a request's in the loop's task, a tool
    call's in the task running that call. So an observer may make something current for the
    work (an OpenTelemetry span) and restore it at the end. Every start gets its end, also
    when the work fails or is cancelled.
    """

    def request_started(self, request: ModelRequest) -> RequestToken: ...
    def request_streaming(self, token: RequestToken) -> None: ...
    def request_retried(
        self, token: RequestToken, attempt: int, error: BaseException, wait: float
    ) -> None: ...
    def request_ended(
        self, token: RequestToken, completion: Completion | None, error: BaseException | None
    ) -> None: ...
    def tool_started(self, call: ToolCall) -> ToolToken: ...
    def tool_ended(
        self, token: ToolToken, result: ToolResult | None, error: BaseException | None
    ) -> None: ...
    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None: ...


class Instrument(Protocol):
    """Something that observes runs (registered with `add_instrument`)."""

    def start_run(self, info: RunInfo) -> RunObserver[Any, Any] | None: ...


_INSTRUMENTS: list[Instrument] = []


def add_instrument(instrument: Instrument) -> None:
    """Observe every later run of every agent (an instrument added twice counts once)."""
    if instrument not in _INSTRUMENTS:
        _INSTRUMENTS.append(instrument)


def remove_instrument(instrument: Instrument) -> None:
    """Stop observing with `instrument` (no error if it was not added)."""
    with contextlib.suppress(ValueError):
        _INSTRUMENTS.remove(instrument)


def start_observing(
    info: RunInfo, *, instruments: bool | Sequence[Instrument] = True
) -> RunObserver[Any, Any] | None:
    """The observer of a starting run: None when nothing observes it (the common case).

    `instruments`: True for the process-wide ones (`add_instrument`, `agentkit.instrument()`),
    False for none, or exactly these; the run's own (`info.extra`, a timeline) always.
    """
    chosen: Sequence[Instrument] = (
        _INSTRUMENTS if instruments is True else () if instruments is False else instruments
    )
    if not chosen and not info.extra:
        return None
    observers: list[RunObserver[Any, Any]] = []
    for instrument in (*chosen, *info.extra):
        try:
            observer = instrument.start_run(info)
        except BaseException as error:  # a timeline that cannot open its file, say
            for started in observers:  # what already started ends (a span stops being current)
                started.run_ended(None, error)
            raise
        if observer is not None:
            observers.append(observer)
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else _Fanout(observers)


@contextlib.contextmanager
def observed_item(batch: str, item_id: str, attempt: int) -> Iterator[None]:
    """Runs inside the block belong to one batch item.

    Instruments that know items (those with an `item_scope(batch, item_id, attempt)` context
    manager) open their scope. A per-item timeline is passed to the item's task explicitly
    (`BatchContext.trace_to`).
    """
    with contextlib.ExitStack() as stack:
        for instrument in _INSTRUMENTS:
            scope = getattr(instrument, "item_scope", None)
            if scope is not None:
                stack.enter_context(scope(batch, item_id, attempt))
        yield


class ObservedRequest:
    """One model request as its observer sees it: started, retried, streaming, ended once.

    `request` is the request to send: the given one, with `on_retry` telling the observer of
    each retry (and then whatever hook it had). The request ends at `completed()` (a stream's
    answer can be complete before its eagerly started tools end), or, when the block raises
    first, with that error.
    """

    def __init__(self, observer: RunObserver[Any, Any], request: ModelRequest) -> None:
        self.observer = observer
        self.token = observer.request_started(request)
        self.open = True
        self._then = request.on_retry
        self.request = with_retry_hook(request, self._retried)

    def __enter__(self) -> ObservedRequest:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if error is not None and self.open:
            self.open = False
            # A caller that stopped reading abandoned the answer: it ends, not as a failure.
            failure = None if isinstance(error, GeneratorExit) else error
            self.observer.request_ended(self.token, None, failure)

    def streaming(self) -> None:
        """The answer's first events arrived."""
        self.observer.request_streaming(self.token)

    def completed(self, completion: Completion) -> None:
        """The answer is complete (told once, however often this is called)."""
        if self.open:
            self.open = False
            self.observer.request_ended(self.token, completion, None)

    async def _retried(self, attempt: int, error: BaseException, wait: float) -> None:
        self.observer.request_retried(self.token, attempt, error, wait)
        if self._then is not None:
            await self._then(attempt, error, wait)


async def observed_call(
    observer: RunObserver[Any, Any], call: ToolCall, run: Callable[[], Awaitable[ToolResult]]
) -> ToolResult:
    """Run one tool call (`run`) between the observer's start and end of it."""
    token = observer.tool_started(call)
    try:
        result = await run()
    except BaseException as error:  # cancelled, or raise_errors: the call still ends
        observer.tool_ended(token, None, error)
        raise
    observer.tool_ended(token, result, None)
    return result


class _Fanout:
    """Several observers as one (OpenTelemetry and a timeline, say): a token per observer."""

    def __init__(self, observers: list[RunObserver[Any, Any]]) -> None:
        self.observers = observers

    def request_started(self, request: ModelRequest) -> list[Any]:
        return [o.request_started(request) for o in self.observers]

    def request_streaming(self, token: list[Any]) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_streaming(t)

    def request_retried(
        self, token: list[Any], attempt: int, error: BaseException, wait: float
    ) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_retried(t, attempt, error, wait)

    def request_ended(
        self, token: list[Any], completion: Completion | None, error: BaseException | None
    ) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_ended(t, completion, error)

    def tool_started(self, call: ToolCall) -> list[Any]:
        return [o.tool_started(call) for o in self.observers]

    def tool_ended(
        self, token: list[Any], result: ToolResult | None, error: BaseException | None
    ) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.tool_ended(t, result, error)

    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None:
        for o in self.observers:
            o.run_ended(result, error)
