"""Layer 4 (run loop): what instrumentation sees of a run, for OpenTelemetry and the timeline.

An `Instrument` is asked, when a run starts, for a `RunObserver`; the loop tells the observer
of each model request (its retries included) and each tool call as they start and end. With
no instrument registered, a run asks nobody and pays nothing: the loop checks one attribute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ._events import RunResult, ToolResult
from ._messages import Completion, ToolCall
from .models._base import Model, ModelRequest
from .models._retry import RETRY_LISTENER

__all__ = [
    "Instrument",
    "RunInfo",
    "RunObserver",
    "add_instrument",
    "observed_item",
    "observed_request",
    "remove_instrument",
    "start_observing",
]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What an instrument is told when a run starts."""

    kind: Literal["agent", "extraction"]
    name: str
    model: Model
    stream: bool
    extra: tuple[Instrument, ...] = ()
    """Instruments for this run only (a `trace_to=` timeline)."""


class RunObserver(Protocol):
    """Told of one run's requests and tool calls; the tokens it returns come back to it."""

    def request_started(self, request: ModelRequest) -> Any: ...
    def request_streaming(self, token: Any) -> None: ...
    def request_retried(
        self, token: Any, attempt: int, error: BaseException, wait: float
    ) -> None: ...
    def request_ended(
        self, token: Any, completion: Completion | None, error: BaseException | None
    ) -> None: ...
    def tool_started(self, call: ToolCall) -> Any: ...
    def tool_ended(self, token: Any, result: ToolResult) -> None: ...
    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None: ...


class Instrument(Protocol):
    """Something that observes runs (registered with `add_instrument`)."""

    def start_run(self, info: RunInfo) -> RunObserver | None: ...


_INSTRUMENTS: list[Instrument] = []


def add_instrument(instrument: Instrument) -> None:
    """Observe every later run of every agent (an instrument added twice counts once)."""
    if instrument not in _INSTRUMENTS:
        _INSTRUMENTS.append(instrument)


def remove_instrument(instrument: Instrument) -> None:
    """Stop observing with `instrument` (no error if it was not added)."""
    with contextlib.suppress(ValueError):
        _INSTRUMENTS.remove(instrument)


_EXTRA: ContextVar[tuple[Instrument, ...]] = ContextVar("agentkit_instruments", default=())
"""Instruments for the runs of this task only (a batch item's timeline)."""


def start_observing(info: RunInfo, *, enabled: bool = True) -> RunObserver | None:
    """The observer of a starting run: None when nothing observes it (the common case)."""
    extra = (*info.extra, *_EXTRA.get())
    instruments: Sequence[Instrument] = (*_INSTRUMENTS, *extra) if enabled else extra
    if not instruments:
        return None
    observers = [o for i in instruments if (o := i.start_run(info)) is not None]
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else _Fanout(observers)


@contextlib.contextmanager
def observed_item(
    batch: str, item_id: str, attempt: int, extra: Sequence[Instrument] = ()
) -> Iterator[None]:
    """Runs inside the block belong to one batch item.

    Instruments that know items (those with an `item_scope(batch, item_id, attempt)` context
    manager) open their scope; `extra` instruments observe these runs only.
    """
    with contextlib.ExitStack() as stack:
        for instrument in _INSTRUMENTS:
            scope = getattr(instrument, "item_scope", None)
            if scope is not None:
                stack.enter_context(scope(batch, item_id, attempt))
        token = _EXTRA.set((*_EXTRA.get(), *extra)) if extra else None
        try:
            yield
        finally:
            if token is not None:
                _EXTRA.reset(token)


@contextlib.contextmanager
def observed_request(observer: RunObserver, token: Any) -> Iterator[None]:
    """Tell `observer` of the retries of the request `token` made inside the block."""

    def retried(attempt: int, error: BaseException, wait: float) -> None:
        observer.request_retried(token, attempt, error, wait)

    reset = RETRY_LISTENER.set(retried)
    try:
        yield
    finally:
        RETRY_LISTENER.reset(reset)


class _Fanout:
    """Several observers as one (OpenTelemetry and a timeline, say)."""

    def __init__(self, observers: list[RunObserver]) -> None:
        self.observers = observers

    def request_started(self, request: ModelRequest) -> Any:
        return [o.request_started(request) for o in self.observers]

    def request_streaming(self, token: Any) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_streaming(t)

    def request_retried(self, token: Any, attempt: int, error: BaseException, wait: float) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_retried(t, attempt, error, wait)

    def request_ended(
        self, token: Any, completion: Completion | None, error: BaseException | None
    ) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.request_ended(t, completion, error)

    def tool_started(self, call: ToolCall) -> Any:
        return [o.tool_started(call) for o in self.observers]

    def tool_ended(self, token: Any, result: ToolResult) -> None:
        for o, t in zip(self.observers, token, strict=True):
            o.tool_ended(t, result)

    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None:
        for o in self.observers:
            o.run_ended(result, error)
