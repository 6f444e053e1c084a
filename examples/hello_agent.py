"""Hello, agent: one tool, one question.

    python examples/hello_agent.py

Uses AI/ML API when AIMLAPI_API_KEY is set; otherwise a scripted FakeModel answers.
"""

from __future__ import annotations

import os

from agentkit import Agent, tool
from agentkit.testing import FakeModel, Reply


@tool
def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def main() -> None:
    offline = FakeModel([Reply.tool_calls(("add", {"a": 1234, "b": 4321})), "1234 + 4321 = 5555."])
    model = None if os.environ.get("AIMLAPI_API_KEY") else offline
    agent = Agent(model, instructions="Use the tools for arithmetic.", tools=[add])
    result = agent.run_sync("What is 1234 + 4321?")
    print(result.output)


if __name__ == "__main__":
    main()
