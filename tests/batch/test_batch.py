"""Batch runs: the journal, resume after SIGKILL, rate limits, malformed input, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.batch import (
    BatchContext,
    Journal,
    JournalDamaged,
    JournalMismatch,
    RateLimiter,
    read_jsonl,
    run_batch,
)
from agentkit.testing import Fault, MockChatServer, Reply
from tests.batch_fixtures import Person, flaky

pytestmark = pytest.mark.anyio
FIXTURES = str(Path(__file__).parents[1] / "batch_fixtures.py")


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_every_id_once_in_input_order_with_bad_lines_recorded(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "text": "x"},
            "{broken",
            {"text": "no id"},
            [1, 2],
            {"id": "a", "text": "again"},
            {"id": "b", "text": "y"},
        ],
    )
    out = tmp_path / "out.jsonl"

    def upper(record: dict[str, Any], context: BatchContext) -> str:
        return str(record["text"]).upper()

    summary = await run_batch(upper, source, journal=tmp_path / "j", out=out, concurrency=3)
    rows = read_out(out)
    ids = [row["id"] for row in rows]
    assert ids[0] == "a"
    assert ids[1] == "line-2"
    assert ids[2].startswith("sha-")
    assert ids[3:] == ["line-4", "a@line-5", "b"]
    assert rows[0]["result"] == "X"
    assert "line 2 is not valid JSON" in rows[1]["error"]
    assert "not a JSON object" in rows[3]["error"]
    assert "repeats the id of line 1" in rows[4]["error"]
    assert (summary.done, summary.failed, summary.remaining) == (3, 3, 0)


async def test_generated_ids_are_stable(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "same"}, {"b": 1, "a": 2}])
    first = [item[1] for item in read_jsonl(source)]
    write_jsonl(source, [{"text": "same"}, {"a": 2, "b": 1}])
    assert [item[1] for item in read_jsonl(source)] == first


async def test_task_errors_are_recorded_and_resume_retries_them(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "1", "text": "ok"},
            {"id": "2", "text": "fail once"},
            {"id": "3", "text": "always fail"},
        ],
    )
    out = tmp_path / "out.jsonl"
    first = await run_batch(flaky, source, journal=tmp_path / "j", out=out, max_attempts=2)
    assert (first.done, first.failed) == (1, 2)
    assert "RuntimeError: transient trouble" in read_out(out)[1]["error"]
    second = await run_batch(
        flaky, source, journal=tmp_path / "j", out=out, max_attempts=2, resume=True
    )
    assert (second.done, second.failed, second.processed_this_run) == (2, 1, 2)
    third = await run_batch(
        flaky, source, journal=tmp_path / "j", out=out, max_attempts=2, resume=True
    )
    assert third.processed_this_run == 0  # attempts spent; done items skipped
    assert [row.get("result") for row in read_out(out)] == ["OK", "FAIL ONCE", None]


async def test_a_journal_refuses_another_job_and_an_accidental_rerun(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "x"}])
    await run_batch(flaky, source, journal=tmp_path / "j")
    with pytest.raises(JournalMismatch, match="pass --resume"):
        await run_batch(flaky, source, journal=tmp_path / "j")

    def other(record: Any, context: BatchContext) -> str:
        return "other"

    with pytest.raises(JournalMismatch, match="different job"):
        await run_batch(other, source, journal=tmp_path / "j", resume=True)


def test_the_journal_hands_out_its_work_page_by_page_each_item_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal", "job", resume=False)
    journal.add((i, f"id{i}", {"n": i}, None) for i in range(2500))
    journal.started("id7")
    journal.failed("id7", "boom")  # attempts left: handed out again
    journal.started("id8")
    journal.done("id8", {"ok": True}, None)  # done: not handed out
    handed: list[str] = []
    for item in journal.to_do(max_attempts=3, page=1000):
        journal.started(item.id)  # what the runner does while it reads on
        handed.append(item.id)
    expected = [f"id{i}" for i in range(2500) if i != 8]
    assert handed == expected
    journal.close()


def test_reading_the_work_of_a_big_journal_keeps_memory_flat(tmp_path: Path) -> None:
    import tracemalloc

    journal = Journal(tmp_path / "journal", "job", resume=False)
    text = "x" * 2000
    journal.add((i, f"id{i}", {"text": text}, None) for i in range(10_000))  # ~20 MB of input
    tracemalloc.start()
    try:
        count = sum(1 for _ in journal.to_do(max_attempts=3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    journal.close()
    assert count == 10_000
    assert peak < 8_000_000  # a page at a time, not the whole table


async def test_extraction_batch_over_http_survives_429_and_500(tmp_path: Path) -> None:
    people = [{"id": f"p{i}", "text": f"Person {i} is {20 + i}."} for i in range(6)]
    source = write_jsonl(tmp_path / "in.jsonl", people)

    def answer(request: Any) -> Reply:
        text = request.messages[-1]["content"]
        number = int(text.split()[1])
        return Reply.tool_calls(("Person", {"name": f"Person {number}", "age": 20 + number}))

    script = [Fault.http(429, retry_after="0.05"), Fault.http(500)]
    with MockChatServer(script, responder=answer, latency=0.01) as server:
        async with server.chat_model() as model:
            from agentkit import Extractor

            limiter = RateLimiter(rpm=1000)
            summary = await run_batch(
                Extractor(Person, model=model),
                source,
                journal=tmp_path / "j",
                out=tmp_path / "out.jsonl",
                concurrency=3,
                limiter=limiter,
            )
    rows = read_out(tmp_path / "out.jsonl")
    assert summary.failed == 0
    assert [row["result"]["age"] for row in rows] == [20, 21, 22, 23, 24, 25]
    assert summary.total_tokens > 0


class VirtualClock:
    """Time that moves only when a task sleeps: rate tests without real minutes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


