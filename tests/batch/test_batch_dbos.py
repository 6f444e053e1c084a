"""Batch items on a durable DBOS queue: SQLite beside the journal, and Postgres shared by
real worker processes, where `--rpm` holds across all of them (#32)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dbos")

FIXTURES = str(Path(__file__).parents[1] / "batch_fixtures.py")
TASK = f"{FIXTURES}:dbos_echo"


def batch(*args: str, calls: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", "batch", *args],
        env={**os.environ, "CALLS_LOG": str(calls)},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def items(folder: Path, count: int, hold: float = 0.0) -> Path:
    source = folder / "in.jsonl"
    source.write_text("".join(
        json.dumps({"id": f"i{n:02d}", "text": str(n), "hold": hold}) + "\n" for n in range(count)
    ))  # fmt: skip
    return source


def starts(calls: Path) -> list[tuple[int, str, float]]:
    rows = [line.split() for line in calls.read_text().splitlines()]
    return [(int(pid), item, float(at)) for pid, item, at in rows]


def test_a_batch_on_the_embedded_queue_runs_every_item_once_and_resumes(tmp_path: Path) -> None:
    source, calls, out = items(tmp_path, 12), tmp_path / "calls.log", tmp_path / "out.jsonl"
    journal = tmp_path / "job.journal"
    done = batch("run", TASK, str(source), "--journal", str(journal), "--out", str(out),
                 "--executor", "dbos", "--quiet", calls=calls)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["done"] == 12
    assert sorted(item for _, item, _ in starts(calls)) == [f"i{n:02d}" for n in range(12)]
    assert Path(f"{journal.resolve()}.dbos.sqlite3").is_file()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["result"]["text"] for row in rows] == [str(n) for n in range(12)]
    again = batch("run", TASK, str(source), "--journal", str(journal), "--resume", "--quiet",
                  calls=calls)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(starts(calls)) == 12  # nothing ran twice


def test_the_rate_limit_holds_across_two_workers_on_postgres(tmp_path: Path, postgres: str) -> None:
    """A driver and a second worker process on one Postgres queue, --rpm 120 (2 a second):
    each item runs once, and no second sees more than 2 items start. Each process runs one
    item at a time (--concurrency 1) and an item holds it 0.7 s: one process alone could not
    keep up with the limit, so both must take items."""
    count = 10
    source, calls = items(tmp_path, count, hold=0.7), tmp_path / "calls.log"
    out = tmp_path / "out.jsonl"
    calls.touch()
    # The server trusts local connections: any password works, and none may be printed.
    executor = "dbos:" + postgres.replace("postgres@", "postgres:s3cret-word@", 1)
    worker = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "batch", "worker", TASK, "--executor", executor,
         "--worker-id", "second"],
        env={**os.environ, "CALLS_LOG": str(calls)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert worker.stderr is not None
        ready = ""  # said once DBOS is launched and polling the queue
        while "taking items" not in ready:
            line = worker.stderr.readline()
            assert line, ready + worker.stderr.read()[-2000:]  # the worker ended: why
            ready += line
        done = batch("run", TASK, str(source), "--journal", str(tmp_path / "job.journal"),
                     "--out", str(out), "--executor", executor, "--rpm", "120",
                     "--concurrency", "1", "--quiet",
                     calls=calls)  # fmt: skip
    finally:
        worker.terminate()
        worker_output = ready + "".join(worker.communicate(timeout=30))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["done"] == count
    started = starts(calls)
    assert sorted(item for _, item, _ in started) == [f"i{n:02d}" for n in range(count)]
    assert len({pid for pid, _, _ in started}) == 2, "both processes took items"
    times = sorted(at for _, _, at in started)
    for first in range(len(times)):
        within = [t for t in times[first:] if t - times[first] < 0.9]
        assert len(within) <= 2, f"more than 2 items started within a second: {times}"
    assert times[-1] - times[0] >= 3.0  # 10 items at 2 a second: at least 4 s, less jitter
    assert "s3cret-word" not in done.stdout + done.stderr + worker_output
    assert "postgres:***@" in worker_output  # the worker names its queue's database, masked


def test_a_dbos_executor_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    source, calls = items(tmp_path, 1), tmp_path / "calls.log"
    bad = batch("run", TASK, str(source), "--executor", "dbos:mysql://x/y", calls=calls)
    assert bad.returncode == 2
    assert "dbos:postgresql://" in bad.stderr
    tpm = batch("run", TASK, str(source), "--executor", "dbos", "--tpm", "1000", calls=calls)
    assert tpm.returncode == 2
    assert "tpm is not held across DBOS workers" in tpm.stderr
    worker = batch("worker", TASK, "--executor", "dbos", calls=calls)
    assert worker.returncode == 2
    assert "dbos:postgresql://" in worker.stderr


def _worker(executor: str, calls: Path, worker_id: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "batch", "worker", TASK, "--executor", executor,
         "--worker-id", worker_id],
        env={**os.environ, "CALLS_LOG": str(calls)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    said = ""
    while "taking items" not in said:  # ready once DBOS polls the queue
        line = process.stderr.readline()
        assert line, said + process.stderr.read()[-2000:]
        said += line
    return process


def test_a_killed_workers_item_is_resumed_when_it_starts_again(
    tmp_path: Path, postgres: str
) -> None:
    """A worker killed (SIGKILL) in the middle of an item: started again under its id, it
    resumes that item (DBOS recovers work per worker id); every item ends done, once in the
    journal, the killed one run twice (at least once, as documented)."""
    import signal
    import time

    count = 4
    source, calls = items(tmp_path, count, hold=1.5), tmp_path / "calls.log"
    calls.touch()
    executor = "dbos:" + postgres
    victim = _worker(executor, calls, "victim")
    driver = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "batch", "run", TASK, str(source), "--journal",
         str(tmp_path / "kill.journal"), "--executor", executor, "--concurrency", "1",
         "--quiet"],
        env={**os.environ, "CALLS_LOG": str(calls)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    again = None
    try:
        deadline = time.monotonic() + 60
        while not any(pid == victim.pid for pid, _, _ in starts(calls)):
            assert time.monotonic() < deadline, "the worker never took an item"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)  # mid-item: no clean-up at all
        victim.wait(timeout=30)
        killed = next(item for pid, item, _ in starts(calls) if pid == victim.pid)
        again = _worker(executor, calls, "victim")  # the same worker, started again
        stdout, stderr = driver.communicate(timeout=120)
    finally:
        for process in (victim, driver, again):
            if process is None:
                continue
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)  # waited for, its pipes closed
    assert driver.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.strip().splitlines()[-1])["done"] == count
    ran = [item for _, item, _ in starts(calls)]
    assert sorted(set(ran)) == [f"i{n:02d}" for n in range(count)]
    assert ran.count(killed) == 2  # the killed item ran again, once more


def test_a_worker_never_loads_a_task_the_queue_names_but_it_was_not_started_for(
    tmp_path: Path, postgres: str
) -> None:
    """The queue's database names each item's task; a worker runs only the task on its own
    command line (as `agentkit approve` loads nothing a state names): items of another task
    are refused with a clear error, and that task's module is never imported by it."""
    other = f"{Path(__file__).parents[1] / 'batch_other_task.py'}:other"
    imports = tmp_path / "imports.log"
    source, calls = items(tmp_path, 6), tmp_path / "calls.log"
    calls.touch()
    executor = "dbos:" + postgres
    env = {**os.environ, "IMPORTS_LOG": str(imports), "CALLS_LOG": str(calls)}
    worker = _worker(executor, calls, "echo-only")  # started for dbos_echo
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agentkit", "batch", "run", other, str(source), "--journal",
             str(tmp_path / "other.journal"), "--executor", executor, "--concurrency", "1",
             "--max-attempts", "1", "--quiet"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
    assert str(worker.pid) not in imports.read_text().split()  # never imported by the worker
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["done"] + summary["failed"] == 6
    assert summary["failed"] >= 1, "the worker took no item: the test proved nothing"
    exported = batch("export", str(tmp_path / "other.journal"), "--out", "-", calls=calls)
    errors = [json.loads(line).get("error") for line in exported.stdout.splitlines()]
    refused = [e for e in errors if e]
    assert len(refused) == summary["failed"]
    assert all("this worker runs" in e and "start a worker for that task" in e for e in refused)


