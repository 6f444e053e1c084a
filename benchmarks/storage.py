"""Storage workloads that need no server: a response-cache hit, and a stored conversation.

`cache-hit`: one `complete()` answered by a warm `ResponseCache` (key hashed, row read, the
completion rebuilt), for the second request of a 2-turn tool loop (4 messages and the tool);
`cache-hit-20` and `cache-hit-200` the same for conversations of 20 and 200 messages. `session-100`: a run's storage work
on a 100-message conversation: hold the session, load the 100 messages, append a run's two.
Both on SQLite files in a temporary folder, as a user's would be.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path


def cache_hit(turns: int) -> Callable[[], Callable[[str], Awaitable[None]]]:
    """A hit for the last request of a tool loop `turns` turns long: system and user
    messages, then per turn an assistant message with a tool call and its result (2 + 2 x
    turns messages), the loop's tool offered, max_tokens set: what an agent sends."""

    def build() -> Callable[[str], Awaitable[None]]:
        from agentkit import (
            AssistantMessage,
            ModelRequest,
            ModelSettings,
            ResponseCache,
            SystemMessage,
            ToolCall,
            ToolMessage,
            UserMessage,
            tool,
        )
        from agentkit.testing import FakeModel, Reply

        @tool
        def get_weather(city: str) -> str:
            """Get the weather for a city."""
            return f"sunny in {city}"

        folder = Path(tempfile.mkdtemp())
        model = FakeModel([Reply.text("It is sunny.")])
        cached = ResponseCache(folder / "cache.sqlite3").wrap(model)
        messages: list[object] = [
            SystemMessage(content="Be brief."),
            UserMessage(content="Weather in Paris?"),
        ]
        for turn in range(turns):
            call = ToolCall(id=f"call_{turn}", name="get_weather", arguments='{"city": "Paris"}')
            messages += [
                AssistantMessage(content=None, tool_calls=[call]),
                ToolMessage(tool_call_id=call.id, content=f"sunny in Paris ({turn})"),
            ]
        request = ModelRequest(
            messages=tuple(messages),  # type: ignore[arg-type]
            tools=(get_weather.definition(),),
            settings=ModelSettings(max_tokens=512),
        )

        async def work(_: str) -> None:
            completion = await cached.complete(request)  # the warm-up call stores it
            assert completion.choices

        return work

    return build


def session_100() -> Callable[[str], Awaitable[None]]:
    from agentkit import AssistantMessage, SQLiteSession, UserMessage

    folder = Path(tempfile.mkdtemp())
    store = folder / "sessions.sqlite3"
    ready: list[SQLiteSession] = []

    async def work(_: str) -> None:
        if not ready:  # the warm-up call: one 100-message conversation (10 runs) per unit
            for number in range(UNITS + 1):
                session = SQLiteSession(store, f"c{number}")
                for turn in range(10):
                    session.append(
                        [m for n in range(5) for m in (UserMessage(content=f"q{turn}.{n}"),
                                                       AssistantMessage(content=f"a{n}"))]
                    )  # fmt: skip
                ready.append(session)
        session = ready.pop()
        async with session.hold():
            assert len(session.messages()) == 100
            session.append([UserMessage(content="next"), AssistantMessage(content="ok")])

    return work


UNITS = 300
STORAGE = {
    "cache-hit": {"agentkit": cache_hit(1)},
    "cache-hit-20": {"agentkit": cache_hit(9)},
    "cache-hit-200": {"agentkit": cache_hit(99)},
    "session-100": {"agentkit": session_100},
}
