"""User code that must NOT type-check: proof that tests/test_typing.py's check can fail."""

from __future__ import annotations

from agentkit import Agent, tool
from agentkit.testing import FakeModel


@tool(max_result_chars="lots")  # a number, not a string
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


agent = Agent(FakeModel([]), approver=42)  # not an approver
