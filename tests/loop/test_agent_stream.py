"""Streaming runs: typed events, tools started early, the same messages as a plain run."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    Agent,
    LoopPolicy,
    RunEnded,
    TextDelta,
    ToolCallFinished,
    ToolCallReady,
    ToolCallStarted,
    TurnEnded,
)
from agentkit.testing import FakeModel, Reply, ScriptedCall
from tests.agents import Log, Weather, add, fail, wait

pytestmark = pytest.mark.anyio


async def test_events_arrive_in_order_and_the_result_is_set() -> None:
    model = FakeModel(
        [
            Reply.tool_calls(("add", {"a": 1, "b": 2}), chunk_size=4),
            Reply.text("The sum is 3.", chunk_size=4),
        ]
    )
    kinds: list[str] = []
    async with Agent(model, tools=[add]).stream("1+2?") as run:
        async for event in run:
            kinds.append(event.kind)
    assert run.result is not None
    assert run.result.output == "The sum is 3."
    assert kinds[0] == "tool_call_started"
    assert (
        kinds.index("tool_call_ready")
        < kinds.index("tool_call_finished")
        < kinds.index("turn_ended")
    )
    assert kinds.count("text_delta") == 4
    assert kinds[-2:] == ["turn_ended", "run_ended"]
    assert all(request.settings for request in model.requests)


async def test_each_tool_starts_as_soon_as_its_arguments_are_complete() -> None:
    log = Log()
    calls = [
        ScriptedCall("wait", json.dumps({"label": f"t{i}", "seconds": 0.05})) for i in range(3)
    ]
    model = FakeModel([Reply(calls=tuple(calls), chunk_size=8, chunk_delay=0.03), "done"])
    async with Agent(model, tools=[wait]).stream("go", deps=log) as run:
        async for event in run:
            if isinstance(event, ToolCallReady):
                log.add(f"ready {event.index}")
    names = log.names()
    # the first tool was running before the model had finished the later calls
    assert names.index("start t0") < names.index("ready 1") < names.index("ready 2")
    assert names.index("start t1") < names.index("ready 2")


async def test_structured_output_streams_too() -> None:
    model = FakeModel(
        [Reply.tool_calls(("final_result", {"city": "Lima", "celsius": 19}), chunk_size=5)]
    )
    async with Agent(model, output_type=Weather).stream("go") as run:
        events = [event async for event in run]
    assert run.result is not None
    assert run.result.output == Weather(city="Lima", celsius=19)
    assert isinstance(events[-1], RunEnded)


async def test_errors_surface_from_the_stream() -> None:
    async def consume() -> None:
        async with Agent(FakeModel([RuntimeError("model down")])).stream("go") as run:
            async for _ in run:
                pass

    with pytest.raises(RuntimeError, match="model down"):
        await consume()


async def test_leaving_the_stream_early_cancels_the_run() -> None:
    finished = False

    async def record_end() -> None:
        nonlocal finished
        await anyio.sleep(10)
        finished = True

    model = FakeModel([Reply(content="x" * 200, chunk_size=1, chunk_delay=0.01)])
    with anyio.fail_after(5):
        async with Agent(model).stream("go") as run:
            async for event in run:
                assert isinstance(event, TextDelta)
                break
    assert run.result is None
    assert not finished


async def test_a_slow_consumer_holds_the_run_back_and_loses_nothing() -> None:
    model = FakeModel([Reply(content="x" * 300, chunk_size=1)])  # 300 text events at once
    async with Agent(model).stream("go") as run:
        await anyio.sleep(0.2)  # not reading: the run fills the buffer, then waits
        assert run.result is None
        texts = [event.text async for event in run if isinstance(event, TextDelta)]
    assert "".join(texts) == "x" * 300
    assert run.result is not None
    assert run.result.output == "x" * 300


# --- a streamed run and a plain run of the same script produce the same messages -------------

call = st.one_of(
    st.builds(lambda a, b: ("add", {"a": a, "b": b}), st.integers(-99, 99), st.integers(-99, 99)),
    st.just(("fail", {"reason": "nope"})),
    st.just(("missing", {})),
    st.just(("add", '{"a": 1')),
)
turn = st.one_of(
    st.lists(call, min_size=1, max_size=3).map(
        lambda calls: Reply.tool_calls(*calls, chunk_size=3)
    ),
)
scripts = st.tuples(st.lists(turn, max_size=2), st.text(min_size=1, max_size=30)).map(
    lambda parts: [*parts[0], Reply.text(parts[1], chunk_size=4)]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=scripts)
async def test_streamed_and_plain_runs_give_identical_messages(script: list[Reply]) -> None:
    policy = LoopPolicy(tool_retries=100)  # budgets are tested elsewhere
    plain = await Agent(FakeModel(script), tools=[add, fail], policy=policy).run("go")
    async with Agent(FakeModel(script), tools=[add, fail], policy=policy).stream("go") as run:
        events = [event async for event in run]
    assert run.result is not None
    assert run.result.messages == plain.messages
    assert run.result.output == plain.output
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(finished) == sum(len(t.tool_results) for t in plain.turns)
    assert sum(isinstance(e, TurnEnded) for e in events) == len(plain.turns)
    assert sum(isinstance(e, ToolCallStarted) for e in events) == len(finished)
