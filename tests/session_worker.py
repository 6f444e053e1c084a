"""A process that runs an agent N times on one stored session (tests/loop/test_sessions.py)."""

from __future__ import annotations

import sys

import anyio

from agentkit import Agent, SQLiteSession
from agentkit.testing import FunctionModel


def main() -> None:
    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen: list[int] = []

    def answer(messages: list, tools: list) -> str:  # type: ignore[type-arg]
        seen.append(len(messages))
        return f"{name} saw {len(messages)} messages"

    agent = Agent(FunctionModel(answer))
    session = SQLiteSession(path, "common", wait=120)

    async def runs() -> None:
        for number in range(count):
            await agent.run(f"{name} #{number}", session=session)

    anyio.run(runs)
    print(" ".join(map(str, seen)))


if __name__ == "__main__":
    main()
