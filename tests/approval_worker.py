"""A process that defers approvals, or resumes them (tests/loop/test_approvals.py).

    python -m tests.approval_worker defer STATE LOG     # writes STATE, then dies by SIGKILL
    python -m tests.approval_worker resume STATE LOG    # approves and finishes; prints output

Every tool call appends a line to LOG, so the test counts how often each one ran.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio

from agentkit import DEFER, Agent, Message, PendingApprovals, ToolDefinition, tool
from agentkit.testing import FunctionModel, Reply

LOG = Path(sys.argv[3])


@tool
def note(text: str) -> str:
    """Write a note."""
    with LOG.open("a") as log:
        log.write(f"note {text}\n")
    return f"noted {text}"


@tool(requires_approval=True)
def transfer(amount: int) -> str:
    """Move money (needs a person's approval)."""
    with LOG.open("a") as log:
        log.write(f"transfer {amount}\n")
    return f"moved {amount}"


def answer(messages: list[Message], tools: list[ToolDefinition]) -> object:
    if messages[-1].role == "tool":
        return "All done: " + ", ".join(m.content for m in messages if m.role == "tool")
    return Reply.tool_calls(("note", {"text": "a"}), ("transfer", {"amount": 100}),
                            ("note", {"text": "b"}))  # fmt: skip


agent = Agent(FunctionModel(answer), tools=[note, transfer], approver=DEFER)


def main() -> None:
    mode, state = sys.argv[1], Path(sys.argv[2])
    if mode == "defer":
        result = agent.run_sync("Pay the bill and take notes.")
        assert result.pending is not None
        state.write_text(result.pending.to_json())
        os.kill(os.getpid(), signal.SIGKILL)  # no clean exit: the state file is all there is
    pending = PendingApprovals.from_json(state.read_text())
    decisions = {call.id: True for call in pending.pending}
    result = anyio.run(lambda: agent.resume(pending, decisions))
    print(result.output)


if __name__ == "__main__":
    main()
