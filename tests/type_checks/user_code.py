"""User code that must type-check under mypy --strict (tests/test_typing.py runs it)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from agentkit import (
    DEFER,
    Agent,
    ApprovalRequest,
    Completion,
    Deferral,
    Deny,
    Instrument,
    ModelRequest,
    PendingApprovals,
    RunContext,
    RunInfo,
    RunObserver,
    RunResult,
    Supply,
    ToolCall,
    ToolResult,
    tool,
)
from agentkit.testing import FakeModel


class Invoice(BaseModel):
    total: float


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


@tool(name="lookup", timeout=5, max_retries=2, requires_approval=True, max_result_chars=500,
      strict=True, description="Look a thing up.")  # fmt: skip
async def lookup(ctx: RunContext[str], key: str) -> str:
    """Look up."""
    return ctx.deps + key


def approve(request: ApprovalRequest) -> bool:
    return request.name == "add"


def approve_or_defer(request: ApprovalRequest) -> bool | Deferral:
    return DEFER if request.name == "lookup" else True


async def approve_later(request: ApprovalRequest) -> bool | Deferral:
    return DEFER


deferring = Agent(FakeModel(["ok"]), tools=[add, lookup], approver=DEFER)
asking = Agent(FakeModel(["ok"]), tools=[add], approver=approve)
mixed = Agent(FakeModel(["ok"]), tools=[add], approver=approve_or_defer)
later_agent = Agent(FakeModel(["ok"]), tools=[add], approver=approve_later)
typed: Agent[Invoice] = Agent(FakeModel([]), output_type=Invoice)
total: float = typed.run_sync("x").output.total
result: RunResult[str] = asking.run_sync("hi")
answer: str = result.output
decisions: dict[str, bool | Deny | Supply] = {"call_1": True, "call_2": Deny("no"),
                                               "call_3": Supply("42")}  # fmt: skip
assert Deny("no") == Deny("no")


async def later(state: PendingApprovals) -> str:
    return (await deferring.resume(state, decisions)).output


class Timings:
    """An instrument of the user's own: its tokens are start times."""

    def start_run(self, info: RunInfo) -> RunObserver[float, float]:
        return TimingObserver()


class TimingObserver(RunObserver[float, float]):
    def request_started(self, request: ModelRequest) -> float:
        return time.perf_counter()

    def request_streaming(self, token: float) -> None:
        pass

    def request_retried(
        self, token: float, attempt: int, error: BaseException, wait: float
    ) -> None:
        pass

    def request_ended(
        self, token: float, completion: Completion | None, error: BaseException | None
    ) -> None:
        print(time.perf_counter() - token)

    def tool_started(self, call: ToolCall) -> float:
        return time.perf_counter()

    def tool_ended(
        self, token: float, result: ToolResult | None, error: BaseException | None
    ) -> None:
        print(time.perf_counter() - token)

    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None:
        pass


timings: Instrument = Timings()
timed = Agent(FakeModel(["ok"]), instrument=[timings])
