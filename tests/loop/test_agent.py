"""The loop's behaviour contract (DESIGN.md §3), rule by rule, with scripted models."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import anyio
import pytest

from agentkit import (
    Agent,
    ApprovalRequest,
    AssistantMessage,
    ConfigurationError,
    HistoryError,
    LoopPolicy,
    MaxTurnsExceeded,
    ModelSettings,
    OutputValidationError,
    RunContext,
    RunEnded,
    SystemMessage,
    ToolCall,
    ToolCallFinished,
    ToolMessage,
    ToolRetriesExhausted,
    TurnEnded,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    capture_run_messages,
    messages_from_json,
    tool,
)
from agentkit.testing import FakeModel, FunctionModel, Reply, ScriptedCall
from tests.agents import Log, Weather, add, fail, tool_messages, wait
from tests.extraction_types import Cat, Dog

pytestmark = pytest.mark.anyio


# --- rule 1: a turn is one request plus the calls it returned ----------------------------


async def test_a_turn_is_one_request_and_its_tool_calls() -> None:
    model = FakeModel(
        [Reply.tool_calls(("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4})), "3 and 7"]
    )
    result = await Agent(model, tools=[add]).run("Add")
    assert result.output == "3 and 7"
    assert len(model.requests) == 2
    assert [len(turn.tool_results) for turn in result.turns] == [2, 0]
    assert result.usage.requests == 2
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "tool", "assistant"]


# --- rule 2: tool_calls decide, not finish_reason -----------------------------------------


async def test_tool_calls_run_even_when_finish_reason_says_stop() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 2, "b": 2}), finish_reason="stop"), "4"])
    result = await Agent(model, tools=[add]).run("2+2")
    assert tool_messages(result.messages)[0].content == "4"
    assert result.turns[0].finish_reason == "stop"


# --- rule 3: concurrency, the cap, threads, timeouts ---------------------------------------


async def test_calls_of_one_response_start_together() -> None:
    log = Log()
    calls = [("wait", {"label": str(i), "seconds": 0.2}) for i in range(4)]
    model = FakeModel([Reply.tool_calls(*calls), "done"])
    await Agent(model, tools=[wait]).run("go", deps=log)
    starts = [log.at(f"start {i}") for i in range(4)]
    ends = [log.at(f"end {i}") for i in range(4)]
    assert max(starts) < min(ends)  # every call started before any finished


@pytest.mark.parametrize(
    ("calls", "cap", "seconds"),
    [(6, 2, 0.05), (1_000, 8, 0.001)],  # 1,000 calls in one answer: keep holding (issue 13)
)
async def test_the_concurrency_cap_holds(calls: int, cap: int, seconds: float) -> None:
    running = 0
    peak = 0

    @tool
    async def busy(n: int) -> int:
        """Be busy."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(seconds)
        running -= 1
        return n

    model = FakeModel([Reply.tool_calls(*[("busy", {"n": i}) for i in range(calls)]), "ok"])
    result = await Agent(model, tools=[busy], policy=LoopPolicy(max_concurrency=cap)).run("go")
    assert peak == cap
    assert [m.content for m in tool_messages(result.messages)] == [str(n) for n in range(calls)]


async def test_every_failure_gives_its_concurrency_slot_back() -> None:
    # One slot: each call runs only if the one before gave its slot back, whichever way it
    # ended (a lost slot hangs the run, and fail_after turns that into a failure).
    async def slow() -> str:
        """Take long."""
        await anyio.sleep(5)
        return "late"

    calls = [
        ("nope", {}),  # unknown tool
        ("add", {"a": "x"}),  # invalid arguments
        ("fail", {"reason": "boom"}),  # the tool raises
        ("slow", {}),  # the tool times out
        ("add", {"a": 1, "b": 2}),
    ]
    model = FakeModel([Reply.tool_calls(*calls), "done"])
    agent = Agent(
        model,
        tools=[add, fail, tool(slow, timeout=0.05)],
        policy=LoopPolicy(max_concurrency=1),
    )
    with anyio.fail_after(5):
        result = await agent.run("go")
    assert [r.ok for r in result.turns[0].tool_results] == [False, False, False, False, True]
    assert result.output == "done"


