"""Approval states attacked: edited, replayed, raced, killed, or recorded under another set-up.

What a person approves is exactly what runs, once. These tests attack that promise through the
public surface: the library's `resume`, and the `agentkit run --defer` / `agentkit approve`
commands in real processes (two at once, and one killed by SIGKILL mid-call).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import (
    DEFER,
    Agent,
    ModelResponseError,
    PendingApprovals,
    StateAlreadyDecided,
    StateSetupError,
    tool,
)
from agentkit.testing import FakeModel, MockChatServer, Reply, ScriptedCall

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
TOOLS = str(Path(__file__).parents[1] / "approval_tools.py")


@tool(requires_approval=True)
def transfer(to: str, amount: int) -> str:
    """Move money."""
    return f"moved {amount} to {to}"


@tool
def note(text: str) -> str:
    """Write a note."""
    return text


def paying() -> FakeModel:
    return FakeModel([Reply.tool_calls(("transfer", {"to": "landlord", "amount": 100})), "Paid."])


# -- the library ------------------------------------------------------------------------


async def test_a_state_is_decided_once() -> None:
    agent = Agent(paying(), tools=[transfer], approver=DEFER)
    stopped = await agent.run("pay rent")
    assert stopped.pending is not None
    state = PendingApprovals.from_json(stopped.pending.to_json())
    decisions = {call.id: True for call in state.pending}
    assert (await agent.resume(state, decisions)).output == "Paid."
    with pytest.raises(StateAlreadyDecided, match="used once"):
        await agent.resume(PendingApprovals.from_json(stopped.pending.to_json()), decisions)


async def test_an_edited_state_is_refused_before_anything_is_read() -> None:
    agent = Agent(paying(), tools=[transfer], approver=DEFER)
    stopped = await agent.run("pay rent")
    assert stopped.pending is not None
    text = stopped.pending.to_json()
    edited = text.replace('\\"landlord\\"', '\\"attacker\\"').replace('"landlord"', '"attacker"')
    assert edited != text
    with pytest.raises(ValueError, match="seal does not match"):
        PendingApprovals.from_json(edited)
    unsealed = json.dumps({k: v for k, v in json.loads(text).items() if k != "seal"})
    with pytest.raises(ValueError, match="no seal"):
        PendingApprovals.from_json(unsealed)
    assert PendingApprovals.from_json(unsealed, check_seal=False).pending[0].name == "transfer"


async def test_a_state_sealed_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(paying(), tools=[transfer], approver=DEFER)
    stopped = await agent.run("pay rent")
    assert stopped.pending is not None
    text = stopped.pending.to_json()
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(tmp_path / "someone-else"))
    with pytest.raises(ValueError, match="another user"):
        PendingApprovals.from_json(text)


async def test_a_state_recorded_under_another_setup_is_refused_naming_the_difference() -> None:
    agent = Agent(paying(), tools=[transfer], approver=DEFER)
    stopped = await agent.run("pay rent")
    assert stopped.pending is not None

    @tool(name="transfer", requires_approval=True)
    def other_transfer(to: str, amount: int, memo: str = "") -> str:
        """Move money, differently."""
        return "moved"

    decisions = {call.id: True for call in stopped.pending.pending}
    changed = Agent(FakeModel(["Paid."]), tools=[other_transfer, note])
    with pytest.raises(StateSetupError) as refused:
        await changed.resume(stopped.pending, decisions)
    assert "'transfer' is not the same tool" in str(refused.value)
    assert "'note' was not there" in str(refused.value)
    with pytest.raises(StateSetupError, match="instructions"):
        await Agent(FakeModel(["Paid."]), tools=[transfer], instructions="Obey.").resume(
            stopped.pending, decisions
        )
    # Refused before the ledger: the right agent can still decide it.
    assert (await agent.resume(stopped.pending, decisions)).output == "Paid."


async def test_duplicate_call_ids_from_a_model_are_refused_before_anything_runs() -> None:
    ran: list[str] = []

    @tool
    def pay(to: str) -> str:
        """Pay someone."""
        ran.append(to)
        return "paid"

    twice = Reply.tool_calls(
        ScriptedCall("pay", '{"to": "landlord"}', id="call_1"),
        ScriptedCall("pay", '{"to": "attacker"}', id="call_1"),
    )
    with pytest.raises(ModelResponseError, match="'call_1'"):
        await Agent(FakeModel([twice]), tools=[pay]).run("pay")
    assert ran == []


@pytest.mark.parametrize("stream", [False, True])
async def test_duplicate_call_ids_on_the_wire_are_refused(stream: bool) -> None:
    ran: list[str] = []

    @tool
    def pay(to: str) -> str:
        """Pay someone."""
        ran.append(to)
        return "paid"

    with MockChatServer() as server:
        server.add(
            Reply.tool_calls(
                ScriptedCall("pay", '{"to": "landlord"}', id="call_1"),
                ScriptedCall("pay", '{"to": "attacker"}', id="call_1"),
            )
        )
        async with server.chat_model() as model:
            agent = Agent(model, tools=[pay])
            with pytest.raises(ModelResponseError, match="'call_1'"):
                await (_streamed(agent) if stream else agent.run("pay"))
    assert "attacker" not in ran


async def test_a_state_with_duplicate_pending_ids_is_refused() -> None:
    agent = Agent(paying(), tools=[transfer], approver=DEFER)
    stopped = await agent.run("pay rent")
    assert stopped.pending is not None
    document = json.loads(stopped.pending.to_json())
    document.pop("seal")
    document["pending"].append({**document["pending"][0], "raw_arguments": '{"to":"x"}'})
    with pytest.raises(ValueError, match="two or more calls have the id"):
        PendingApprovals.from_json(json.dumps(document), check_seal=False)


def test_values_that_json_changes_still_run_after_approval_in_another_process(
    tmp_path: Path,
) -> None:
    """datetime, date, Path, Decimal, UUID, set, tuple and Enum survive the round trip."""
    log = tmp_path / "calls.log"
    arguments = {
        "when": "2026-12-24T18:00:00+01:00", "day": "2026-12-24", "folder": "/srv/pay",
        "price": "12.50", "ref": "12345678-1234-5678-1234-567812345678",
        "tags": ["rent", "home", "monthly", "dec"], "pair": [1, 2], "speed": "fast",
    }  # fmt: skip
    with MockChatServer() as server:
        server.add(Reply.tool_calls(("schedule", arguments)), Reply.text("Scheduled."))
        env = _env(server, log)
        deferred = _cli(["run", "Schedule it", "-T", TOOLS, "--defer", str(tmp_path / "s.json")],
                        env, hash_seed="1")  # fmt: skip
        assert deferred.returncode == 9, deferred.stderr
        approved = _cli(["approve", str(tmp_path / "s.json"), "--yes", "-T", TOOLS], env,
                        hash_seed="2")  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == "Scheduled."
    assert log.read_text().count("schedule 2026-12-24T18:00:00+01:00") == 1


# -- the command line -------------------------------------------------------------------


@pytest.fixture
def deferred(tmp_path: Path) -> Iterator[tuple[MockChatServer, dict[str, str], Path]]:
    """A run of `transfer` deferred to a state file; the server answers later requests."""
    state = tmp_path / "pending.json"
    with MockChatServer() as server:
        server.add(Reply.tool_calls(("transfer", {"to": "landlord", "amount": 100})))
        server.add(*[Reply.text("Paid.")] * 3)
        env = _env(server, tmp_path / "calls.log")
        done = _cli(["run", "Pay rent", "-T", TOOLS, "--defer", str(state)], env)
        assert done.returncode == 9, done.stderr
        assert f"agentkit approve {state} -T {TOOLS}" in done.stderr
        yield server, env, state


def test_the_state_file_is_private(deferred: tuple[MockChatServer, dict[str, str], Path]) -> None:
    _, _, state = deferred
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert "sk-secret-key" not in state.read_text()


def test_approve_takes_its_setup_from_the_command_line_not_the_state(
    deferred: tuple[MockChatServer, dict[str, str], Path], tmp_path: Path
) -> None:
    server, env, state = deferred
    missing = _cli(["approve", str(state), "--yes"], env)
    assert missing.returncode == 2
    assert "'transfer' is missing" in missing.stderr
    assert len(server.requests) == 1
    approved = _cli(["approve", str(state), "--yes", "-T", TOOLS], env)
    assert approved.returncode == 0, approved.stderr
    assert _calls(env) == ["transfer landlord 100"]


def test_an_old_state_naming_code_to_load_is_never_executed(tmp_path: Path) -> None:
    evil, marker = tmp_path / "evil.py", tmp_path / "imported"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    state = tmp_path / "old.json"
    state.write_text(json.dumps({
        "agentkit_run": {"tool": [str(evil)], "mcp": [f"sh -c 'touch {marker}'"],
                         "base_url": "http://127.0.0.1:9/v1", "api_key_env": "HOME"},
        "pending": {"format": 1, "messages": [], "finished": {}, "pending": []},
    }))  # fmt: skip
    for flag in ("--yes", "--deny"):
        refused = _cli(["approve", str(state), flag], {"PATH": os.environ["PATH"]})
        assert refused.returncode == 2
        assert "not trusted any more" in refused.stderr
    assert not marker.exists()


def test_an_edited_state_file_is_refused_before_anything_is_shown(
    deferred: tuple[MockChatServer, dict[str, str], Path],
) -> None:
    _, env, state = deferred
    state.write_text(state.read_text().replace("landlord", "attacker"))
    refused = _cli(["approve", str(state), "--yes", "-T", TOOLS], env)
    assert refused.returncode == 2
    assert "seal does not match" in refused.stderr
    assert "attacker" not in refused.stderr
    assert not Path(env["APPROVAL_LOG"]).exists()


def test_approve_twice_runs_the_call_once(
    deferred: tuple[MockChatServer, dict[str, str], Path],
) -> None:
    _, env, state = deferred
    copy = state.with_name("copy.json")
    copy.write_bytes(state.read_bytes())
    first = _cli(["approve", str(state), "--yes", "-T", TOOLS], env)
    assert first.returncode == 0, first.stderr
    for again in (state, copy):
        second = _cli(["approve", str(again), "--yes", "-T", TOOLS], env)
        assert second.returncode == 2
        assert "decided already" in second.stderr
    assert _calls(env) == ["transfer landlord 100"]


def test_two_approvals_at_once_run_the_call_once(
    deferred: tuple[MockChatServer, dict[str, str], Path],
) -> None:
    _, env, state = deferred
    command = [sys.executable, "-m", "agentkit", "approve", str(state), "--yes", "-T", TOOLS]
    both = [subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    codes = sorted(process.wait(timeout=60) for process in both)
    for process in both:
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()
    assert codes == [0, 2]
    assert _calls(env) == ["transfer landlord 100"]


def test_a_state_killed_mid_call_is_not_run_again(
    deferred: tuple[MockChatServer, dict[str, str], Path],
) -> None:
    _, env, state = deferred
    command = [sys.executable, "-m", "agentkit", "approve", str(state), "--yes", "-T", TOOLS]
    process = subprocess.Popen(command, cwd=ROOT, env={**env, "APPROVAL_HANG": "1"},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while not _calls(env) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    again = _cli(["approve", str(state), "--yes", "-T", TOOLS], env)
    assert again.returncode == 2
    assert "decided already" in again.stderr
    assert _calls(env) == ["transfer landlord 100"]


def test_approve_without_a_terminal_decides_nothing(
    deferred: tuple[MockChatServer, dict[str, str], Path],
) -> None:
    _, env, state = deferred
    undecided = _cli(["approve", str(state), "-T", TOOLS], env)
    assert undecided.returncode == 2
    assert "nothing was decided" in undecided.stderr
    approved = _cli(["approve", str(state), "--yes", "-T", TOOLS], env)  # still usable
    assert approved.returncode == 0, approved.stderr
    assert _calls(env) == ["transfer landlord 100"]


# -- helpers ----------------------------------------------------------------------------


async def _streamed(agent: Agent[str]) -> None:
    async with agent.stream("pay") as run:
        async for _ in run:
            pass


def _env(server: MockChatServer, log: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AGENTKIT_DATA_DIR": os.environ["AGENTKIT_DATA_DIR"],
        "AIMLAPI_API_KEY": "sk-secret-key",
        "AIMLAPI_BASE_URL": server.base_url,
        "APPROVAL_LOG": str(log),
    }


def _cli(
    argv: list[str], env: dict[str, str], hash_seed: str = "0"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *argv], cwd=ROOT, env={**env, "PYTHONHASHSEED": hash_seed},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _calls(env: dict[str, str]) -> list[str]:
    log = Path(env["APPROVAL_LOG"])
    return log.read_text().splitlines() if log.exists() else []
