"""Layer 3 (model boundary): the gate a rate-limited model's requests pass.

A batch run limits requests and tokens per minute across all its items. An agent makes
several requests per item, so the limit is charged per request, by the model wrapper the
batch puts around every model (`RateLimitedModel`): it enters the gate before each request
and leaves it with the tokens the answer used (or the wait a 429 asked for). The gate is an
argument of that wrapper, never a hidden channel: any model is limited the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from agentkit._exceptions import RateLimitError

__all__ = ["GatePass", "RequestGate", "leave_failed", "left_on_failure"]
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


def leave_failed(gate: GatePass, error: BaseException) -> None:
    """Leave `gate` after `error`: no tokens, and a 429's wait for everyone."""
    wait = None
    if isinstance(error, RateLimitError):
        wait = error.retry_after if error.retry_after is not None else _DEFAULT_429_WAIT
    gate.leave(retry_after=wait)


@contextmanager
def left_on_failure(gate: GatePass | None) -> Iterator[None]:
    """Leave `gate` if the block fails (see `leave_failed`)."""
    try:
        yield
    except BaseException as error:
        if gate is not None:
            leave_failed(gate, error)
        raise
