"""Layer 4 (run loop): `AgentStream`, a streaming run's events as they come, then its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from ._events import RunEvent, RunResult

if TYPE_CHECKING:  # the memory streams are imported with the first stream, not at import
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["AgentStream", "send_event"]

OutputT = TypeVar("OutputT")


@dataclass(eq=False, init=False)
class AgentStream(Generic[OutputT]):
    """A streaming run: iterate its events; `result` is set when the run has ended.

    Made by `async with agent.stream(prompt) as run:`, never directly.
    """

    _events: MemoryObjectReceiveStream[RunEvent]
    result: RunResult[OutputT] | None = None
    _error: BaseException | None = field(default=None, repr=False)
    _finished: bool = field(default=False, repr=False)

    _error_raised: bool = field(default=False, repr=False)

    def __init__(self) -> None:
        raise TypeError("an AgentStream is made by `async with agent.stream(prompt) as run:`")

    @classmethod
    def _reading(cls, events: MemoryObjectReceiveStream[RunEvent]) -> AgentStream[OutputT]:
        run = cls.__new__(cls)
        run._events = events
        return run

    def __aiter__(self) -> AgentStream[OutputT]:
        return self

    async def __anext__(self) -> RunEvent:
        try:
            try:  # buffered events are handed out without a trip through the event loop
                return self._events.receive_nowait()
            except anyio.WouldBlock:
                return await self._events.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._raise_error()
            raise StopAsyncIteration from None

    def _raise_error(self) -> None:
        if self._error is not None and not self._error_raised:
            self._error_raised = True
            raise self._error


async def send_event(send: MemoryObjectSendStream[RunEvent], event: RunEvent) -> None:
    # Waits (a checkpoint) only when the buffer is full: one loop iteration per event would
    # cost more than the event.
    try:
        send.send_nowait(event)
    except anyio.WouldBlock:
        await send.send(event)
