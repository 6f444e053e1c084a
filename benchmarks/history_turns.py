"""Per-turn overhead of a long run: a 1,000-turn tool loop on FakeModel, the turn time at
~10 messages against ~2,000, without history processors, with keep_last_turns(3) and with
clear_old_tool_results(3).

python benchmarks/history_turns.py     (in-process, no server: what is measured is the loop)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from agentkit import Agent, TurnEnded, clear_old_tool_results, keep_last_turns, tool
from agentkit.testing import FakeModel, Reply

TURNS = 1000


@tool
async def step(n: int) -> str:
    """One step of the work.

    Args:
        n: Which step.
    """
    return "result " * 20


async def per_turn(processors: list[Any]) -> tuple[float, float]:
    """Median ms between turns early (~10 messages) and late (~2,000 messages)."""
    script = [Reply.tool_calls(("step", {"n": i})) for i in range(TURNS)] + [Reply.text("done")]
    stamps: list[float] = []

    def stamp(event: Any) -> None:
        if isinstance(event, TurnEnded):
            stamps.append(time.perf_counter())

    agent = Agent(FakeModel(script), tools=[step], history_processors=processors,
                  max_turns=TURNS + 5)  # fmt: skip
    await agent.run("go", on_event=stamp)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return sorted(gaps[5:55])[25] * 1000, sorted(gaps[-50:])[25] * 1000


async def main() -> None:
    for processors, name in (
        ([], "none"),
        ([keep_last_turns(3)], "keep_last_turns(3)"),
        ([clear_old_tool_results(3)], "clear_old_tool_results(3)"),
    ):
        early, late = await per_turn(processors)
        print(f"{name}: {early:.3f} ms a turn at ~10 messages, {late:.3f} ms at ~2,000 "
              f"(+{late - early:.3f})")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