async def test_the_rate_limiter_holds_a_sliding_window_within_5_percent() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rpm=50, window=60.0, clock=clock.time, sleep=clock.sleep)
    moments: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        moments.append(clock.now)

    async with anyio.create_task_group() as group:
        for _ in range(500):
            group.start_soon(request)
    windows = [
        sum(1 for m in moments if start <= m < start + 60)
        for start in range(0, int(moments[-1]) - 59, 5)
    ]
    assert max(windows) <= 50
    assert min(windows) >= 0.95 * 50
    assert clock.now >= 9 * 60  # 500 requests at 50 per minute


async def test_tokens_per_minute_with_corrections() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(tpm=1000, window=60.0, clock=clock.time, sleep=clock.sleep)
    first = await limiter.acquire(600)
    limiter.correct(first, 100)  # used far less than estimated
    await limiter.acquire(800)  # fits now, no wait
    assert clock.now == 0
    await limiter.acquire(500)  # 900 + 500 > 1000: waits for the window
    assert clock.now == 60


async def test_a_pause_holds_everyone() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rpm=1000, clock=clock.time, sleep=clock.sleep)
    limiter.pause(7)
    await limiter.acquire()
    assert clock.now >= 7


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_sigkill_then_resume_loses_nothing_and_repeats_at_most_the_in_flight(
    tmp_path: Path,
) -> None:
    count, concurrency = 300, 4
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"i{n:03d}", "text": f"t{n}"} for n in range(count)]
    )
    calls = tmp_path / "calls.log"
    calls.touch()
    journal, out = tmp_path / "job.journal", tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "agentkit",
        "batch",
        "run",
        f"{FIXTURES}:slow_echo",
        str(source),
        "--journal",
        str(journal),
        "--out",
        str(out),
        "--concurrency",
        str(concurrency),
        "--quiet",
    ]
    env = {**os.environ, "CALLS_LOG": str(calls)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(calls.read_text().splitlines()) < 60:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stderr is not None:
        process.stderr.close()
    assert not out.exists()
    before = len(calls.read_text().splitlines())
    status = json.loads(run_cli("batch", "status", str(journal)).stdout)
    assert 0 < status["done"] < count
    resumed = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["done"] == count
    rows = read_out(out)
    assert [row["id"] for row in rows] == [f"i{n:03d}" for n in range(count)]
    repeated = len(calls.read_text().splitlines()) - count
    assert 0 <= repeated <= concurrency, f"{repeated} calls repeated; {before} before the kill"


def test_cli_status_export_and_errors(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": "1", "text": "ok"}, {"id": "2", "text": "always fail"}]
    )
    journal = tmp_path / "j"
    completed = run_cli(
        "batch", "run", f"{FIXTURES}:flaky", str(source), "--journal", str(journal), "--quiet"
    )
    assert completed.returncode == 7
    summary = json.loads(completed.stdout)
    assert (summary["done"], summary["failed"]) == (1, 1)
    assert json.loads(run_cli("batch", "status", str(journal)).stdout)["failed"] == 1
    exported = run_cli("batch", "export", str(journal), "--out", str(tmp_path / "o.jsonl"))
    assert json.loads(exported.stdout)["written"] == 2
    again = run_cli("batch", "run", f"{FIXTURES}:flaky", str(source), "--journal", str(journal))
    assert again.returncode == 2
    assert "pass --resume" in again.stderr
    missing = run_cli("batch", "status", str(tmp_path / "nope"))
    assert missing.returncode == 2
    progress = run_cli(
        "batch", "run", f"{FIXTURES}:flaky", str(source), "--journal", str(tmp_path / "j2")
    )
    assert "done 1  failed 1  remaining 0" in progress.stderr


def shout(record: dict[str, Any], context: BatchContext) -> str:
    return str(record["text"]).upper()


@pytest.mark.parametrize(
    ("damage", "said"),
    [(b"", r"is empty \(0 bytes\)"), (b"\x00garbage" * 500, r"is damaged \(SQLite says")],
    ids=["truncated-to-zero", "corrupt"],
)
async def test_a_damaged_journal_is_never_silently_started_over(
    tmp_path: Path, damage: bytes, said: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    journal = tmp_path / "j"
    journal.write_bytes(damage)
    with pytest.raises(JournalDamaged, match=said) as caught:
        await run_batch(shout, source, journal=journal, resume=True)
    assert "--restart" in str(caught.value)
    assert journal.read_bytes() == damage  # untouched
    summary = await run_batch(shout, source, journal=journal, restart=True)
    assert summary.done == 1
    (aside,) = await anyio.to_thread.run_sync(lambda: list(tmp_path.glob("j.*.old")))
    assert aside.read_bytes() == damage  # moved aside, never deleted


def test_cli_names_what_a_journal_is_and_how_to_start_over(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "ok"}])
    not_a_journal = run_cli("batch", "status", str(source))
    assert not_a_journal.returncode == 2
    assert "is not an agentkit batch journal" in not_a_journal.stderr
    assert "INPUT.journal" in not_a_journal.stderr
    journal = tmp_path / "j"
    journal.write_bytes(b"")
    resumed = run_cli(
        "batch", "run", f"{FIXTURES}:flaky", str(source), "--journal", str(journal), "--resume"
    )
    assert resumed.returncode == 2
    assert "is empty (0 bytes)" in resumed.stderr
    assert "--restart" in resumed.stderr
    restarted = run_cli(
        "batch", "run", f"{FIXTURES}:flaky", str(source), "--journal", str(journal), "--restart"
    )
    assert restarted.returncode == 0, restarted.stderr
    assert "moved the old journal aside" in restarted.stderr