def test_the_queue_settings_read_from_the_command_line() -> None:
    """In-process: the URL, the queue's name and DBOS's limiter made of --executor and --rpm."""
    from agentkit import ConfigurationError
    from agentkit.batch._dbos import queue_name, rate_limit
    from agentkit.batch._executors import DbosExecutor, executor_from

    local = executor_from("dbos")
    assert isinstance(local, DbosExecutor)
    assert local.url("/x/job.journal") == "sqlite:////x/job.journal.dbos.sqlite3"
    shared = executor_from("dbos:postgresql://u:p@h/db")
    assert isinstance(shared, DbosExecutor)
    assert shared.url("j") == "postgresql://u:p@h/db"
    with pytest.raises(ConfigurationError, match="dbos:postgresql://"):
        executor_from("dbos:redis://h")
    assert queue_name("/a/b/my job!.journal") == "agentkit-batch-my-job-.journal"
    assert rate_limit(None) is None
    assert rate_limit(120) == {"limit": 2, "period": 1.0}  # per second, not a minute's burst
    assert rate_limit(30) == {"limit": 1, "period": 2.0}


@pytest.mark.anyio
async def test_an_item_is_a_row_whatever_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: the item workflow's body turns results, errors and 429s into journal rows,
    and refuses a task this process was not started for."""
    from agentkit.batch import _dbos

    flaky = f"{FIXTURES}:flaky"
    monkeypatch.setattr(_dbos, "_SERVED", {flaky})
    ok = await _dbos._run_item(flaky, None, "a", {"text": "hi"}, 1)
    assert ok["result"] == "HI"
    failed = await _dbos._run_item(flaky, None, "b", {"text": "always fail"}, 1)
    assert "cannot be processed" in failed["error"]
    refused = await _dbos._run_item(TASK, None, "c", {"text": "x"}, 1)
    assert "this worker runs" in refused["error"]