async def test_sync_tools_run_in_worker_threads() -> None:
    both_running = threading.Barrier(2, timeout=5)

    @tool
    def blocking(name: str) -> str:
        """Block until the other call runs too."""
        both_running.wait()  # deadlocks unless both run at once, off the event loop
        return threading.current_thread().name

    model = FakeModel(
        [Reply.tool_calls(("blocking", {"name": "a"}), ("blocking", {"name": "b"})), "ok"]
    )
    result = await Agent(model, tools=[blocking]).run("go")
    threads = {m.content for m in tool_messages(result.messages)}
    assert threading.main_thread().name not in threads


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_per_tool_timeout_applies_to_both_kinds(kind: str) -> None:
    if kind == "async":

        async def slow() -> str:
            """Take long."""
            await anyio.sleep(5)
            return "late"
    else:

        def slow() -> str:  # type: ignore[misc]
            """Take long."""
            time.sleep(0.5)
            return "late"

    model = FakeModel([Reply.tool_calls(("slow", {})), "gave up"])
    result = await Agent(model, tools=[tool(slow, timeout=0.1)]).run("go")
    assert tool_messages(result.messages)[0].content == "Error: tool 'slow' timed out after 0.1 s"
    assert result.turns[0].tool_results[0].ok is False


# --- rule 4: results in call order -------------------------------------------------------


async def test_results_follow_the_call_order_not_the_finish_order() -> None:
    log = Log()
    model = FakeModel(
        [
            Reply.tool_calls(
                ScriptedCall("wait", json.dumps({"label": "slow", "seconds": 0.2}), id="c1"),
                ScriptedCall("wait", json.dumps({"label": "fast", "seconds": 0.0}), id="c2"),
            ),
            "ok",
        ]
    )
    result = await Agent(model, tools=[wait]).run("go", deps=log)
    assert [(m.tool_call_id, m.content) for m in tool_messages(result.messages)] == [
        ("c1", "slow"),
        ("c2", "fast"),
    ]
    assert log.names().index("end fast") < log.names().index("end slow")


# --- rule 5: failures are data -----------------------------------------------------------


