"""What the tests serve with `agentkit mcp serve`: an agent with a structured output, and tools.

The agent's model is scripted (no network): it reads the city out of the prompt.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentkit import Agent, Message, ToolDefinition, tool
from agentkit.testing import FunctionModel, Reply


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def _answer(messages: list[Message], tools: list[ToolDefinition]) -> Any:
    prompt = str(messages[-1].content)
    city = prompt.rsplit(" ", 1)[-1].strip("?.")
    return Reply.tool_calls(("final_result", {"name": city, "country": "Norway"}))


agent = Agent(FunctionModel(_answer), output_type=City, instructions="Find the city.")
text_agent = Agent(FunctionModel(lambda messages, tools: "Hello from agentkit."))


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a * b


@tool(timeout=0.5)
async def slow() -> str:
    """Never answers in time."""
    import anyio

    await anyio.sleep(5)
    return "late"


tools = [multiply, slow]


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file (needs a person's approval).

    Args:
        path: Which file.
    """
    return f"deleted {path}"


@tool(timeout=1)
def stuck() -> str:
    """A sync tool that never returns."""
    import time

    time.sleep(3600)
    return "never"


guarded = [multiply, delete_file]
hanging = [multiply, stuck]
