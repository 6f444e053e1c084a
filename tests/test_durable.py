"""Durable runs on DBOS: a run killed mid-way (SIGKILL) resumes in a new process without
repeating its model requests or its tool calls; a run id runs once. Real processes, a real
SQLite system database, a real loopback server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.testing import MockChatServer, Reply

pytest.importorskip("dbos")
WORKER = str(Path(__file__).parent / "durable_worker.py")


def _worker(db: Path, url: str, log: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, WORKER, str(db), url, str(log), "pay-order-7", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


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