@tool(requires_approval=True)
def delete(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


FAILURES = {
    "unknown tool": (ScriptedCall("nope", "{}"), "unknown tool 'nope'; the tools are:"),
    "invalid json": (ScriptedCall("add", '{"a": 1,'), "arguments are not valid JSON"),
    "not an object": (ScriptedCall("add", "[1, 2]"), "arguments must be a JSON object"),
    "validation": (ScriptedCall("add", '{"a": "x", "b": 1}'), "a: Input should be a valid integer"),
    "exception": (
        ScriptedCall("fail", '{"reason": "disk full"}'),
        "tool 'fail' raised RuntimeError: disk full",
    ),
    "no approver": (
        ScriptedCall("delete", '{"path": "/x"}'),
        "needs approval and no approver is configured",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_each_failure_becomes_a_tool_message(case: str) -> None:
    call, expected = FAILURES[case]
    model = FakeModel([Reply.tool_calls(call, ("add", {"a": 1, "b": 1})), "recovered"])
    result = await Agent(model, tools=[add, fail, delete]).run("go")
    failed, sibling = tool_messages(result.messages)
    assert failed.content.startswith("Error: ")
    assert expected in failed.content
    assert "Traceback" not in failed.content
    assert sibling.content == "2"  # one failing call never cancels its siblings
    assert result.output == "recovered"


async def test_arguments_cut_off_by_max_tokens_are_reported_as_such() -> None:
    model = FakeModel(
        [Reply.tool_calls(ScriptedCall("add", '{"a": 1, "b"'), finish_reason="length"), "ok"]
    )
    result = await Agent(model, tools=[add]).run("go")
    assert (
        "cut off because the response reached max_tokens"
        in tool_messages(result.messages)[0].content
    )


async def test_approvals_sync_and_async_and_denials() -> None:
    decisions: list[str] = []

    async def approve(request: ApprovalRequest) -> bool:
        decisions.append(request.arguments["path"])
        return "keep" not in request.arguments["path"]

    model = FakeModel(
        [Reply.tool_calls(("delete", {"path": "/tmp/a"}), ("delete", {"path": "/keep"})), "ok"]
    )
    result = await Agent(model, tools=[delete], approver=approve).run("go")
    contents = [m.content for m in tool_messages(result.messages)]
    assert contents[0] == "deleted /tmp/a"
    assert "the user denied this call of 'delete'; it did not run" in contents[1]
    assert len(decisions) == 2
    sync_model = FakeModel([Reply.tool_calls(("delete", {"path": "/x"})), "ok"])
    sync_result = await Agent(sync_model, tools=[delete], approver=lambda call: True).run("go")
    assert tool_messages(sync_result.messages)[0].content == "deleted /x"


async def test_retry_budget_exhausted_raises_with_partial_result() -> None:
    model = FakeModel([Reply.tool_calls(("fail", {"reason": f"try {i}"})) for i in range(5)])
    agent = Agent(model, tools=[fail], policy=LoopPolicy(tool_retries=2))
    with pytest.raises(ToolRetriesExhausted) as caught:
        await agent.run("go")
    error = caught.value
    assert error.tool_name == "fail"
    assert len(error.errors) == 3
    assert "try 2" in error.errors[-1]
    assert len(error.result.turns) == 2  # the third failure stops the run in its turn
    assert len(tool_messages(error.result.messages)) == 3


async def test_a_tools_own_max_retries_wins() -> None:
    strict_fail = tool(fail.function, name="fail", max_retries=0)
    model = FakeModel([Reply.tool_calls(("fail", {"reason": "x"}))])
    with pytest.raises(ToolRetriesExhausted):
        await Agent(model, tools=[strict_fail], policy=LoopPolicy(tool_retries=5)).run("go")


async def test_tool_errors_can_be_raised_instead() -> None:
    model = FakeModel([Reply.tool_calls(("fail", {"reason": "boom"}))])
    with pytest.raises(RuntimeError, match="boom"):
        await Agent(model, tools=[fail], policy=LoopPolicy(raise_tool_errors=True)).run("go")


async def test_run_context_carries_deps_ids_and_retries() -> None:
    seen: list[tuple[Any, str, int]] = []

    @tool
    def inspect_context(ctx: RunContext[str], fail_now: bool) -> str:
        """Look at the context."""
        seen.append((ctx.deps, ctx.tool_call_id, ctx.retry))
        if fail_now:
            raise ValueError("again")
        return "ok"

    model = FakeModel(
        [
            Reply.tool_calls(ScriptedCall("inspect_context", '{"fail_now": true}', id="a")),
            Reply.tool_calls(ScriptedCall("inspect_context", '{"fail_now": false}', id="b")),
            "done",
        ]
    )
    await Agent(model, tools=[inspect_context]).run("go", deps="db")
    assert seen == [("db", "a", 0), ("db", "b", 1)]


# --- rule 6: tool_choice never loops; parallel_tool_calls only with tools -------------------


@pytest.mark.parametrize("choice", ["required", "add"])
async def test_forced_tool_choice_relaxes_after_a_tool_ran(choice: str) -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 1}), finish_reason="stop"), "2"])
    await Agent(model, tools=[add], tool_choice=choice, parallel_tool_calls=False).run("go")
    first, second = (request.settings for request in model.requests)
    assert first.tool_choice == choice
    assert second.tool_choice == "auto"
    assert first.parallel_tool_calls is False


async def test_forced_choice_can_stay_forced_when_configured() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 1})), "2"])
    policy = LoopPolicy(after_tool_choice=None)
    await Agent(model, tools=[add], tool_choice="required", policy=policy).run("go")
    assert model.requests[1].settings.tool_choice == "required"


async def test_unknown_tool_choice_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="names no tool"):
        Agent(FakeModel(), tools=[add], tool_choice="nope")


def test_a_tool_named_like_a_mode_is_forced_with_use_tool() -> None:
    """A plain mode string is the mode; `UseTool(name)` names the tool (#25)."""
    from agentkit import UseTool

    required = tool(add, name="required")
    Agent(FakeModel(), tools=[required], tool_choice="required")  # the mode
    Agent(FakeModel(), tools=[required], tool_choice=UseTool("required"))  # the tool
    with pytest.raises(ValueError, match="names no tool"):
        Agent(FakeModel(), tools=[add], tool_choice=UseTool("auto"))


# --- rule 7: how a run ends ---------------------------------------------------------------


async def test_ends_on_a_message_without_tool_calls() -> None:
    result = await Agent(FakeModel(["Hello!"])).run("Hi")
    assert result.output == "Hello!"
    assert result.turns[0].tool_results == ()


async def test_stop_at_tool_returns_its_value() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 20, "b": 22}))])
    result = await Agent(model, tools=[add], stop_at_tools=["add"]).run("go")
    assert result.output == 42
    assert len(model.requests) == 1


