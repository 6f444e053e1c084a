"""Durable runs on DBOS: a run killed mid-way (SIGKILL) resumes in a new process without
repeating its model requests or its tool calls; a run id runs once. Real processes, a real
SQLite system database, a real loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.testing import MockChatServer, Reply

pytest.importorskip("dbos")
WORKER = str(Path(__file__).parents[1] / "durable_worker.py")


def _worker(
    db: Path | str, url: str, log: Path, *extra: str, run_id: str = "pay-order-7"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, WORKER, "run", str(db), url, str(log), run_id, *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _decide(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, WORKER, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_killed_run_resumes_without_repeating_a_request_or_a_tool_call(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log"
    script = [Reply.tool_calls(("transfer", {"amount": 5})), Reply.text("paid 5")]
    with MockChatServer(script) as server:
        crashed = _worker(db, server.base_url, log, "--crash-before-turn", "1")
        assert crashed.returncode == -9, crashed.stderr[-2000:]  # SIGKILL: no clean-up at all
        assert len(server.requests) == 1
        assert log.read_text() == "transfer 5\n"

        resumed = _worker(db, server.base_url, log)  # DBOS.launch() recovers the run
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert resumed.stdout.strip() == "paid 5"
        assert len(server.requests) == 2  # turn 0 was replayed from the checkpoint
        assert log.read_text() == "transfer 5\n"  # the transfer was not made again

        again = _worker(db, server.base_url, log)  # the same run id: the same run, once
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout.strip() == "paid 5"
        assert len(server.requests) == 2


def test_two_durable_agents_cannot_share_a_name() -> None:
    from agentkit import Agent, ConfigurationError
    from agentkit.durable import DurableAgent
    from agentkit.testing import FakeModel

    DurableAgent(Agent(FakeModel(["x"])), name="unique-a")
    with pytest.raises(ConfigurationError, match="already named"):
        DurableAgent(Agent(FakeModel(["y"])), name="unique-a")
    with pytest.raises(ConfigurationError, match=r"pure_tools names tools .*: nowhere"):
        DurableAgent(Agent(FakeModel(["z"])), name="unique-b", pure_tools=["nowhere"])


def test_a_deferred_approval_waits_durably_across_a_kill(tmp_path: Path) -> None:
    db, log = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log"
    script = [Reply.tool_calls(("transfer", {"amount": 5})), Reply.text("paid 5")]
    with MockChatServer(script) as server:
        waiting = subprocess.Popen(
            [sys.executable, WORKER, "run", str(db), server.base_url, str(log), "pay-order-7",
             "--approval"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            calls = _wait_for_pending(db)
        finally:
            waiting.kill()  # SIGKILL while it waits: the wait must outlive its process
            waiting.wait(timeout=30)
        assert calls == [{"call_id": "call_1", "tool": "transfer", "arguments": {"amount": 5}}]
        assert not log.exists()  # nothing ran before the decision

        refused = _decide("approve", str(db), "pay-order-7", "call_9", "yes")
        assert refused.returncode != 0
        assert "not waiting on call_9" in refused.stderr
        shown = _agentkit("durable", "show", "pay-order-7", "--db", f"sqlite:///{db}")
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert json.loads(shown.stdout)["waiting_on"] == calls
        listed = _agentkit("durable", "list", "--db", f"sqlite:///{db}")
        assert json.loads(listed.stdout.splitlines()[0])["run_id"] == "pay-order-7"
        blind = _agentkit("approve", "pay-order-7", "--db", f"sqlite:///{db}")  # no terminal
        assert blind.returncode == 2, blind.stderr[-2000:]
        assert "nothing was decided" in blind.stderr
        # `agentkit approve RUN_ID` decides a durable run too (its id is not a state file)
        decided = _agentkit("approve", "pay-order-7", "--yes", "--db", f"sqlite:///{db}")
        assert decided.returncode == 0, decided.stderr[-2000:]
        assert json.loads(decided.stdout) == {"call_1": True}

        resumed = _worker(db, server.base_url, log, "--approval")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert resumed.stdout.strip() == "paid 5"
        assert log.read_text() == "transfer 5\n"
        assert len(server.requests) == 2


def _agentkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _wait_for_pending(db: Path) -> list[object]:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = _decide("pending", str(db), "pay-order-7")
        if shown.returncode == 0 and json.loads(shown.stdout or "[]"):
            return list(json.loads(shown.stdout))
        time.sleep(0.5)
    raise AssertionError("the run never asked for approval")


def test_a_toolsets_tools_become_steps_too() -> None:
    import anyio

    from agentkit import Agent, Tool
    from agentkit.durable import DurableAgent, _stepped, _StepTool
    from agentkit.testing import FakeModel

    class Listing:
        async def list_tools(self) -> list[Tool[..., object]]:
            return [Tool(lambda x: x, name="echo", description="Echo.")]

        async def aclose(self) -> None:
            pass

    durable = DurableAgent(Agent(FakeModel(["x"]), toolsets=[Listing()]), name="with-toolset")
    twin = _stepped(durable)
    (listed,) = anyio.run(twin.toolsets[0].list_tools)
    assert isinstance(listed, _StepTool)
    assert listed.name == "echo"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_ten_kills_in_a_row_between_steps_never_repeat_a_transfer(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """Each round: a process killed (SIGKILL) between steps, another one resuming its run. On
    Postgres the rounds share one database (a run id each), as workers of one service do."""
    import random

    shared = request.getfixturevalue("postgres") if database == "postgres" else None
    draw = random.Random(20261205)
    for round_ in range(10):
        db: Path | str = shared or tmp_path / f"dbos-{round_}.sqlite3"
        log = tmp_path / f"transfers-{round_}.log"
        # Before the second or third model request, or inside the first or second transfer.
        where, at = draw.choice([("before", 1), ("before", 2), ("tool", 1), ("tool", 2)])
        script = [
            Reply.tool_calls(("transfer", {"amount": 1})),
            Reply.tool_calls(("transfer", {"amount": 2})),
            Reply.text("paid 5"),
        ]
        flag = "--crash-before-turn" if where == "before" else "--crash-in-tool"
        with MockChatServer(script) as server:
            run_id = f"pay-{round_}"
            crashed = _worker(db, server.base_url, log, flag, str(at), run_id=run_id)
            assert crashed.returncode == -9, crashed.stderr[-2000:]
            resumed = _worker(db, server.base_url, log, run_id=run_id)
            assert resumed.returncode == 0, resumed.stderr[-2000:]
            assert resumed.stdout.strip() == "paid 5"  # as an uninterrupted run ends
            assert len(server.requests) == 3  # no request was made twice
        said = f"round {round_}, crash {where} {at}"
        assert log.read_text() == "transfer 1\ntransfer 2\n", said  # each completed call once
        begun = Path(f"{log}.begun").read_text().splitlines()
        assert begun.count(f"begin {at}") == (2 if where == "tool" else 1), said  # cut off: again


def test_an_unreachable_database_is_named_without_its_password() -> None:
    refused = _agentkit("durable", "list", "--db", "postgresql://bob:s3cret@127.0.0.1:9/runs")
    assert refused.returncode == 2
    assert "cannot reach postgresql://bob:***@127.0.0.1:9/runs" in refused.stderr
    assert "s3cret" not in refused.stderr + refused.stdout


def test_a_run_left_by_another_version_of_the_code_is_reported_never_replayed(
    tmp_path: Path,
) -> None:
    """#32, bad input: a crash, then a deploy (another DBOS application version) before the
    run resumes. The new code does not replay the old run's steps: it names the run, its
    version and what to do, from DurableAgent.run and from `durable worker`."""
    db, log = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log"
    script = [Reply.tool_calls(("transfer", {"amount": 5})), Reply.text("paid 5")]
    with MockChatServer(script) as server:
        crashed = _worker(db, server.base_url, log, "--crash-before-turn", "1")
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        env = {**os.environ, "DBOS__APPVERSION": "v2-after-a-deploy"}
        newer = subprocess.run(
            [sys.executable, WORKER, "run", str(db), server.base_url, str(log), "pay-order-7",
             "--stranded"], capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
        assert newer.returncode != 0
        stranded = json.loads(newer.stdout.splitlines()[0])["stranded"]
        assert [run_id for run_id, _ in stranded] == ["pay-order-7"]
        assert "run 'pay-order-7' was started by another version of the code" in newer.stderr
        assert "agentkit durable cancel pay-order-7" in newer.stderr
        assert len(server.requests) == 1  # nothing was replayed or sent again
        assert log.read_text() == "transfer 5\n"
        resumed = _worker(db, server.base_url, log)  # the old version still finishes it
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert resumed.stdout.strip() == "paid 5"
    assert log.read_text() == "transfer 5\n"


def test_durable_runs_continue_a_session_and_add_to_it_once(tmp_path: Path) -> None:
    """#32: a durable run with a session reads the stored conversation in a step and adds its
    messages once, keyed by its run id, even when it crashed and was resumed."""
    from agentkit import SQLiteSession

    db, log, store = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log", tmp_path / "s.db"
    script = [Reply.tool_calls(("transfer", {"amount": 5})), Reply.text("paid 5"),
              Reply.tool_calls(("transfer", {"amount": 5})), Reply.text("paid again")]  # fmt: skip
    with MockChatServer(script) as server:
        first = _worker(db, server.base_url, log, "--session", str(store), run_id="s-1")
        assert first.returncode == 0, first.stderr[-2000:]
        crashed = _worker(db, server.base_url, log, "--session", str(store),
                          "--crash-before-turn", "1", run_id="s-2")  # fmt: skip
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        resumed = _worker(db, server.base_url, log, "--session", str(store), run_id="s-2")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert resumed.stdout.strip() == "paid again"
        again = _worker(db, server.base_url, log, "--session", str(store), run_id="s-2")
        assert again.stdout.strip() == "paid again"  # the same run: nothing added twice
        second_run_first_request = server.requests[2].body["messages"]
    texts = [m.get("content") for m in second_run_first_request]
    assert "paid 5" in texts  # the second run was sent the first one's conversation
    stored = SQLiteSession(store, "payments").messages()
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"] * 2
    assert log.read_text() == "transfer 5\ntransfer 5\n"


def test_an_append_under_a_key_happens_once(tmp_path: Path) -> None:
    from agentkit import AssistantMessage, SQLiteSession, UserMessage

    session = SQLiteSession(tmp_path / "s.db", "one")
    run = [UserMessage(content="hi"), AssistantMessage(content="hello")]
    session.append(run, key="run-1")
    session.append(run, key="run-1")  # a step that ran again after a crash
    session.append(run)  # no key: added again, as before
    assert len(session.messages()) == 4


def test_a_streamed_durable_run_yields_its_text_and_survives_a_kill(tmp_path: Path) -> None:
    """#32: DurableAgent.stream yields the answer's text as the model streams it (written to a
    DBOS stream inside the request's step); killed between steps and resumed, the text comes
    once, no request or transfer is made twice, and the recorded result matches."""
    db, log = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log"
    script = [Reply.tool_calls(("transfer", {"amount": 5})),
              Reply.text("paid 5 in full", chunk_size=3)]  # fmt: skip
    with MockChatServer(script) as server:
        crashed = _worker(db, server.base_url, log, "--stream", "--crash-before-turn", "1")
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        resumed = _worker(db, server.base_url, log, "--stream")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        streamed, final = resumed.stdout.strip().splitlines()
        pieces = json.loads(streamed)["pieces"]
        assert len(pieces) > 1  # in pieces, as the model streamed it
        assert "".join(pieces) == "paid 5 in full" == final
        assert len(server.requests) == 2
        assert all(r.body.get("stream") for r in server.requests[1:])
    assert log.read_text() == "transfer 5\n"


@pytest.mark.parametrize("pure", [False, True])
def test_a_pure_tool_is_not_recorded_and_runs_again_on_resume(tmp_path: Path, pure: bool) -> None:
    """#32: tool calls are steps unless the tool is named pure: then a resumed run calls it
    again instead of replaying it; the side effect next to it still happens once."""
    db, log = tmp_path / "dbos.sqlite3", tmp_path / "transfers.log"
    script = [Reply.tool_calls(("lookup", {"amount": 5}), ("transfer", {"amount": 5})),
              Reply.text("paid 5")]  # fmt: skip
    extra = ["--pure"] if pure else []
    with MockChatServer(script) as server:
        crashed = _worker(db, server.base_url, log, *extra, "--crash-before-turn", "1")
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        resumed = _worker(db, server.base_url, log, *extra)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert resumed.stdout.strip() == "paid 5"
    calls = log.read_text().splitlines()
    assert calls.count("transfer 5") == 1
    assert calls.count("lookup 5") == (2 if pure else 1)
