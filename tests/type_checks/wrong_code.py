"""User code that must NOT type-check: proof that tests/test_typing.py's check can fail."""

from __future__ import annotations

from typing import Any

from agentkit import Agent, Completion, ModelRequest, RunObserver, tool
from agentkit.testing import FakeModel


@tool(max_result_chars="lots")  # a number, not a string
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


agent = Agent(FakeModel([]), approver=42)  # not an approver


class Mismatched(RunObserver[float, float]):
    def request_started(self, request: ModelRequest) -> float:
        return 0.0

    def request_ended(self, token: str, completion: Completion | None, error: Any) -> None:
        pass  # the token is the float request_started returned, not a str