async def test_structured_output_through_the_output_tool() -> None:
    model = FakeModel([Reply.tool_calls(("final_result", {"city": "Paris", "celsius": 21.5}))])
    agent = Agent(model, output_type=Weather)
    result = await agent.run("Weather in Paris?")
    assert result.output == Weather(city="Paris", celsius=21.5)
    sent = model.requests[0]
    assert [t.name for t in sent.tools] == ["final_result"]
    assert sent.settings.tool_choice == "required"
    assert tool_messages(result.messages)[0].content == "Final result accepted."


async def test_the_output_tool_is_known_by_its_kind_not_its_name() -> None:
    """#25: `ToolDefinition.kind` marks the final-output tool; the wire never carries it."""
    from agentkit import extract, openai_tool

    model = FakeModel([Reply.tool_calls(("final_result", {"city": "Oslo", "celsius": 3}))])
    await Agent(model, tools=[add], output_type=Weather).run("Weather?")
    kinds = {t.name: t.kind for t in model.requests[0].tools}
    assert kinds == {"add": "function", "final_result": "output"}
    assert "kind" not in json.dumps([openai_tool(t) for t in model.requests[0].tools])
    extraction = FakeModel([Reply.tool_calls(("Weather", {"city": "Oslo", "celsius": 3}))])
    await extract(Weather, "Oslo, 3 degrees", model=extraction)
    assert [t.kind for t in extraction.requests[0].tools] == ["output"]


async def test_invalid_output_is_sent_back_for_correction() -> None:
    model = FakeModel(
        [
            Reply.tool_calls(("final_result", {"city": "Paris", "celsius": "warm"})),
            Reply.tool_calls(("final_result", {"city": "Paris", "celsius": 20})),
        ]
    )
    result = await Agent(model, output_type=Weather).run("go")
    assert result.output.celsius == 20
    correction = tool_messages(result.messages)[0].content
    assert "celsius: Input should be a valid number" in correction


async def test_output_budget_exhausted_raises() -> None:
    model = FakeModel([Reply.tool_calls(("final_result", {"city": 1}))] * 3)
    agent = Agent(model, output_type=Weather, policy=LoopPolicy(output_retries=1))
    with pytest.raises(OutputValidationError) as caught:
        await agent.run("go")
    assert len(caught.value.errors) == 2
    assert caught.value.result.messages


async def test_text_instead_of_the_output_tool_is_corrected() -> None:
    model = FakeModel(
        ["It is warm.", Reply.tool_calls(("final_result", {"city": "Rome", "celsius": 25}))]
    )
    result = await Agent(model, output_type=Weather).run("go")
    assert result.output.city == "Rome"
    assert "calling the final_result tool" in str(model.requests[1].messages[-1].content)


async def test_non_object_output_types_are_wrapped() -> None:
    model = FakeModel([Reply.tool_calls(("final_result", {"items": [1, 2, 3]}))])
    result = await Agent(model, output_type=list[int]).run("go")
    assert result.output == [1, 2, 3]
    model = FakeModel([Reply.tool_calls(("final_result", {"result": None}))])
    assert (await Agent(model, output_type=Weather | None).run("go")).output is None


async def test_a_union_of_objects_is_one_output_tool_per_member() -> None:
    model = FakeModel(
        [
            "text first",
            Reply.tool_calls(("final_result_Cat", {"kind": "cat", "name": "Tom"})),
        ]
    )
    result = await Agent(model, output_type=Cat | Dog).run("go")
    assert result.output == Cat(name="Tom")
    sent = model.requests[0]
    outputs = [t.name for t in sent.tools if t.kind == "output"]
    assert outputs == ["final_result_Cat", "final_result_Dog"]
    assert sent.settings.tool_choice == "required"
    hint = str(model.requests[1].messages[-1].content)
    assert "one of the tools final_result_Cat, final_result_Dog" in hint


def test_an_output_tool_name_is_reserved() -> None:
    def final_result_Dog() -> str:
        return "woof"

    with pytest.raises(ConfigurationError, match="'final_result_Dog' is reserved"):
        Agent(FakeModel(), tools=[final_result_Dog], output_type=Cat | Dog)


async def test_structured_output_through_json_schema() -> None:
    model = FakeModel(["not json", json.dumps({"city": "Oslo", "celsius": -3})])
    agent = Agent(model, output_type=Weather, policy=LoopPolicy(output_mode="json_schema"))
    result = await agent.run("go")
    assert result.output == Weather(city="Oslo", celsius=-3)
    response_format = model.requests[0].settings.response_format
    assert response_format is not None
    assert response_format.type == "json_schema"
    assert model.requests[0].tools == ()
    assert "not valid JSON" in str(model.requests[1].messages[-1].content)


