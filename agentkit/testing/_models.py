"""`FakeModel` and `FunctionModel`: models without HTTP, for testing agents.

Both speak through the same code paths as the real client: a scripted `Reply` is rendered as
the wire JSON (or the SSE chunks) a server would send and decoded by agentkit's own decoder
(or stream accumulator), so a test sees exactly what a real run would.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import anyio

from agentkit._messages import AssistantMessage, Completion, Message
from agentkit._tool import ToolDefinition
from agentkit.models._base import ModelInfo, ModelRequest, StreamDelta, completion_deltas
from agentkit.models._chat_sse import StreamAccumulator
from agentkit.models._chat_wire import decode_completion

from ._script import Renderer, Reply, ScriptedCall

__all__ = ["FakeModel", "FunctionModel", "ScriptItem"]

ScriptItem = Reply | str | AssistantMessage | Completion | BaseException
"""What a fake model can answer: a `Reply`, plain text, a message, a whole `Completion`, or an
exception to raise."""


class FakeModel:
    """A `Model` that answers from a script, in order, and records every request.

    ```python
    model = FakeModel([
        Reply.tool_calls(("get_weather", {"city": "Paris"})),
        "It is sunny in Paris.",
    ])
    agent = Agent(model, tools=[get_weather])
    ```
    """

    def __init__(self, script: Iterable[ScriptItem] = (), *, name: str = "fake-model") -> None:
        self._script: deque[ScriptItem] = deque(script)
        self.name = name
        self.requests: list[ModelRequest] = []
        self._renderer = Renderer()

    @property
    def info(self) -> ModelInfo:
        """Known by its name; its profile accepts everything."""
        return ModelInfo(self.name)

    def add(self, *items: ScriptItem) -> None:
        """Append answers to the script."""
        self._script.extend(items)

    @property
    def remaining(self) -> int:
        """Answers not used yet."""
        return len(self._script)

    async def _next(self, request: ModelRequest) -> ScriptItem:
        if not self._script:
            raise AssertionError(
                f"{type(self).__name__}: no scripted answer left for request #{len(self.requests)}"
            )
        return self._script.popleft()

    async def aclose(self) -> None:
        """Nothing to release (the `Model` protocol's close)."""

    async def complete(self, request: ModelRequest) -> Completion:
        """Answer with the next scripted item."""
        self.requests.append(request)
        item = await self._next(request)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        reply = _as_reply(item)
        await _sleep(reply.latency)
        return decode_completion(self._renderer.completion(reply, self.name, _n(request)))

    @asynccontextmanager
    async def stream(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[StreamDelta]]:
        """Answer with the next scripted item, as the deltas a server's stream would give."""
        self.requests.append(request)
        item = await self._next(request)
        if isinstance(item, BaseException):
            raise item
        async with contextlib.aclosing(self._deltas(item, request)) as deltas:
            yield deltas

    async def _deltas(
        self, item: Reply | str | AssistantMessage | Completion, request: ModelRequest
    ) -> AsyncGenerator[StreamDelta, None]:
        if isinstance(item, Completion):
            for delta in completion_deltas(item):
                yield delta
            return
        reply = _as_reply(item)
        await _sleep(reply.latency)
        accumulator = StreamAccumulator()
        chunks = self._renderer.chunks(reply, self.name, _n(request), include_usage=True)
        for number, chunk in enumerate(chunks):
            if number and reply.chunk_delay:
                await anyio.sleep(reply.chunk_delay)
            for delta in accumulator.feed(chunk):
                yield delta
        for delta in accumulator.finish():
            yield delta


AnswerFunction = Callable[
    [list[Message], list[ToolDefinition]], "ScriptItem | Awaitable[ScriptItem]"
]


class FunctionModel(FakeModel):
    """A `Model` whose answers come from your function of the messages and tool definitions.

    ```python
    def answer(messages, tools):
        if messages[-1].role == "tool":
            return "Done."
        return Reply.tool_calls((tools[0].name, {"city": "Paris"}))

    agent = Agent(FunctionModel(answer), tools=[get_weather])
    ```

    The function may be async, and may return anything a `FakeModel` script holds.
    """

    def __init__(self, function: AnswerFunction, *, name: str = "function-model") -> None:
        super().__init__(name=name)
        self.function = function

    async def _next(self, request: ModelRequest) -> ScriptItem:
        answer = self.function(list(request.messages), list(request.tools))
        if inspect.isawaitable(answer):
            answer = await answer
        return answer


def _as_reply(item: Reply | str | AssistantMessage) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply.text(item)
    calls = tuple(ScriptedCall(c.name, c.arguments, c.id or None) for c in item.tool_calls)
    return Reply(content=item.content, calls=calls, refusal=item.refusal)


def _n(request: ModelRequest) -> int:
    return request.settings.n or 1


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await anyio.sleep(seconds)
