"""Storage workloads that need no server: a response-cache hit, and a stored conversation.

`cache-hit`: one `complete()` answered by a warm `ResponseCache` (key hashed, row read, the
completion rebuilt), for a request of a 2-turn tool loop. `session-100`: a run's storage work
on a 100-message conversation: hold the session, load the 100 messages, append a run's two.
Both on SQLite files in a temporary folder, as a user's would be.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path


def cache_hit() -> Callable[[str], Awaitable[None]]:
    from agentkit import ModelRequest, ResponseCache, UserMessage
    from agentkit.testing import FakeModel, Reply

    folder = Path(tempfile.mkdtemp())
    model = FakeModel([Reply.tool_calls(("get_weather", {"city": "Paris"}))])
    cached = ResponseCache(folder / "cache.sqlite3").wrap(model)
    request = ModelRequest(messages=(UserMessage(content="Weather in Paris?"),))

    async def work(_: str) -> None:
        completion = await cached.complete(request)  # the warm-up call stores it
        assert completion.choices

    return work


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
STORAGE = {"cache-hit": {"agentkit": cache_hit}, "session-100": {"agentkit": session_100}}