async def test_output_tool_with_other_calls_runs_them_and_ends() -> None:
    model = FakeModel(
        [Reply.tool_calls(("add", {"a": 1, "b": 2}), ("final_result", {"city": "X", "celsius": 1}))]
    )
    result = await Agent(model, tools=[add], output_type=Weather).run("go")
    assert result.output.city == "X"
    assert [m.content for m in tool_messages(result.messages)] == ["3", "Final result accepted."]


# --- rule 8: limits carry the partial result ----------------------------------------------


async def test_max_turns_raises_with_everything_so_far() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": i, "b": 0})) for i in range(5)])
    with pytest.raises(MaxTurnsExceeded) as caught:
        await Agent(model, tools=[add], max_turns=3).run("loop")
    partial = caught.value.result
    assert len(partial.turns) == 3
    assert partial.usage.requests == 3
    assert [m.content for m in tool_messages(partial.messages)] == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("limits", "name"),
    [
        (UsageLimits(requests=1), "requests"),
        (UsageLimits(total_tokens=10), "total_tokens"),
        (UsageLimits(output_tokens=1), "output_tokens"),
        (UsageLimits(input_tokens=5), "input_tokens"),
        (UsageLimits(tool_calls=1), "tool_calls"),
    ],
)
async def test_usage_limits(limits: UsageLimits, name: str) -> None:
    model = FakeModel(
        [Reply.tool_calls(("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2})), "done"]
    )
    with pytest.raises(UsageLimitExceeded) as caught:
        await Agent(model, tools=[add], limits=limits).run("go")
    assert caught.value.limit == name
    assert caught.value.result.messages[0] == UserMessage(content="go")


# --- rule 10: cancellation ----------------------------------------------------------------


async def test_cancelling_a_run_cancels_its_tools_at_once() -> None:
    cleaned = anyio.Event()

    @tool
    async def forever() -> str:
        """Never finish."""
        try:
            await anyio.sleep(60)
        finally:
            cleaned.set()
        return "never"

    model = FakeModel([Reply.tool_calls(("forever", {}))])
    with anyio.move_on_after(0.2) as scope:
        await Agent(model, tools=[forever]).run("go")
    assert scope.cancelled_caught
    assert cleaned.is_set()


# --- rule 11: messages round-trip and continue ---------------------------------------------


async def test_messages_round_trip_and_continue_a_conversation() -> None:
    first = await Agent(
        FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 1})), "2"]), tools=[add]
    ).run("1+1?")
    history = messages_from_json(first.messages_json())
    assert history == first.messages
    model = FakeModel(["Yes, 2."])
    second = await Agent(model, tools=[add], instructions="Be brief.").run(
        "Sure?", message_history=history
    )
    assert second.messages[: len(history)] == history
    assert second.new_messages == [
        UserMessage(content="Sure?"),
        AssistantMessage(content="Yes, 2."),
    ]
    sent = model.requests[0].messages
    assert sent[0] == SystemMessage(content="Be brief.")
    assert list(sent[1:]) == [*history, UserMessage(content="Sure?")]


async def test_dangling_tool_calls_resume_or_are_refused() -> None:
    dangling = [
        UserMessage(content="1+1?"),
        AssistantMessage(tool_calls=(ToolCall(id="c1", name="add", arguments='{"a": 1, "b": 1}'),)),
    ]
    with pytest.raises(HistoryError, match="prompt=None"):
        await Agent(FakeModel(), tools=[add]).run("again", message_history=dangling)
    result = await Agent(FakeModel(["It is 2."]), tools=[add]).run(message_history=dangling)
    assert tool_messages(result.messages)[0] == ToolMessage(tool_call_id="c1", content="2")
    broken = [*dangling, UserMessage(content="?"), AssistantMessage(content="hm")]
    with pytest.raises(HistoryError, match="c1"):
        await Agent(FakeModel(), tools=[add]).run("x", message_history=broken)


# --- the rest of the surface ----------------------------------------------------------------


async def test_on_event_hook_sees_tools_turns_and_the_end() -> None:
    events: list[str] = []
    model = FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 1})), "2"])
    await Agent(model, tools=[add]).run("go", on_event=lambda e: events.append(e.kind))
    assert events == ["tool_call_finished", "turn_ended", "turn_ended", "run_ended"]


