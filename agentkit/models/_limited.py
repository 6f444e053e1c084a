"""Layer 3 (model boundary): a model behind a gate, for rate limits shared by many runs.

```python
from agentkit.models import RateLimitedModel

limited = RateLimitedModel(model, gate)   # any Model: ChatModel, a double, a wrapper, yours
```

Every request passes `gate` before it goes (waiting as long as its budget requires) and is
charged, when it ends, with the tokens its answer used; a 429 pauses the gate for everyone for
the wait it asked. A retry is a request too: a model that retries (`ChatModel`) tells the
request's `on_retry` hook, and each retry passes the gate again. A batch run applies this
wrapper to the model of every agent and extraction it runs, so `--rpm` / `--tpm` hold
whatever the model is.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from agentkit._messages import Completion, messages_to_json

from ._base import (
    Model,
    ModelInfo,
    ModelRequest,
    ResponseCompleted,
    StreamDelta,
    model_info,
    with_retry_hook,
)
from ._gate import GatePass, RequestGate, leave_failed

__all__ = ["RateLimitedModel"]


class RateLimitedModel:
    """`model`, with every request admitted by `gate` first (see the module docs)."""

    def __init__(self, model: Model, gate: RequestGate) -> None:
        self.inner: Model = model
        self.gate: RequestGate = gate

    @property
    def info(self) -> ModelInfo:
        """The model behind the gate's."""
        return model_info(self.inner)

    def __repr__(self) -> str:
        return f"RateLimitedModel({self.inner!r})"

    async def complete(self, request: ModelRequest) -> Completion:
        """The model's answer, once the gate lets the request (and each retry) through."""
        passing = _Passing(self.gate, request)
        await passing.enter()
        with passing.left_on_failure():
            completion = await self.inner.complete(passing.request)
        passing.leave(completion.usage.total_tokens)
        return completion

    @asynccontextmanager
    async def stream(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[StreamDelta]]:
        """The model's stream, once the gate lets the request through; charged at its end."""
        passing = _Passing(self.gate, request)
        await passing.enter()
        used: list[int] = [0]
        with passing.left_on_failure():
            async with self.inner.stream(passing.request) as deltas:
                yield _counting(deltas, used)
        passing.leave(used[0])

    async def aclose(self) -> None:
        """Close the model behind the gate."""
        await self.inner.aclose()


class _Passing:
    """One request's passes through the gate: one per attempt, each left once."""

    def __init__(self, gate: RequestGate, request: ModelRequest) -> None:
        self.gate = gate
        self.size = len(messages_to_json(request.messages))
        self._then = request.on_retry
        self.request = with_retry_hook(request, self._retried)
        self.current: GatePass | None = None

    async def enter(self) -> None:
        self.current = GatePass(self.gate, await self.gate.enter(self.size))

    def leave(self, tokens: int) -> None:
        if self.current is not None:
            self.current.leave(tokens)

    @contextlib.contextmanager
    def left_on_failure(self) -> Iterator[None]:
        """Leave the current pass if the block fails (no tokens; a 429 pauses everyone)."""
        try:
            yield
        except BaseException as error:
            if self.current is not None:
                leave_failed(self.current, error)
            raise

    async def _retried(self, attempt: int, error: BaseException, wait: float) -> None:
        if self.current is not None:  # the failed attempt's pass
            leave_failed(self.current, error)
        await self.enter()
        if self._then is not None:
            await self._then(attempt, error, wait)


async def _counting(
    deltas: AsyncIterator[StreamDelta], used: list[int]
) -> AsyncIterator[StreamDelta]:
    async for delta in deltas:
        if isinstance(delta, ResponseCompleted):
            used[0] = delta.completion.usage.total_tokens
        yield delta
