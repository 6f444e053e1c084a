"""Batch scale-out on Dask with real worker processes: a killed worker loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

FIXTURES = str(Path(__file__).parents[1] / "batch_fixtures.py")


def test_killing_a_worker_mid_run_loses_no_item(tmp_path: Path) -> None:
    count = 240
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"d{n:03d}", "text": str(n)}) + "\n" for n in range(count))
    )
    calls, out = tmp_path / "calls.log", tmp_path / "out.jsonl"
    calls.touch()
    command = [
        sys.executable, "-m", "agentkit", "batch", "run", f"{FIXTURES}:worker_echo", str(source),
        "--journal", str(tmp_path / "job.journal"), "--out", str(out), "--executor", "dask-local://2",
        "--concurrency", "4", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        env={**os.environ, "CALLS_LOG": str(calls)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(calls.read_text().splitlines()) < 40:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)
    victim = int(calls.read_text().splitlines()[-1].split()[0])
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["done"] == count
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == [f"d{n:03d}" for n in range(count)]
    workers = {row["result"]["pid"] for row in rows}
    assert len(workers) > 1
    assert (
        victim not in workers or len(workers) > 2
    )  # the killed worker's unfinished shard was redone elsewhere


def test_bad_executor_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1"}\n')
    completed = subprocess.run(
        [sys.executable, "-m", "agentkit", "batch", "run", f"{FIXTURES}:flaky", str(source), "--executor", "spark://x", "--quiet"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "use dask://HOST:PORT, dask-local://N, dbos" in completed.stderr


def test_rate_limited_items_are_taken_again_until_every_item_is_done(tmp_path: Path) -> None:
    """Before: with 30 % 429s, 15 of 300 items stayed pending and the run exited 0."""
    count = 90
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{n}", "n": n}) + "\n" for n in range(count)))
    limited = tmp_path / "limited"
    limited.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "agentkit", "batch", "run", f"{FIXTURES}:rate_limited_first", str(source),
         "--journal", str(tmp_path / "j"), "--executor", "dask-local://2", "--quiet"],
        env={**os.environ, "LIMITED_DIR": str(limited)},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (summary["done"], summary["remaining"]) == (count, 0)
    assert len(list(limited.iterdir())) == count // 3  # each of those did meet its 429
