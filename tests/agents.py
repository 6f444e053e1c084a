"""Tools and helpers shared by the loop tests (module level, so annotations resolve)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import BaseModel

from agentkit import RunContext, ToolMessage, tool


@dataclass
class Log:
    """What tools did, in order, with timestamps from one clock."""

    entries: list[tuple[str, float]] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.entries.append((what, time.perf_counter()))

    def names(self) -> list[str]:
        return [what for what, _ in self.entries]

    def at(self, what: str) -> float:
        return next(moment for name, moment in self.entries if name == what)


@tool
async def wait(ctx: RunContext[Log], label: str, seconds: float) -> str:
    """Wait a while, then say the label.

    Args:
        label: What to say.
        seconds: How long to wait.
    """
    ctx.deps.add(f"start {label}")
    await anyio.sleep(seconds)
    ctx.deps.add(f"end {label}")
    return label


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool
def fail(reason: str) -> str:
    """Always fail.

    Args:
        reason: Why.
    """
    raise RuntimeError(reason)


class Weather(BaseModel):
    """A weather report."""

    city: str
    celsius: float


def tool_messages(messages: list[Any]) -> list[ToolMessage]:
    """The tool messages of a conversation, in order."""
    return [m for m in messages if isinstance(m, ToolMessage)]


async def run_agent(agent: Any, prompt: str, *, streamed: bool) -> tuple[Any, str]:
    """Run `agent` plainly or streamed; return its result and the text deltas it streamed."""
    from agentkit import TextDelta

    if not streamed:
        return await agent.run(prompt), ""
    async with agent.stream(prompt) as run:
        texts = [event.text async for event in run if isinstance(event, TextDelta)]
    assert run.result is not None
    return run.result, "".join(texts)
