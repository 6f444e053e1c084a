"""FallbackModel: a chain of real HTTP servers on loopback, each with its own fault plan."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    Extractor,
    FallbackExhausted,
    OutputValidationError,
    ResponseCache,
    StreamInterrupted,
    UserMessage,
)
from agentkit.batch import run_batch
from agentkit.models import CircuitBreaker, FallbackModel, should_fall_back
from agentkit.models._base import ModelRequest
from agentkit.testing import Fault, MockChatServer, Reply, echo, flaky, tool_loop
from tests.loopback import chat, closes_models, made  # noqa: F401 (closes what they make)

pytestmark = pytest.mark.anyio


def user(text: str) -> UserMessage:
    return UserMessage(content=text)


def _closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _model(server: MockChatServer, name: str, **options: Any) -> Any:
    return chat(server, model=name, **options)


async def test_the_next_model_answers_when_the_first_fails_with_5xx() -> None:
    async with (
        MockChatServer([Fault.http(503)]) as first,
        MockChatServer([Reply.text("from b")]) as second,
    ):
        chain = FallbackModel(_model(first, "a"), _model(second, "b"))
        result = await Agent(chain).run("hi")
    assert result.output == "from b"
    assert [t.model for t in result.turns] == ["openai:b"]
    assert set(result.usage_by_model()) == {"openai:b"}
    assert len(first.requests) == 1
    assert len(second.requests) == 1
    assert second.requests[0].body["model"] == "b"  # each model sends its own name


async def test_the_primary_answering_is_named_and_the_rest_are_not_asked() -> None:
    async with MockChatServer([Reply.text("a says")]) as first, MockChatServer() as second:
        completion = await FallbackModel(_model(first, "a"), _model(second, "b")).complete(
            ModelRequest(messages=[user("hi")])
        )
    assert completion.served_by == "openai:a"
    assert completion.message.content == "a says"
    assert second.requests == []


@pytest.mark.parametrize(
    ("fault", "falls_back"),
    [
        (Fault.http(500), True),
        (Fault.http(529), True),
        (Fault.http(429, retry_after=0), True),
        (Fault.http(404, message="model not found"), True),
        (Fault.http(403, style="aimlapi", message="Insufficient credits to run this model"), True),
        (Fault.http(403, message="this key may not use that model"), False),
        (Fault.http(400, code="context_length_exceeded", message="too long"), True),
        (Fault.http(400, message="messages[0].role is invalid"), False),
        (Fault.http(401, message="bad key"), False),
        (Fault.reset(), True),
        (Fault.malformed_json(), True),
    ],
)
async def test_which_errors_fall_back(fault: Fault, falls_back: bool) -> None:
    async with MockChatServer([fault]) as first, MockChatServer([Reply.text("b")]) as second:
        chain = FallbackModel(_model(first, "a"), _model(second, "b"))
        if falls_back:
            assert (await Agent(chain).run("hi")).output == "b"
        else:
            with pytest.raises((BadRequestError, AuthenticationError, Exception)) as caught:
                await Agent(chain).run("hi")
            assert not isinstance(caught.value, FallbackExhausted)
            assert second.requests == []  # it would fail everywhere: not passed on


async def test_every_model_failing_lists_each_failure_and_keeps_the_partial_run() -> None:
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    script = [Reply.tool_calls(("add", {"a": 1, "b": 2})), Fault.http(503, message="x" * 5000)]
    async with MockChatServer(script) as first:
        chain = FallbackModel(_model(first, "a"), _model_at(_closed_port_url(), "b"))
        with pytest.raises(FallbackExhausted) as caught:
            await Agent(chain, tools=[add]).run("add 1 and 2")
    error = caught.value
    assert [label for label, _ in error.failures] == ["openai:a", "openai:b"]
    assert "openai:a: ServerError" in str(error)
    assert "openai:b: ModelConnectionError" in str(error)
    assert len(str(error)) < 1500  # each model's error is cut short
    assert error.result is not None  # the tool turn before the failure is kept
    assert [m.role for m in error.result.new_messages] == ["user", "assistant", "tool"]


async def test_a_stream_falls_back_before_its_first_delta_only() -> None:
    async with (
        MockChatServer([Fault.http(502)]) as first,
        MockChatServer([Reply.text("streamed b")]) as second,
    ):
        agent = Agent(FallbackModel(_model(first, "a"), _model(second, "b")))
        run = await _drain(agent)
        assert run.result.output == "streamed b"
        assert run.result.turns[0].model == "openai:b"

    cut = Fault.cut_stream(Reply.text("a long answer that breaks"), after_events=3)
    async with MockChatServer([cut]) as first, MockChatServer([Reply.text("b")]) as second:
        agent = Agent(FallbackModel(_model(first, "a"), _model(second, "b")))
        with pytest.raises(StreamInterrupted):  # deltas reached the caller: its error
            await _drain(agent)
        assert second.requests == []


async def _drain(agent: Agent[Any]) -> Any:
    async with agent.stream("hi") as run:
        async for _ in run:
            pass
    return run


async def test_an_open_circuit_skips_the_dead_model_until_its_probe() -> None:
    breaker = CircuitBreaker(failures=2, window=60, cooldown=0.5)
    async with (
        MockChatServer(responder=lambda r: Fault.http(503)) as first,
        MockChatServer(responder=echo) as second,
    ):
        chain = FallbackModel(_model(first, "a"), _model(second, "b"), circuit=breaker)
        agent = Agent(chain)
        for _ in range(5):
            assert (await agent.run("hi")).output == "hi"
        assert len(first.requests) == 2  # then its circuit opened: no request, no wait
        assert len(second.requests) == 5
        await anyio.sleep(0.6)
        await agent.run("hi")
        assert len(first.requests) == 3  # half-open: one probe, which failed
        await agent.run("hi")
        assert len(first.requests) == 3  # open again


async def test_a_probe_that_succeeds_closes_the_circuit() -> None:
    breaker = CircuitBreaker(failures=1, window=60, cooldown=0.3)
    async with (
        MockChatServer([Fault.http(500)], responder=echo) as first,
        MockChatServer(responder=echo) as second,
    ):
        agent = Agent(FallbackModel(_model(first, "a"), _model(second, "b"), circuit=breaker))
        assert (await agent.run("one")).turns[0].model == "openai:b"
        assert (await agent.run("two")).turns[0].model == "openai:b"  # skipped
        await anyio.sleep(0.4)
        assert (await agent.run("three")).turns[0].model == "openai:a"  # the probe answered
        assert (await agent.run("four")).turns[0].model == "openai:a"


async def test_every_circuit_open_fails_at_once_saying_so() -> None:
    breaker = CircuitBreaker(failures=1, window=60, cooldown=60)
    chain = FallbackModel(
        *(_model_at(_closed_port_url(), name) for name in ("a", "b")),
        circuit=breaker,
    )
    with pytest.raises(FallbackExhausted):
        await Agent(chain).run("hi")
    started = time.perf_counter()
    with pytest.raises(FallbackExhausted) as caught:
        await Agent(chain).run("hi")
    assert "circuit is open" in str(caught.value)
    assert time.perf_counter() - started < 5  # no request was tried (not a speed claim)


def _model_at(base_url: str, name: str) -> Any:
    from agentkit import ChatModel

    return made(ChatModel(model=name, base_url=base_url, api_key="k", max_retries=0))


class City(BaseModel):
    name: str
    population: int


async def test_output_that_stays_invalid_goes_on_to_the_next_model() -> None:
    bad = Reply.tool_calls(("final_result", {"name": "Paris", "population": "many"}))
    good = Reply.tool_calls(("final_result", {"name": "Paris", "population": 2100000}))
    async with MockChatServer([bad, bad]) as first, MockChatServer([good]) as second:
        chain = FallbackModel(_model(first, "weak"), _model(second, "strong"))
        from agentkit import LoopPolicy

        agent = Agent(chain, output_type=City, policy=LoopPolicy(output_retries=1))
        result = await agent.run("Paris?")
    assert result.output == City(name="Paris", population=2100000)
    assert [t.model for t in result.turns] == ["openai:weak", "openai:weak", "openai:strong"]
    assert result.usage_by_model()["openai:weak"].requests == 2


async def test_invalid_output_fails_as_before_when_the_chain_says_so() -> None:
    bad = Reply.tool_calls(("final_result", {"name": "Paris", "population": "many"}))
    async with MockChatServer([bad, bad]) as first, MockChatServer() as second:
        chain = FallbackModel(
            _model(first, "weak"), _model(second, "strong"), on_invalid_output=False
        )
        from agentkit import LoopPolicy

        with pytest.raises(OutputValidationError):
            await Agent(chain, output_type=City, policy=LoopPolicy(output_retries=1)).run("?")
    assert second.requests == []


async def test_an_extraction_that_stays_invalid_goes_on_to_the_next_model() -> None:
    bad = Reply.tool_calls(("City", {"name": "Paris", "population": "many"}))
    good = Reply.tool_calls(("City", {"name": "Paris", "population": 2}))
    async with MockChatServer([bad, bad]) as first, MockChatServer([good]) as second:
        chain = FallbackModel(_model(first, "weak"), _model(second, "strong"))
        extraction = await Extractor(City, model=chain, max_retries=1, mode="tool").run("Paris")
    assert extraction.value.population == 2
    assert [a.model for a in extraction.attempts] == ["openai:weak", "openai:weak", "openai:strong"]


async def test_each_fallback_is_told_to_on_retry_as_a_retry() -> None:
    heard: list[tuple[int, str, float]] = []

    async def on_retry(attempt: int, error: BaseException, wait: float) -> None:
        heard.append((attempt, type(error).__name__, wait))

    async with (
        MockChatServer([Fault.http(503)]) as first,
        MockChatServer([Reply.text("ok")]) as second,
    ):
        chain = FallbackModel(_model(first, "a"), _model(second, "b"))
        await chain.complete(ModelRequest(messages=[user("hi")], on_retry=on_retry))
    assert heard == [(1, "ServerError", 0.0)]


async def test_the_cache_keys_an_answer_by_the_model_that_gave_it(tmp_path: Any) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    async with (
        MockChatServer([Fault.http(503)], responder=echo) as first,
        MockChatServer(responder=echo) as second,
    ):
        chain = cache.wrap(FallbackModel(_model(first, "a"), _model(second, "b"), circuit=None))
        assert isinstance(chain, FallbackModel)
        assert (await Agent(chain).run("hello")).turns[0].model == "openai:b"
        first_answers = len(first.requests)
        assert (await Agent(chain).run("hello")).turns[0].model == "openai:a"  # a is asked again
        assert (await Agent(chain).run("hello")).turns[0].model == "openai:a"  # now from a's cache
        assert len(first.requests) == first_answers + 1


async def test_a_bad_chain_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        FallbackModel(*[])
    model = _model_at("http://127.0.0.1:9/v1", "a")
    with pytest.raises(ConfigurationError, match="twice"):
        FallbackModel(model, model)
    chain = FallbackModel(model, _model_at("http://127.0.0.1:9/v1", "b"))
    with pytest.raises(ConfigurationError, match="twice"):
        FallbackModel(chain, chain)  # a chain containing itself
    with pytest.raises(ConfigurationError, match="at least one"):
        Agent([])
    with pytest.raises(ConfigurationError):
        CircuitBreaker(failures=0)


async def test_a_list_of_model_strings_is_a_chain_planned_for_its_weakest_member() -> None:
    agent = Agent(["openai:gpt-4.1", "ollama:llama3.2"])
    assert isinstance(agent.model, FallbackModel)
    assert agent.model.labels == ("openai:gpt-4.1", "ollama:llama3.2")
    ollama_json_schema = Agent("ollama:llama3.2").profile.json_schema
    assert agent.profile.json_schema == ollama_json_schema
    nested = FallbackModel(agent.model, "groq:llama-3.3-70b-versatile")
    assert nested.labels[-1] == "groq:llama-3.3-70b-versatile"
    assert len(nested.labels) == 3


async def test_the_default_rule_is_a_plain_function_users_can_extend() -> None:
    assert should_fall_back(TimeoutError()) is False  # not a model error: not ours to judge
    custom = FallbackModel(
        "openai:gpt-4.1", "ollama:llama3.2", fall_back_on=lambda e: should_fall_back(e)
    )
    assert custom.fall_back_on(TimeoutError()) is False


async def test_a_batch_over_a_dead_a_flaky_and_a_healthy_server_finishes_every_item(
    tmp_path: Any,
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(f'{{"id": "{i}", "prompt": "item {i}"}}\n' for i in range(120)))
    async with (
        MockChatServer(responder=flaky(echo, 0.3, seed=7)) as shaky,
        MockChatServer(responder=tool_loop(0)) as healthy,
    ):
        chain = FallbackModel(
            _model_at(_closed_port_url(), "dead"),
            _model(shaky, "shaky"),
            _model(healthy, "healthy"),
            circuit=CircuitBreaker(failures=3, window=60, cooldown=600),
        )
        # One at a time: the seeded failures then fall on the same requests every run.
        summary = await run_batch(
            Agent(chain), items, journal=tmp_path / "j.sqlite3", concurrency=1
        )
    assert summary.done == 120
    assert summary.failed == 0
    assert sum(summary.models.values()) == 120
    assert "openai:dead" not in summary.models  # it never answered
    assert summary.models["openai:shaky"] > 0
    assert summary.models["openai:healthy"] > 0  # what the flaky one failed, and after its
    # circuit opened (three failures in a row), everything
    assert len(shaky.requests) - summary.models["openai:shaky"] >= 3


async def test_a_chain_may_mix_the_two_dialects() -> None:
    async with (
        MockChatServer([Fault.http(500)]) as first,
        MockChatServer([Reply.text("from responses")]) as second,
    ):
        responses = second.responses_model(model="r", max_retries=0)
        made(responses)
        result = await Agent(FallbackModel(_model(first, "chat"), responses)).run("hi")
    assert result.output == "from responses"
    assert second.requests[0].path.endswith("/responses")
    assert first.requests[0].path.endswith("/chat/completions")


async def test_spans_and_the_timeline_name_the_model_that_answered(tmp_path: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit._observe import Timeline
    from agentkit._observe._trace_view import read_events, render
    from agentkit.otel import OpenTelemetryInstrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    timeline = Timeline(tmp_path / "run.jsonl")
    async with (
        MockChatServer([Fault.http(503)]) as first,
        MockChatServer([Reply.text("b")]) as second,
    ):
        chain = FallbackModel(_model(first, "a"), _model(second, "b"))
        agent = Agent(chain, instrument=[OpenTelemetryInstrument(provider, None, False), timeline])
        await agent.run("hi")
    chat = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert chat[0].attributes is not None
    assert chat[0].attributes["agentkit.model.served_by"] == "openai:b"
    events = read_events((tmp_path / "run.jsonl").read_text().splitlines())
    ended = [e for e in events if e["event"] == "request_ended"]
    assert ended[0]["served_by"] == "openai:b"
    assert any(e["event"] == "request_retried" for e in events)  # the fallback, as a retry
    assert "openai:b" in render(events)


async def test_a_flaky_responder_fails_the_same_requests_on_every_run() -> None:
    def outcomes(seed: int) -> list[str]:
        respond = flaky(echo, 0.3, seed=seed)
        request: Any = type("R", (), {"messages": [{"role": "user", "content": "x"}]})()
        return [type(respond(request)).__name__ for _ in range(200)]

    assert outcomes(3) == outcomes(3)
    assert 30 < outcomes(3).count("Fault") < 90
    with pytest.raises(ValueError, match="share"):
        flaky(echo, 1.5)


async def test_a_rate_gate_charges_each_model_asked() -> None:
    from agentkit.models import RateLimitedModel

    class CountingGate:
        def __init__(self) -> None:
            self.entered = 0
            self.left: list[int] = []

        async def enter(self, payload_bytes: int) -> Any:
            self.entered += 1
            return self.entered

        def leave(self, ticket: Any, tokens: int, retry_after: float | None) -> None:
            self.left.append(ticket)

    gate = CountingGate()
    async with (
        MockChatServer([Fault.http(503)]) as first,
        MockChatServer([Reply.text("b")]) as second,
    ):
        limited = RateLimitedModel(FallbackModel(_model(first, "a"), _model(second, "b")), gate)
        result = await Agent(limited).run("hi")
    assert result.output == "b"
    assert gate.entered == 2  # the fallback's request passed the gate too
    assert sorted(gate.left) == [1, 2]  # each pass left once


async def test_a_deferred_run_resumes_on_the_chain() -> None:
    from agentkit import DEFER

    def pay(amount: int) -> str:
        """Pay.

        Args:
            amount: How much.
        """
        return f"paid {amount}"

    from agentkit import tool as make_tool

    paying = make_tool(pay, requires_approval=True)
    script = [Reply.tool_calls(("pay", {"amount": 3}))]
    async with (
        MockChatServer([Fault.http(503), Reply.text("done")]) as first,
        MockChatServer(script) as second,
    ):
        chain = FallbackModel(_model(first, "a"), _model(second, "b"), circuit=None)
        agent = Agent(chain, tools=[paying], approver=DEFER)
        stopped = await agent.run("pay 3")
        assert stopped.pending is not None
        resumed = await agent.resume(stopped.pending, {"call_1": True})
    assert resumed.output == "done"
    assert [t.model for t in resumed.turns] == ["openai:a"]  # the chain again, primary first
