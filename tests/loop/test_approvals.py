"""Approvals that survive a restart: a run stops for a person, another process resumes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agentkit import DEFER, Agent, ApprovalRequest, Deny, PendingApprovals, Supply, tool
from agentkit.testing import FakeModel, Reply

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def worker(mode: str, state: Path, log: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.approval_worker", mode, str(state), str(log)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_killed_process_is_resumed_by_another_and_every_call_runs_once(tmp_path: Path) -> None:
    state, log = tmp_path / "pending.json", tmp_path / "calls.log"
    deferred = worker("defer", state, log)
    assert deferred.returncode == -signal.SIGKILL
    pending = json.loads(state.read_text())
    assert [c["name"] for c in pending["pending"]] == ["transfer"]
    assert pending["pending"][0]["arguments"] == {"amount": 100}
    assert "sk-" not in state.read_text()
    assert Counter(log.read_text().splitlines()) == {"note a": 1, "note b": 1}
    resumed = worker("resume", state, log)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "All done: noted a, moved 100, noted b"
    assert Counter(log.read_text().splitlines()) == {"note a": 1, "note b": 1, "transfer 100": 1}


@tool(requires_approval=True)
def delete(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


def two_deletes() -> FakeModel:
    return FakeModel(
        [Reply.tool_calls(("delete", {"path": "/a"}), ("delete", {"path": "/b"})), "done"]
    )


async def test_deny_and_supply(tmp_path: Path) -> None:
    model = two_deletes()
    agent = Agent(model, tools=[delete], approver=DEFER)
    stopped = await agent.run("clean up")
    assert stopped.output is None
    assert stopped.pending is not None
    first, second = stopped.pending.pending
    state = PendingApprovals.from_json(stopped.pending.to_json())
    result = await agent.resume(state, {first.id: Deny("keep /a"), second.id: Supply("skipped")})
    assert result.output == "done"
    tool_texts = [m.content for m in result.messages if m.role == "tool"]
    assert tool_texts == [
        "Error: the user denied this call of 'delete'; it did not run (keep /a)",
        "skipped",
    ]


async def test_an_approver_may_defer_one_call_and_decide_others() -> None:
    def approver(request: ApprovalRequest) -> object:
        return DEFER if request.arguments["path"] == "/b" else True

    agent = Agent(two_deletes(), tools=[delete], approver=approver)  # type: ignore[arg-type]
    stopped = await agent.run("clean up")
    assert stopped.pending is not None
    assert [c.arguments for c in stopped.pending.pending] == [{"path": "/b"}]
    assert list(stopped.pending.finished.values()) == ["deleted /a"]


async def test_every_pending_call_needs_a_decision() -> None:
    agent = Agent(two_deletes(), tools=[delete], approver=DEFER)
    stopped = await agent.run("clean up")
    assert stopped.pending is not None
    only = stopped.pending.pending[0].id
    with pytest.raises(ValueError, match="missing"):
        await agent.resume(stopped.pending, {only: True})


async def test_what_was_approved_is_exactly_what_runs() -> None:
    agent = Agent(two_deletes(), tools=[delete], approver=DEFER)
    stopped = await agent.run("clean up")
    assert stopped.pending is not None
    tampered = stopped.pending.model_copy(
        update={"pending": [c.model_copy(update={"raw_arguments": '{"path": "/etc"}'})
                            for c in stopped.pending.pending]}
    )  # fmt: skip
    decisions = {c.id: True for c in tampered.pending}
    result = await agent.resume(tampered, decisions)
    texts = [m.content for m in result.messages if m.role == "tool"]
    assert all("no longer validate" in text for text in texts)


def test_the_command_defers_and_approve_continues(tmp_path: Path) -> None:
    from agentkit.testing import MockChatServer
    from tests.cli.test_cli import FIXTURES, in_process

    state = tmp_path / "pending.json"
    with MockChatServer() as server:
        server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/x"})), Reply.text("Deleted."))
        env = {"AIMLAPI_API_KEY": "sk-never-stored", "AIMLAPI_BASE_URL": server.base_url,
               "PATH": "/usr/bin"}  # fmt: skip
        deferred = in_process(
            ["run", "Delete /tmp/x", "-T", FIXTURES, "--defer", str(state)], env, ""
        )
        assert deferred.returncode == 9, deferred.stderr
        assert f"agentkit approve {state}" in deferred.stderr
        assert "sk-never-stored" not in state.read_text()
        approved = in_process(["approve", str(state), "--yes", "-T", FIXTURES], env, "")
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == "Deleted."
        tool_message = server.requests[1].messages[-1]
    assert tool_message["content"] == "deleted /tmp/x"
    assert in_process(["approve", str(tmp_path / "nothing.json")], {}, "").returncode == 2


async def test_a_state_of_this_format_stays_readable() -> None:
    """A state of format 1, kept in the repository: later versions resume it (it has no seal,
    so reading it is an explicit choice)."""

    @tool
    def look(path: str) -> str:
        """Look at a file."""
        return f"{path}: 3 lines"

    state = PendingApprovals.from_json(
        (Path(__file__).parents[1] / "data" / "pending-v1.json").read_text(), check_seal=False
    )
    assert state.format == 1
    assert [c.name for c in state.pending] == ["delete"]
    agent = Agent(FakeModel(["Done."]), tools=[delete, look])
    result = await agent.resume(state, {state.pending[0].id: True})
    assert [m.content for m in result.messages if m.role == "tool"] == ["/a: 3 lines", "deleted /a"]


def test_a_deferred_command_run_is_not_stored_as_a_conversation(tmp_path: Path) -> None:
    from agentkit import SQLiteSession
    from agentkit.testing import MockChatServer
    from tests.cli.test_cli import FIXTURES, in_process

    with MockChatServer() as server:
        server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/y"})))
        env = {"AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": server.base_url, "PATH": "/usr/bin"}
        done = in_process(
            ["run", "Delete /tmp/y", "-T", FIXTURES, "--defer", str(tmp_path / "p.json")], env, ""
        )
    assert done.returncode == 9
    assert SQLiteSession.list() == []
