"""Layer 3 (model boundary): a gate every model request passes, for shared rate limits.

A batch run limits requests and tokens per minute across all its items. An agent makes
several requests per item and a retry is a request too, so the limit is charged where
requests are made: `ChatModel` enters the current gate before every attempt and leaves it
with the tokens the answer used (or the wait a 429 asked for). The gate is a context
variable, set around a piece of work with `request_gate(...)`; it follows the work into
the tasks it starts, and costs one lookup per request when unset.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from agentkit._exceptions import RateLimitError

__all__ = ["GatePass", "RequestGate", "enter_gate", "left_on_failure", "request_gate"]
_DEFAULT_429_WAIT = 1.0
"""Seconds a 429 that names no wait pauses the gate for."""


class RequestGate(Protocol):
    """Admits model requests (waiting as long as a budget requires) and hears how they went."""

    async def enter(self, payload_bytes: int) -> Any:
        """Wait until a request of this size may go; return a ticket for `leave`."""
        ...

    def leave(self, ticket: Any, tokens: int, retry_after: float | None) -> None:
        """The request ended: the tokens it used, or the wait a 429 asked for."""
        ...


_CURRENT: ContextVar[RequestGate | None] = ContextVar("agentkit_request_gate", default=None)


@contextmanager
def request_gate(gate: RequestGate | None) -> Iterator[None]:
    """Make every model request inside the block pass `gate`."""
    token = _CURRENT.set(gate)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass(slots=True)
class GatePass:
    """One request's way through the gate; left once, whatever happens."""

    gate: RequestGate
    ticket: Any
    left: bool = False

    def leave(self, tokens: int = 0, retry_after: float | None = None) -> None:
        if not self.left:
            self.left = True
            self.gate.leave(self.ticket, tokens, retry_after)


async def enter_gate(payload_bytes: int) -> GatePass | None:
    """Pass the current gate, if any (None when no gate is set)."""
    gate = _CURRENT.get()
    if gate is None:
        return None
    return GatePass(gate, await gate.enter(payload_bytes))


@contextmanager
def left_on_failure(gate: GatePass | None) -> Iterator[None]:
    """Leave `gate` if the block fails: no tokens, and a 429's wait for everyone."""
    try:
        yield
    except BaseException as error:
        if gate is not None:
            wait = None
            if isinstance(error, RateLimitError):
                wait = error.retry_after if error.retry_after is not None else _DEFAULT_429_WAIT
            gate.leave(retry_after=wait)
        raise
