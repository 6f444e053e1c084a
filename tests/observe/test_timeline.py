"""The run timeline: recorded as JSONL by a real run, drawn as a page, opened in Chromium."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, ApprovalRequest, RetryPolicy, tool
from agentkit._observe._trace_view import read_events, render
from agentkit.testing import FakeModel, MockChatServer, Reply
from tests.cli.test_cli import in_process

from .test_otel import broken, hang, slow_lookup, weather_script

pytestmark = pytest.mark.anyio
ARTIFACTS = Path(os.environ.get("AGENTKIT_TEST_ARTIFACTS", "build/test-artifacts"))


async def record(path: Path, *, streamed: bool = True) -> None:
    with MockChatServer() as server:
        server.add(*weather_script())
        retry = RetryPolicy(max_retries=2, initial_delay=0.0, jitter=0.0)
        async with server.chat_model(retry=retry) as model:
            agent = Agent(model, name="weather", tools=[tool(slow_lookup), broken])
            if streamed:
                async with agent.stream("Weather?", trace_to=path) as run:
                    async for _ in run:
                        pass
            else:
                await agent.run("Weather?", trace_to=path)


async def test_a_run_records_every_event_in_order(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    await record(path)
    events = read_events(path.read_text().splitlines())
    kinds = Counter(e["event"] for e in events)
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_ended"
    assert kinds["request_started"] == kinds["request_ended"] == 2
    assert kinds["request_retried"] == 1
    assert kinds["request_streaming"] == 2
    assert kinds["tool_started"] == kinds["tool_ended"] == 3
    times = [e["t"] for e in events]
    assert times == sorted(times)
    first_end = next(e for e in events if e["event"] == "request_ended")
    first_tool = next(e for e in events if e["event"] == "tool_started")
    assert first_tool["t"] < first_end["t"] or first_end["request"] == 1  # eager start
    failed = [e for e in events if e["event"] == "tool_ended" and not e["ok"]]
    assert len(failed) == 1
    assert "no data for Paris" in failed[0]["error"]


async def test_a_cancelled_tool_call_is_recorded_as_ended(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    agent = Agent(FakeModel([Reply.tool_calls(("hang", {"city": "Oslo"}))]), tools=[hang])
    with anyio.move_on_after(0.2):
        await agent.run("go", trace_to=path)
    events = read_events(path.read_text().splitlines())
    (ended,) = [e for e in events if e["event"] == "tool_ended"]
    assert ended["ok"] is False
    assert ended["error"].startswith("Cancelled")  # asyncio's CancelledError, trio's Cancelled
    assert events[-1]["event"] == "run_ended"


async def test_runs_append_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    agent = Agent(FakeModel(["one", "two"]))
    await agent.run("1", trace_to=path)
    await agent.run("2", trace_to=path)
    events = read_events(path.read_text().splitlines())
    assert len({e["run"] for e in events}) == 2
    assert render(events).count('<section class="run"') == 2


async def test_denials_are_drawn_apart(tmp_path: Path) -> None:
    @tool(requires_approval=True)
    def delete(path: str) -> str:
        """Delete."""
        return "gone"

    def deny(request: ApprovalRequest) -> bool:
        return False

    path = tmp_path / "denied.jsonl"
    model = FakeModel([Reply.tool_calls(("delete", {"path": "/"})), "kept"])
    await Agent(model, tools=[delete], approver=deny).run("rm", trace_to=path)
    page = render(read_events(path.read_text().splitlines()))
    assert 'class="bar tool denied"' in page


async def test_the_timeline_records_agentkits_own_messages_not_a_wire_shape(
    tmp_path: Path,
) -> None:
    """#25: requests and answers are recorded as agentkit's neutral records (the same for every
    dialect); the page draws them, and still draws traces written in the old wire shape."""
    path = tmp_path / "run.jsonl"
    await record(path, streamed=False)
    events = read_events(path.read_text().splitlines())
    answer = next(e for e in events if e["event"] == "request_ended")["response"]
    assert answer["role"] == "assistant"
    call = answer["tool_calls"][0]
    assert set(call) == {"id", "name", "arguments"}  # not {"id", "type", "function"}
    assert call["name"] == "slow_lookup"
    page = render(events)
    assert "→ slow_lookup(" in page
    old = [
        {"event": "run_started", "run": "r", "t": 0, "agent": "a", "model": "m"},
        {"event": "request_started", "run": "r", "t": 0.1, "request": 1, "from": 0,
         "messages": [{"role": "user", "content": "hi"}]},
        {"event": "request_ended", "run": "r", "t": 0.2, "request": 1, "ok": True,
         "response": {"role": "assistant", "tool_calls": [
             {"id": "c", "type": "function", "function": {"name": "legacy", "arguments": "{}"}}]}},
        {"event": "run_ended", "run": "r", "t": 0.3, "ok": True},
    ]  # fmt: skip
    assert "→ legacy({})" in render(old)


def test_a_page_needs_no_network_and_escapes_what_it_shows() -> None:
    events = [
        {"event": "run_started", "run": "r", "t": 0, "agent": "<b>x</b>", "model": "m"},
        {"event": "tool_started", "run": "r", "t": 0.1, "call": "c", "name": "t",
         "arguments": '{"q": "</script><script>alert(1)</script>"}'},
        {"event": "tool_ended", "run": "r", "t": 0.2, "call": "c", "ok": True, "content": "x"},
        {"event": "run_ended", "run": "r", "t": 0.3, "ok": True},
    ]  # fmt: skip
    page = render(events)
    assert "<b>x</b>" not in page
    assert "</script><script>alert" not in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "Content-Security-Policy" in page


def test_a_file_that_is_not_a_trace_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "run_started"}\nnot json\n')
    done = in_process(["trace", "view", str(bad)], {"PATH": "/usr/bin:/bin"}, "")
    assert done.returncode == 2
    assert "line 2 is not JSON" in done.stderr


def test_the_command_records_and_draws(tmp_path: Path) -> None:
    trace, page = tmp_path / "run.jsonl", tmp_path / "run.html"
    with MockChatServer() as server:
        server.add(Reply.text("hello"))
        env = {"PATH": "/usr/bin:/bin", "AIMLAPI_BASE_URL": server.base_url, "AIMLAPI_API_KEY": "k"}
        done = in_process(["run", "hi", "--trace", str(trace)], env, "")
    assert done.returncode == 0, done.stderr
    drawn = in_process(["trace", "view", str(trace), "-o", str(page)], {}, "")
    assert drawn.returncode == 0
    assert 'class="bar request ok"' in page.read_text()


def chromium() -> str:
    """Chromium from the system's packages, installed here if it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and cannot be installed here (needs apt as root)")
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, check=True)
        subprocess.run(install, capture_output=True, timeout=900, check=True)
    return shutil.which("chromium") or pytest.fail("Chromium did not install")


HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def test_the_page_in_headless_chromium(tmp_path: Path) -> None:
    """What a person sees: ticks, durations, arguments and results, a summary, the talk."""
    path = tmp_path / "run.jsonl"
    anyio.run(record, path)
    anyio.run(functools.partial(record, path, streamed=False))  # a second run in the file
    page = tmp_path / "run.html"
    page.write_text(render(read_events(path.read_text().splitlines())))
    browser = chromium()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [browser, *HEADLESS, *profile, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    first = dom[: dom.index('data-run="1"')]
    classes = re.findall(r'class="bar (request|tool) (\w+)"', first)
    assert Counter(kind for kind, _ in classes) == {"request": 2, "tool": 3}
    assert ("tool", "failed") in classes
    assert len(re.findall(r'class="tick"', first)) >= 3  # the axis has ticks
    assert len(re.findall(r" · [\d.]+ m?s</em>", first)) == 5  # a duration on every bar
    assert re.search(r"2 requests · \d+→\d+ tokens · 3 tool calls · 1 failed · 0 denied · "
                     r"1 retry · cost unknown", first)  # fmt: skip
    assert '<small>{"city": "Oslo"}</small>' in first  # arguments beside the name
    assert 'class="outcome">→ ' in first  # results after the bars
    assert '<div class="message user"><b>user</b><pre>Weather?</pre>' in first
    assert dom.count('<option value="') == 2  # two runs: a picker
    assert 'id="details"' in dom
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "timeline.png"
    subprocess.run(
        [browser, *HEADLESS, *profile, f"--screenshot={shot}", "--window-size=1400,560",
         page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 5000
    assert json.loads(path.read_text().splitlines()[0])["agent"] == "weather"


async def test_a_batch_records_a_timeline_per_item(tmp_path: Path) -> None:
    from agentkit.batch import run_batch

    agent = Agent(FakeModel(["one", "two"]), name="echo")
    records = [{"id": "first/item", "prompt": "1"}, {"id": "2", "prompt": "2"}]
    traces = tmp_path / "traces"
    await run_batch(agent, records, journal=tmp_path / "j.journal", trace_dir=traces)
    files = sorted(p.name for p in traces.iterdir())
    assert files == ["2.jsonl", "first_item.jsonl"]
    events = read_events((traces / "2.jsonl").read_text().splitlines())
    assert [e["event"] for e in events] == [
        "run_started", "request_started", "request_ended", "run_ended"
    ]  # fmt: skip


async def test_an_extraction_records_its_timeline(tmp_path: Path) -> None:
    from agentkit import Extractor
    from tests.extraction_types import Point

    path = tmp_path / "extract.jsonl"
    model = FakeModel([Reply.tool_calls(("Point", {"x": 1, "y": 2}))])
    extraction = await Extractor(Point, model=model).run("1, 2", trace_to=path)
    assert extraction.value == Point(x=1, y=2)
    events = read_events(path.read_text().splitlines())
    assert next(e["event"] for e in events) == "run_started"
    assert events[-1]["event"] == "run_ended"


async def test_a_batch_hands_each_item_its_timeline_file(tmp_path: Path) -> None:
    from agentkit.batch import BatchContext, run_batch

    seen: list[Path | None] = []

    async def task(record: dict[str, str], context: BatchContext) -> str:
        seen.append(context.trace_to)
        await Agent(FakeModel(["ok"])).run(record["prompt"], trace_to=context.trace_to)
        return "ok"

    traces = tmp_path / "traces"
    await run_batch(task, [{"id": "a", "prompt": "1"}], journal=tmp_path / "j", trace_dir=traces)
    assert seen == [traces / "a.jsonl"]
    assert '"run_ended"' in (traces / "a.jsonl").read_text()


async def test_a_trace_grows_with_the_conversation_not_its_square(tmp_path: Path) -> None:
    """Before: each request re-recorded every message (40 turns of 1 MB arguments: 819 MB)."""
    import json as _json

    from agentkit import Agent, tool
    from agentkit.testing import FakeModel, Reply

    @tool
    def store(blob: str) -> str:
        """Store a blob."""
        return "stored"

    big = "x" * 200_000
    turns = 20
    model = FakeModel([*[Reply.tool_calls(("store", {"blob": big}))] * turns, "done"])
    trace = tmp_path / "trace.jsonl"
    await Agent(model, tools=[store], max_turns=turns + 1).run("keep", trace_to=trace)
    events = [_json.loads(line) for line in trace.read_text().splitlines()]
    started = [e for e in events if e["event"] == "request_started"]
    assert [e["from"] for e in started][:3] == [0, 1, 3]  # each message written once
    assert sum(len(e["messages"]) for e in started) == 1 + 2 * turns
    assert trace.stat().st_size < 2 * turns * 50_000  # bounded per message, linear overall


def test_a_huge_trace_is_drawn_bounded(tmp_path: Path) -> None:
    """Before: 1,000,000 events (225 MB) took 16.5 s and 2 GB, and the page never loaded."""
    from agentkit._observe._trace_view import MAX_BARS
    from tests.cli.test_cli import in_process

    trace = tmp_path / "huge.jsonl"
    calls = 3 * MAX_BARS
    with trace.open("w") as out:
        out.write('{"event": "run_started", "run": "r", "t": 0}\n')
        for n in range(calls):
            out.write(f'{{"event": "tool_started", "run": "r", "t": {n}, "call": "c{n}", '
                      f'"name": "t", "arguments": "{"a" * 20_000}"}}\n')  # fmt: skip
            out.write(f'{{"event": "tool_ended", "run": "r", "t": {n}.5, "call": "c{n}", '
                      '"ok": true, "content": "done"}\n')  # fmt: skip
        out.write('{"event": "run_ended", "run": "r", "t": 99999, "ok": true}\n')
    viewed = in_process(["trace", "view", str(trace)], {"PATH": "/usr/bin"}, "")
    assert viewed.returncode == 0, viewed.stderr
    page = trace.with_suffix(".html").read_text()
    assert f"{calls - MAX_BARS} more requests and tool calls, not drawn" in page
    assert len(page) < trace.stat().st_size / 5