async def test_the_rate_limit_is_charged_per_model_request_retries_included(
    tmp_path: Path,
) -> None:
    """Before: --rpm counted items, so an agent's two requests per item (and retries) were free."""
    from agentkit import Agent, RetryPolicy
    from tests.agents import add

    class CountingLimiter(RateLimiter):
        acquired = 0

        async def acquire(self, estimated_tokens: int = 0) -> list[float]:
            self.acquired += 1
            return await super().acquire(estimated_tokens)

    async def no_sleep(_: float) -> None:
        pass

    script: list[Any] = []
    for n in range(3):
        script += [Reply.tool_calls(("add", {"a": n, "b": 1})), Reply.text(f"done {n}")]
    script.insert(1, Fault.http(500))  # one retried request
    limiter = CountingLimiter(rpm=1000)
    with MockChatServer(script) as server:
        async with server.chat_model(retry=RetryPolicy(sleep=no_sleep)) as model:
            summary = await run_batch(
                Agent(model, tools=[add]),
                [{"prompt": f"item {n}"} for n in range(3)],
                journal=tmp_path / "j",
                concurrency=1,
                limiter=limiter,
            )
    assert summary.done == 3
    assert len(server.requests) == 7
    assert limiter.acquired == 7


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_rate_flags_must_be_whole_numbers_of_at_least_one(tmp_path: Path, value: str) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "ok"}])
    completed = run_cli("batch", "run", f"{FIXTURES}:flaky", str(source), "--rpm", value)
    assert completed.returncode == 2
    assert "--rpm" in completed.stderr
    assert "no limit" in completed.stderr or "whole number" in completed.stderr


async def test_a_zero_rate_is_refused_in_python_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rpm must be at least 1 \(got 0\)"):
        await run_batch(shout, [{"text": "x"}], journal=tmp_path / "j", rpm=0)


