"""What runs cost: AI/ML API's reported charges, estimates from the price table, budgets for
runs and batches, and the request ids that join a run to the provider's logs. Against a real
loopback server that reports charges as AI/ML API does."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentkit import (
    Agent,
    ChatModel,
    ConfigurationError,
    PermissionDeniedError,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
)
from agentkit.models._base import ModelRequest
from agentkit.models._cost import estimated_usd, reported_usd
from agentkit.testing import Fault, MockChatServer, Reply
from tests.loopback import chat, closes_models, made  # noqa: F401 (closes what chat makes)

pytestmark = pytest.mark.anyio
CLIENT_ID = re.compile(r"^ak-[0-9a-f]{9,}-\d+$")


def lookup(city: str) -> str:
    """Look a city up.

    Args:
        city: The city.
    """
    return f"{city}: sunny"


def _always_calls(request: Any) -> Reply:
    return Reply.tool_calls(("lookup", {"city": "Oslo"}))


# -- reported -----------------------------------------------------------------------------


async def test_reported_charges_add_up_over_a_tool_loop() -> None:
    script = [Reply.tool_calls(("lookup", {"city": "Oslo"})), Reply.text("sunny")]
    async with MockChatServer(script, usd_per_request="0.0021") as server:
        result = await Agent(chat(server), tools=[lookup]).run("weather?")
    assert result.usage.cost == Decimal("0.0042")
    assert result.usage.cost_source == "reported"
    assert [t.usage.cost for t in result.turns] == [Decimal("0.0021")] * 2
    ids = [r.client_request_id for r in server.requests]
    assert all(i is not None and CLIENT_ID.match(i) for i in ids)
    assert ids[0] != ids[1]
    assert ids[0].rsplit("-", 1)[0] == ids[1].rsplit("-", 1)[0]  # one run, two turns


async def test_a_streamed_answer_reports_its_charge_in_the_last_chunk() -> None:
    server = MockChatServer([Reply.text("streamed")], usd_per_request="0.0007")
    async with server, Agent(chat(server)).stream("hi") as run:
        async for _ in run:
            pass
    assert run.result.usage.cost == Decimal("0.0007")  # the chunks' `obfuscation` is ignored
    assert run.result.usage.cost_source == "reported"


async def test_the_providers_request_id_is_kept() -> None:
    async with MockChatServer([Reply.text("x")], usd_per_request="0.001") as server:
        completion = await chat(server).complete(
            ModelRequest(messages=[UserMessage(content="hi")], client_request_id="mine:1.a_b-c")
        )
    assert completion.request_id == "inf-mock-1"
    assert server.requests[0].client_request_id == "mine:1.a_b-c"


async def test_a_model_used_directly_names_its_requests_and_refuses_a_bad_name() -> None:
    async with MockChatServer([Reply.text("x")]) as server:
        model = chat(server)
        await model.complete(ModelRequest(messages=[UserMessage(content="hi")]))
        assert re.fullmatch(r"ak-[0-9a-f]{16}", server.requests[0].client_request_id or "")
        with pytest.raises(ConfigurationError, match="A-Za-z0-9"):
            await model.complete(
                ModelRequest(messages=[UserMessage(content="hi")], client_request_id="no spaces")
            )
        assert len(server.requests) == 1


@pytest.mark.parametrize("header", ["abc", "-0.5", "1e9", "NaN", "Infinity", "", "0x10", "1" * 40])
async def test_a_garbled_charge_is_ignored_never_a_crash(header: str) -> None:
    assert reported_usd(header) is None
    usage = Usage(requests=1)
    assert (usage + usage).cost is None


async def test_sane_charges_are_read_exactly() -> None:
    assert reported_usd("0.000123") == Decimal("0.000123")
    assert reported_usd(0) == Decimal(0)
    assert reported_usd(True) is None


# -- estimated, unknown, mixed ------------------------------------------------------------


async def test_without_a_reported_charge_the_price_table_estimates() -> None:
    from genai_prices import Usage as Counted
    from genai_prices import calc_price

    async with MockChatServer([Reply.text("x", usage={
        "prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
        "prompt_tokens_details": {"cached_tokens": 400},
    })]) as server:  # fmt: skip
        result = await Agent(chat(server, model="gpt-4.1", provider="openai")).run("hi")
    expected = calc_price(
        Counted(input_tokens=1000, output_tokens=200, cache_read_tokens=400),
        model_ref="gpt-4.1", provider_id="openai",
    ).total_price  # fmt: skip
    assert result.usage.cost == expected
    assert result.usage.cost_source == "estimated"


async def test_an_unknown_model_has_an_unknown_cost_never_zero() -> None:
    async with MockChatServer([Reply.text("x")]) as server:
        result = await Agent(chat(server, model="house-model-7")).run("hi")
    assert result.usage.cost is None
    assert result.usage.cost_source == "unknown"
    assert estimated_usd("ollama", "llama3.2", Usage(requests=1, prompt_tokens=5)) is None


async def test_sums_of_different_sources_say_mixed() -> None:
    reported = Usage(requests=1, cost=Decimal("0.01"), cost_source="reported")
    unknown = Usage(requests=1)
    assert (reported + unknown).cost_source == "mixed"
    assert (reported + unknown).cost == Decimal("0.01")
    assert (Usage() + reported).cost_source == "reported"  # nothing counted: no change
    assert (reported + reported).cost_source == "reported"


# -- budgets ------------------------------------------------------------------------------


async def test_a_run_stops_before_a_request_that_would_pass_its_budget() -> None:
    async with MockChatServer(responder=_always_calls, usd_per_request="0.01") as server:
        agent = Agent(chat(server), tools=[lookup], limits=UsageLimits(cost="0.025"))
        with pytest.raises(UsageLimitExceeded, match="would be passed") as caught:
            await agent.run("loop")
    assert len(server.requests) == 2  # a third would have made 0.03
    error = caught.value
    assert error.limit == "cost"
    assert error.value == Decimal("0.025")
    assert error.result is not None
    assert error.result.usage.cost == Decimal("0.02")
    assert len(error.result.turns) == 2  # the partial work is kept


async def test_a_run_stops_after_a_request_that_passed_its_budget() -> None:
    async with MockChatServer([Reply.text("dear answer")], usd_per_request="0.05") as server:
        agent = Agent(chat(server), limits=UsageLimits(cost=0.01))
        with pytest.raises(UsageLimitExceeded, match="exceeded") as caught:
            await agent.run("hi")
    assert caught.value.result is not None
    assert caught.value.result.messages[-1].content == "dear answer"


async def test_a_budget_cannot_be_kept_when_costs_are_unknown() -> None:
    async with MockChatServer(responder=_always_calls) as server:
        agent = Agent(chat(server, model="house-model"), tools=[lookup],
                      limits=UsageLimits(cost=1))  # fmt: skip
        with pytest.raises(UsageLimitExceeded, match=r"cannot be kept.*agentkit-loop\[prices\]"):
            await agent.run("loop")
    assert len(server.requests) == 1


@pytest.mark.parametrize("bad", [0, -1, "abc", "NaN", float("inf")])
async def test_a_budget_of_zero_or_less_is_a_configuration_error(bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        UsageLimits(cost=bad)


# -- the provider's errors ----------------------------------------------------------------


async def test_out_of_credits_is_not_retried_and_says_what_to_do() -> None:
    fault = Fault.http(403, style="aimlapi", message="Insufficient credits to run this model")
    async with MockChatServer([fault]) as server:
        with pytest.raises(PermissionDeniedError, match=r"out of credits.*not retried"):
            await Agent(chat(server, max_retries=3)).run("hi")
    assert len(server.requests) == 1


# -- what is shown ------------------------------------------------------------------------


async def test_spans_timeline_and_page_show_the_cost(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit._observe import Timeline
    from agentkit._observe._trace_view import read_events, render
    from agentkit.otel import OpenTelemetryInstrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace = tmp_path / "run.jsonl"
    instruments = [OpenTelemetryInstrument(provider, None, False), Timeline(trace)]
    async with MockChatServer([Reply.text("x")], usd_per_request="0.0031") as server:
        await Agent(chat(server), instrument=instruments).run("hi")
    spans = {s.name.split(" ")[0]: s.attributes or {} for s in exporter.get_finished_spans()}
    assert spans["chat"]["agentkit.cost.usd"] == pytest.approx(0.0031)
    assert spans["chat"]["agentkit.cost.source"] == "reported"
    assert spans["chat"]["agentkit.response.request_id"] == "inf-mock-1"
    assert CLIENT_ID.match(str(spans["chat"]["agentkit.request.client_id"]))
    assert spans["invoke_agent"]["agentkit.cost.usd"] == pytest.approx(0.0031)
    events = read_events(trace.read_text().splitlines())
    assert events[-1]["usage"]["cost"] == "0.0031"
    assert "$0.0031 (reported)" in render(events)


# -- batches ------------------------------------------------------------------------------


async def test_a_batch_stops_handing_out_items_at_its_budget(tmp_path: Path) -> None:
    from agentkit.batch import run_batch

    items = tmp_path / "items.jsonl"
    items.write_text("".join(f'{{"id": "{n}", "prompt": "p{n}"}}\n' for n in range(20)))
    async with MockChatServer(
        responder=lambda r: Reply.text("ok"), usd_per_request="0.01"
    ) as server:
        agent = Agent(chat(server))
        summary = await run_batch(
            agent, items, journal=tmp_path / "j.sqlite3", concurrency=1, budget="0.05"
        )
        assert summary.budget_reached
        assert summary.done == 5
        assert summary.remaining == 15
        assert summary.cost_usd == pytest.approx(0.05)
        assert summary.projected_usd == pytest.approx(0.20)
        rows = (tmp_path / "j.sqlite3").exists()
        assert rows
        again = await run_batch(
            agent, items, journal=tmp_path / "j.sqlite3", concurrency=1, budget="0.08",
            resume=True,
        )  # fmt: skip
    assert again.done == 8  # the budget is the batch's, across runs
    assert again.cost_usd == pytest.approx(0.08)


async def test_a_bad_batch_budget_is_a_configuration_error(tmp_path: Path) -> None:
    from agentkit.batch import run_batch

    for bad in ("0", "-2", "lots"):
        with pytest.raises(ConfigurationError, match="budget"):
            await run_batch(Agent(_chat_nowhere()), [], journal=tmp_path / f"{bad}.j", budget=bad)


def _chat_nowhere() -> Any:
    return made(ChatModel(base_url="http://127.0.0.1:9/v1", api_key="k", model="m"))


async def test_a_sessions_runs_add_up_their_cost(tmp_path: Path) -> None:
    from agentkit import SQLiteSession

    store = tmp_path / "sessions.sqlite3"
    async with MockChatServer(responder=lambda r: Reply.text("ok"), usd_per_request="0.004") as s:
        agent = Agent(chat(s))
        session = SQLiteSession(store, "talk")
        await agent.run("one", session=session)
        async with agent.stream("two", session=session) as run:
            async for _ in run:
                pass
    total = SQLiteSession(store, "talk").usage()
    assert total.requests == 2
    assert total.cost == Decimal("0.008")
    assert total.cost_source == "reported"


async def test_a_server_may_bill_only_some_model_names() -> None:
    script = [Reply.text("a"), Reply.text("b")]
    async with MockChatServer(script, usd_per_request="0.002", billed_models={"billed"}) as s:
        billed = await Agent(chat(s, model="billed")).run("hi")
        free = await Agent(chat(s, model="house-model")).run("hi")
    assert billed.usage.cost == Decimal("0.002")
    assert free.usage.cost is None