async def test_capture_run_messages_even_when_the_run_raises() -> None:
    model = FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 1})), RuntimeError("model down")])
    with capture_run_messages() as messages, pytest.raises(RuntimeError, match="model down"):
        await Agent(model, tools=[add]).run("go")
    assert [m.role for m in messages] == ["user", "assistant", "tool"]


async def test_agent_as_a_tool() -> None:
    inner = Agent(FakeModel(["inner answer"]), instructions="You are the inner agent.")
    outer_model = FakeModel([Reply.tool_calls(("ask_expert", {"request": "what?"})), "outer done"])
    result = await Agent(outer_model, tools=[inner.as_tool("ask_expert", "Ask the expert.")]).run(
        "go"
    )
    assert tool_messages(result.messages)[0].content == "inner answer"
    assert outer_model.requests[0].tools[0].description == "Ask the expert."


async def test_a_nested_agent_spends_the_outer_runs_usage_and_limits() -> None:
    spent = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    inner = Agent(FakeModel([Reply(content="inner answer", usage=spent)]))
    outer_model = FakeModel(
        [
            Reply.tool_calls(("ask_expert", {"request": "what?"}), usage=spent),
            Reply(content="outer done", usage=spent),
        ]
    )
    expert = inner.as_tool("ask_expert", "Ask the expert.")
    result = await Agent(outer_model, tools=[expert]).run("go")
    assert result.usage.requests == 3  # two of the outer run, one of the inner
    assert result.usage.total_tokens == 450
    assert result.turns[0].tool_results[0].usage == Usage(
        requests=1, prompt_tokens=100, completion_tokens=50, total_tokens=150
    )

    # The inner tokens count against the outer run's limits too.
    inner = Agent(FakeModel([Reply(content="inner answer", usage=spent)]))
    outer_model = FakeModel([Reply.tool_calls(("ask_expert", {"request": "what?"}), usage=spent)])
    limited = Agent(
        outer_model,
        tools=[inner.as_tool("ask_expert", "Ask.")],
        limits=UsageLimits(total_tokens=200),
    )
    with pytest.raises(UsageLimitExceeded, match="total_tokens") as raised:
        await limited.run("go")
    assert raised.value.result.usage.total_tokens == 300


async def test_function_model_sees_messages_and_tools() -> None:
    def answer(messages: list[Any], tools: list[dict[str, Any]]) -> Any:
        if isinstance(messages[-1], ToolMessage):
            return f"sum is {messages[-1].content}"
        return Reply.tool_calls((tools[0].name, {"a": 2, "b": 3}))

    result = await Agent(FunctionModel(answer), tools=[add]).run("go")
    assert result.output == "sum is 5"


async def test_settings_are_sent() -> None:
    model = FakeModel(["ok"])
    await Agent(model, settings=ModelSettings(max_tokens=50, seed=3)).run("go")
    assert (model.requests[0].settings.max_tokens, model.requests[0].settings.seed) == (50, 3)


def test_run_sync() -> None:
    result = Agent(FakeModel(["sync ok"])).run_sync("go")
    assert result.output == "sync ok"


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        Agent(FakeModel(), tools=[add, add])
    with pytest.raises(ValueError, match="reserved"):
        Agent(FakeModel(), tools=[tool(add.function, name="final_result")])
    with pytest.raises(ValueError, match="stop_at_tools names unknown tools: x"):
        Agent(FakeModel(), tools=[add], stop_at_tools=["x"])
    with pytest.raises(ValueError, match="max_turns"):
        Agent(FakeModel(), max_turns=0)


async def test_events_have_past_tense_kinds() -> None:
    assert RunEnded.__dataclass_fields__["kind"].default == "run_ended"
    assert TurnEnded.__dataclass_fields__["kind"].default == "turn_ended"
    assert ToolCallFinished.__dataclass_fields__["kind"].default == "tool_call_finished"


async def test_run_sync_inside_a_running_loop_says_to_await() -> None:
    """As in a Jupyter cell: anyio's own words ("Already running ...") say nothing useful."""
    from pydantic import BaseModel

    from agentkit import ConfigurationError, extract_sync

    class Number(BaseModel):
        value: int

    agent = Agent(FakeModel(["hi"]))
    with pytest.raises(ConfigurationError, match=r"use `await agent\.run\(\.\.\.\)`"):
        agent.run_sync("hi")
    with pytest.raises(ConfigurationError, match=r"`await extract\(\.\.\.\)`"):
        extract_sync(Number, "one", model=FakeModel([]))