def test_ctrl_c_says_how_to_continue_and_status_shows_the_cut_off_items(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"i{n:03d}", "text": f"t{n}"} for n in range(300)]
    )
    calls = tmp_path / "calls.log"
    calls.touch()
    journal = tmp_path / "job.journal"
    command = [
        sys.executable, "-m", "agentkit", "batch", "run", f"{FIXTURES}:slow_async_echo",
        str(source), "--journal", str(journal), "--concurrency", "4", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env={**os.environ, "CALLS_LOG": str(calls)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(calls.read_text().splitlines()) < 20:
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Continue with:" in stderr
    assert f"--journal {journal}" in stderr
    assert stderr.rstrip().endswith("--resume")
    status = json.loads(run_cli("batch", "status", str(journal)).stdout)
    assert status["running"] == 0, status
    assert status["interrupted"] >= 1, status
    assert status["done"] + status["interrupted"] + status["pending"] == 300


def test_a_journal_in_use_by_a_run_is_refused_to_a_second_run(tmp_path: Path) -> None:
    from agentkit.batch import JournalError

    first = Journal(tmp_path / "j", "job", resume=False)
    try:
        with pytest.raises(JournalError, match="another run is using"):
            Journal(tmp_path / "j", "job", resume=True)
        assert Journal.open_existing(tmp_path / "j").in_use()
    finally:
        first.close()
    assert not Journal.open_existing(tmp_path / "j").in_use()


def test_the_eta_accounts_for_the_rate_limit() -> None:
    """--rpm 10 and two requests per item: 100 items left need 20 minutes, whatever the pace."""
    from agentkit.batch._rate import limited_eta

    limiter = RateLimiter(rpm=10)
    limiter.requests = 20  # ten items done so far, two requests each
    assert limited_eta(limiter, remaining=100, done=10, tokens=0) == 1200.0
    assert limited_eta(RateLimiter(tpm=1000), remaining=10, done=10, tokens=5000) == 300.0


def test_a_concurrency_below_one_is_refused_without_promising_no_limit(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "ok"}])
    completed = run_cli("batch", "run", f"{FIXTURES}:flaky", str(source), "--concurrency", "0")
    assert completed.returncode == 2
    assert "--concurrency must be at least 1 (got 0)" in completed.stderr
    assert "no limit" not in completed.stderr


def test_resume_keeps_the_runs_settings_unless_given_again(tmp_path: Path) -> None:
    """Before: the printed command to continue left out --concurrency, --rpm, --tpm and
    --max-attempts, so pasting it resumed at concurrency 32 with no rate limit."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{n}", "text": "x"}}\n' for n in range(3)))
    task = f"{FIXTURES}:flaky"
    first = run_cli("batch", "run", task, str(source), "--concurrency", "2", "--rpm", "600",
                    "--max-attempts", "5", "--quiet")  # fmt: skip
    assert first.returncode in (0, 7), first.stderr
    again = run_cli("batch", "run", task, str(source), "--resume")
    assert "resuming with the journal's settings: --concurrency 2, --rpm 600" in again.stderr
    assert "--max-attempts 5" in again.stderr
    changed = run_cli("batch", "run", task, str(source), "--resume", "--rpm", "30")
    assert "--rpm 30 (given again, instead of 600)" in changed.stderr


def test_a_finished_batch_leaves_no_lock_and_logs_progress_as_lines(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "text": "x"}\n')
    done = run_cli("batch", "run", f"{FIXTURES}:slow_echo", str(source),
                   env={"CALLS_LOG": str(tmp_path / "calls.log")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "in.jsonl.journal.lock").exists()
    assert "\r" not in done.stderr  # standard error is not a terminal here
    assert "done 1  failed 0  remaining 0" in done.stderr


@pytest.mark.parametrize("kind", ["agent", "extraction"])
async def test_any_model_is_held_to_the_rate_limit(tmp_path: Path, kind: str) -> None:
    """Before: --rpm limited nothing unless the model was a ChatModel (five items with rpm=1
    on a FunctionModel finished in 0.05 s): the limit travelled in a context variable that only
    ChatModel read. Now the batch wraps whatever model the task has."""
    from pydantic import BaseModel

    from agentkit import Agent, Message, ToolDefinition
    from agentkit._extract import Extractor
    from agentkit.testing import FunctionModel

    class Name(BaseModel):
        name: str

    def answer(messages: list[Message], tools: list[ToolDefinition]) -> Any:
        return Reply.tool_calls(("Name", {"name": "Ada"})) if tools else "hello"

    clock = VirtualClock()
    limiter = RateLimiter(rpm=1, window=60.0, clock=clock.time, sleep=clock.sleep)
    target: Any = (
        Agent(FunctionModel(answer)) if kind == "agent"
        else Extractor(Name, model=FunctionModel(answer))
    )  # fmt: skip
    summary = await run_batch(target, [{"text": f"item {n}"} for n in range(5)],
                              journal=tmp_path / "j", limiter=limiter)  # fmt: skip
    assert summary.done == 5
    assert limiter.requests == 5
    assert clock.now >= 4 * 60  # one request a minute: four full windows of waiting
