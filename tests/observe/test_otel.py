"""OpenTelemetry spans and metrics, read back from the SDK's in-memory exporters.

Runs go over real loopback HTTP (MockChatServer) so the spans carry what a real endpoint
gives: a server address and port, response ids, usage, and retries after a scripted 503.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

import agentkit
from agentkit import (
    Agent,
    ApprovalRequest,
    LoopPolicy,
    ModelSettings,
    PrivateFileError,
    RetryPolicy,
    extract,
    tool,
)
from agentkit.otel import uninstrument
from agentkit.testing import FakeModel, Fault, FunctionModel, MockChatServer, Reply

pytestmark = pytest.mark.anyio
KEY = "sk-otel-secret-0123456789"


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.tracer_provider = provider
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def metrics(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry(request: pytest.FixtureRequest) -> Iterator[Telemetry]:
    made = Telemetry()
    content = bool(getattr(request, "param", False))
    agentkit.instrument(made.tracer_provider, made.meter_provider, include_content=content)
    yield made
    uninstrument()


def slow_lookup(city: str) -> str:
    """Look a city up (a sync tool: it runs in a worker thread)."""
    time.sleep(0.05)
    return f"{city}: sunny ({threading.current_thread().name})"


@tool
async def broken(city: str) -> str:
    """Always fails."""
    raise RuntimeError(f"no data for {city}")


def weather_script() -> list[Any]:
    return [
        Fault.http(503, message="try again"),
        Reply.tool_calls(
            ("slow_lookup", {"city": "Oslo"}),
            ("slow_lookup", {"city": "Rome"}),
            ("broken", {"city": "Paris"}),
            chunk_size=8,
            chunk_delay=0.01,  # the calls arrive one by one, as from a real model
        ),
        Reply.text("Oslo and Rome are sunny; Paris is unknown."),
    ]


async def weather_run(server: MockChatServer, *, streamed: bool) -> Any:
    server.add(*weather_script())
    retry = RetryPolicy(max_retries=2, initial_delay=0.0, jitter=0.0)
    async with server.chat_model(api_key=KEY, retry=retry) as model:
        agent = Agent(
            model,
            name="weather",
            tools=[tool(slow_lookup), broken],
            settings=ModelSettings(max_tokens=300, temperature=0.2, seed=7),
        )
        if not streamed:
            return await agent.run("Weather in Oslo, Rome and Paris?")
        async with agent.stream("Weather in Oslo, Rome and Paris?") as run:
            async for _ in run:
                pass
        return run.result


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_two_turn_run_with_parallel_tools(telemetry: Telemetry, streamed: bool) -> None:
    with MockChatServer() as server:
        result = await weather_run(server, streamed=streamed)
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    assert result.output.startswith("Oslo and Rome")
    (run,) = telemetry.named("invoke_agent")
    chats = telemetry.named("chat")
    tools = telemetry.named("execute_tool")
    assert run.name == "invoke_agent weather"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "weather"
    assert [c.name for c in chats] == ["chat mock-model", "chat mock-model"]
    assert len(tools) == 3
    for child in (*chats, *tools):
        assert child.parent is not None
        assert child.parent.span_id == run.context.span_id  # tools too: under the run span
        assert child.context.trace_id == run.context.trace_id

    first = chats[0].attributes
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "openai"
    assert first["gen_ai.request.model"] == "mock-model"
    assert first["gen_ai.request.max_tokens"] == 300
    assert first["gen_ai.request.temperature"] == 0.2
    assert first["gen_ai.request.seed"] == 7
    assert first["server.address"] == "127.0.0.1"
    assert first["server.port"] == port
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first["gen_ai.usage.input_tokens"] > 0
    assert first["gen_ai.response.id"]
    (retry,) = [e for e in chats[0].events if e.name == "gen_ai.request.retry"]
    assert retry.attributes["error.type"] == "ServerError"
    assert retry.attributes["attempt"] == 1

    assert len({t.attributes["gen_ai.tool.call.id"] for t in tools}) == 3
    lookups = [t for t in tools if t.attributes["gen_ai.tool.name"] == "slow_lookup"]
    (failed,) = [t for t in tools if t.attributes["gen_ai.tool.name"] == "broken"]
    assert failed.attributes["error.type"] == "tool_error"
    assert failed.status.status_code.name == "ERROR"
    assert all(t.attributes["gen_ai.tool.type"] == "function" for t in tools)
    # the two sync tools ran at the same time: their spans overlap
    a, b = lookups
    assert a.start_time < b.end_time
    assert b.start_time < a.end_time
    if streamed:  # each call but the last is complete, and started, while the answer streams
        assert sum(t.start_time < chats[0].end_time for t in tools) >= 2


async def test_nothing_is_recorded_when_not_instrumented() -> None:
    made = Telemetry()
    agentkit.instrument(made.tracer_provider, made.meter_provider)
    uninstrument()
    with MockChatServer() as server:
        await weather_run(server, streamed=False)
    assert made.spans() == []
    assert made.metrics() == {}


async def test_an_agent_can_keep_out(telemetry: Telemetry) -> None:
    agent = Agent(FakeModel(["hi"]), instrument=False)
    await agent.run("hi")
    assert telemetry.spans() == []


async def test_an_agent_can_name_its_own_instruments(telemetry: Telemetry, tmp_path: Path) -> None:
    from agentkit._observe import Timeline

    path = tmp_path / "own.jsonl"
    agent = Agent(FakeModel(["hi"]), instrument=[Timeline(path)])
    await agent.run("hi")
    assert telemetry.spans() == []  # the process-wide instruments are not asked
    assert '"run_ended"' in path.read_text()


async def test_content_is_left_out_by_default(telemetry: Telemetry) -> None:
    with MockChatServer() as server:
        await weather_run(server, streamed=False)
    everything = json.dumps([dict(s.attributes or {}) for s in telemetry.spans()])
    assert "Oslo" not in everything
    assert "gen_ai.input.messages" not in everything


@pytest.mark.parametrize("telemetry", [True], indirect=True)
async def test_content_is_recorded_when_asked(telemetry: Telemetry) -> None:
    with MockChatServer() as server:
        await weather_run(server, streamed=False)
    first, second = (span.attributes for span in telemetry.named("chat"))
    assert json.loads(first["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Oslo, Rome and Paris?"}]}
    ]
    # #25: the GenAI conventions' {role, parts} records, not the Chat Completions wire shape.
    answer = json.loads(first["gen_ai.output.messages"])
    assert [m["role"] for m in answer] == ["assistant"]
    assert answer[0]["finish_reason"] == "tool_call"
    calls = [p for p in answer[0]["parts"] if p["type"] == "tool_call"]
    assert calls[0]["name"] == "slow_lookup"
    assert calls[0]["arguments"] == {"city": "Oslo"}  # JSON, not a string
    sent = json.loads(second["gen_ai.input.messages"])
    responses = [p for m in sent if m["role"] == "tool" for p in m["parts"]]
    assert {p["type"] for p in responses} == {"tool_call_response"}
    assert {p["id"] for p in responses} == {c["id"] for c in calls} | {p["id"] for p in responses}
    assert "tool_calls" not in first["gen_ai.output.messages"]  # no wire-shape keys
    lookup = next(s for s in telemetry.named("execute_tool") if "Oslo" in str(s.attributes))
    assert json.loads(lookup.attributes["gen_ai.tool.call.arguments"]) == {"city": "Oslo"}
    assert "sunny" in lookup.attributes["gen_ai.tool.call.result"]


@pytest.mark.parametrize("telemetry", [True], indirect=True)
async def test_no_api_key_anywhere_in_spans_or_metrics(telemetry: Telemetry) -> None:
    with MockChatServer() as server:
        await weather_run(server, streamed=False)
    spans = [s.to_json() for s in telemetry.spans()]
    assert spans
    assert all(KEY not in text for text in spans)
    assert KEY not in repr(telemetry.metrics())


async def test_denied_calls_are_marked(telemetry: Telemetry) -> None:
    @tool(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        return "deleted"

    def deny(request: ApprovalRequest) -> bool:
        return False

    model = FakeModel([Reply.tool_calls(("delete", {"path": "/etc"})), "not deleted"])
    await Agent(model, tools=[delete], approver=deny).run("delete it")
    (span,) = telemetry.named("execute_tool")
    assert span.attributes["error.type"] == "denied"


async def test_metrics_follow_the_conventions(telemetry: Telemetry) -> None:
    with MockChatServer() as server:
        await weather_run(server, streamed=False)
    found = telemetry.metrics()
    tokens = found["gen_ai.client.token.usage"]
    kinds = {p.attributes["gen_ai.token.type"] for p in tokens}
    assert kinds == {"input", "output"}
    assert all(p.attributes["gen_ai.operation.name"] == "chat" for p in tokens)
    durations = found["gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == 2  # one per logical request, retries inside
    assert all(p.attributes["gen_ai.request.model"] == "mock-model" for p in durations)


class City(BaseModel):
    name: str
    country: str


async def test_an_extraction_with_a_correction_round(telemetry: Telemetry) -> None:
    model = FakeModel(
        [
            Reply.tool_calls(("City", {"name": "Paris"})),
            Reply.tool_calls(("City", {"name": "Paris", "country": "France"})),
        ]
    )
    city = await extract(City, "Paris, France", model=model)
    assert city.country == "France"
    (run,) = telemetry.named("invoke_agent")
    assert run.name == "invoke_agent extract_City"
    chats = telemetry.named("chat")
    assert len(chats) == 2
    assert all(c.parent is not None and c.parent.span_id == run.context.span_id for c in chats)


async def test_a_streamed_extraction_is_traced(telemetry: Telemetry) -> None:
    from agentkit import Extractor

    answer = Reply.tool_calls(("City", {"name": "Paris", "country": "France"}))
    extractor = Extractor(City, model=FakeModel([answer]))
    values = [value async for value in extractor.stream("Paris, France")]
    assert values[-1] == City(name="Paris", country="France")
    (run,) = telemetry.named("invoke_agent")
    (chat,) = telemetry.named("chat")
    assert chat.parent is not None
    assert chat.parent.span_id == run.context.span_id
    assert run.status.status_code.name == "UNSET"


async def test_leaving_a_streamed_extraction_early_is_not_an_error(
    telemetry: Telemetry,
) -> None:
    from agentkit import Extractor

    answer = Reply.tool_calls(("City", {"name": "Paris", "country": "France" * 200}))
    answer = dataclasses.replace(answer, chunk_size=5)
    stream = Extractor(City, model=FakeModel([answer])).stream("Paris, France")
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    (run,) = telemetry.named("invoke_agent")
    (chat,) = telemetry.named("chat")  # the abandoned request ends too, not as a failure
    assert run.status.status_code.name == chat.status.status_code.name == "UNSET"


async def test_a_failed_request_marks_its_span_and_the_run(telemetry: Telemetry) -> None:
    with MockChatServer() as server:
        server.add(Fault.http(400, message="bad request"))
        async with server.chat_model(retry=RetryPolicy(max_retries=0)) as model:
            with pytest.raises(agentkit.BadRequestError):
                await Agent(model).run("hi")
    (chat,) = telemetry.named("chat")
    (run,) = telemetry.named("invoke_agent")
    assert chat.attributes["error.type"] == "BadRequestError"
    assert run.status.status_code.name == "ERROR"
    durations = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert durations[0].attributes["error.type"] == "BadRequestError"


async def test_a_small_batch_gives_each_item_a_span_over_its_run(
    telemetry: Telemetry, tmp_path: Any
) -> None:
    from agentkit.batch import run_batch

    model = FakeModel(["one", "two", "three"])
    agent = Agent(model, name="echo")
    records = [{"id": "a", "prompt": "1"}, {"id": "b", "prompt": "2"}, {"id": "c", "prompt": "3"}]
    summary = await run_batch(agent, records, journal=tmp_path / "j.journal", concurrency=1)
    assert summary.done == 3
    items = telemetry.named("batch_item")
    runs = telemetry.named("invoke_agent")
    assert sorted(s.attributes["agentkit.batch.item.id"] for s in items) == ["a", "b", "c"]
    assert len({s.context.trace_id for s in items}) == 3  # one trace per item
    for item in items:
        (run,) = [r for r in runs if r.context.trace_id == item.context.trace_id]
        assert run.parent is not None
        assert run.parent.span_id == item.context.span_id


async def test_a_tool_error_that_says_denied_is_not_a_denial(telemetry: Telemetry) -> None:
    @tool
    def read(path: str) -> str:
        """Read a file."""
        raise PermissionError(f"permission denied: {path}")

    model = FakeModel([Reply.tool_calls(("read", {"path": "/root/x"})), "no access"])
    await Agent(model, tools=[read]).run("read it")
    (span,) = telemetry.named("execute_tool")
    assert span.attributes["error.type"] == "tool_error"


@pytest.mark.parametrize("streamed", [False, True])
async def test_spans_are_current_for_the_work_they_cover(
    telemetry: Telemetry, streamed: bool
) -> None:
    """What runs inside a request or a tool call (an instrumented HTTP client, the tool's own
    spans, sync tools in their threads too) nests under that request's or call's span; the
    run's span is current for the run and no longer after it."""
    tracer = telemetry.tracer_provider.get_tracer("user code")

    def answer(messages: list[Any], tools: list[Any]) -> Any:
        with tracer.start_as_current_span("inside the request"):
            pass
        if messages[-1].role == "tool":
            return "done"
        return Reply.tool_calls(("fetch", {"url": "a"}), ("parse", {"text": "b"}))

    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        with tracer.start_as_current_span("inside fetch"):
            return url

    @tool
    def parse(text: str) -> str:
        """Parse a text (sync: a worker thread)."""
        with tracer.start_as_current_span("inside parse"):
            return text

    agent = Agent(FunctionModel(answer), name="nesting", tools=[fetch, parse])
    with tracer.start_as_current_span("outer") as outer:
        if streamed:
            async with agent.stream("go") as run:
                async for _ in run:
                    pass
        else:
            await agent.run("go")
        assert trace.get_current_span() is outer  # nothing of the run is left current

    by_name = {s.name: s for s in telemetry.spans()}
    (invoke,) = telemetry.named("invoke_agent")
    chats = telemetry.named("chat")
    assert invoke.parent is not None
    assert invoke.parent.span_id == outer.get_span_context().span_id
    inside_requests = telemetry.named("inside the request")
    assert [s.parent.span_id for s in inside_requests if s.parent] == [
        c.context.span_id for c in chats
    ]
    for tool_name in ("fetch", "parse"):
        call, inner = by_name[f"execute_tool {tool_name}"], by_name[f"inside {tool_name}"]
        assert inner.parent is not None
        assert inner.parent.span_id == call.context.span_id


@tool
async def hang(city: str) -> str:
    """Never answers (its run is cancelled while it waits)."""
    await anyio.sleep(60)
    return city


async def test_a_cancelled_tool_call_still_ends_its_span(telemetry: Telemetry) -> None:
    agent = Agent(FakeModel([Reply.tool_calls(("hang", {"city": "Oslo"}))]), tools=[hang])
    with anyio.move_on_after(0.2):
        await agent.run("go")
    (call,) = telemetry.named("execute_tool")
    (run,) = telemetry.named("invoke_agent")
    assert call.attributes["error.type"] == run.attributes["error.type"]
    assert call.status.status_code.name == "ERROR"
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_a_timeline_that_cannot_be_opened_leaves_no_span_open(
    telemetry: Telemetry, tmp_path: Any
) -> None:
    agent = Agent(FakeModel(["never asked"]))
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(PrivateFileError, match=r"run\.jsonl"):
        await agent.run("go", trace_to=tmp_path / "a-file" / "run.jsonl")
    (run,) = telemetry.named("invoke_agent")  # ended, not left open
    assert run.status.status_code.name == "ERROR"
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_a_tool_error_raised_out_of_the_run_ends_its_span(telemetry: Telemetry) -> None:
    model = FakeModel([Reply.tool_calls(("broken", {"city": "Oslo"}))])
    agent = Agent(model, tools=[broken], policy=LoopPolicy(raise_tool_errors=True))
    with pytest.raises(RuntimeError, match="no data for Oslo"):
        await agent.run("go")
    (call,) = telemetry.named("execute_tool")
    assert call.attributes["error.type"] == "RuntimeError"
    assert call.status.status_code.name == "ERROR"


def test_the_oldest_supported_sdk_works_too(tmp_path: Any) -> None:
    """The extra asks for opentelemetry-api >= 1.30 only: the newest runs in this suite, the
    oldest (1.30, with its own conventions package) in a process of its own."""
    import json as _json
    import os
    import subprocess
    import sys
    from pathlib import Path

    old = tmp_path / "otel-1.30"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(old),
         "opentelemetry-api==1.30.0", "opentelemetry-sdk==1.30.0"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(old), str(root)])}
    done = subprocess.run([sys.executable, "-m", "tests.otel_oldest"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = _json.loads(done.stdout)
    assert found["sdk"] == "1.30.0"
    assert found["spans"] == ["chat fake-model", "chat fake-model", "execute_tool add",
                              "invoke_agent agent"]  # fmt: skip


def test_media_and_reasoning_in_the_conventions_shape_never_carry_their_bytes() -> None:
    import base64

    from agentkit import (
        AssistantMessage,
        Image,
        ImagePart,
        TextPart,
        ToolCall,
        ToolMessage,
        UserMessage,
    )
    from agentkit._messages import Reasoning
    from agentkit._observe._genai import genai_input

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    image = Image.from_bytes(png)
    messages = [
        UserMessage(
            content=(
                TextPart(text="What is this?"),
                image,
                ImagePart(url="https://example.test/a.png"),
            )
        ),
        AssistantMessage(
            content=None,
            refusal="no",
            reasoning=(Reasoning(summary="looked"),),
            tool_calls=(ToolCall(id="c1", name="zoom", arguments="not json"),),
        ),
        ToolMessage(tool_call_id="c1", content="zoomed", parts=(image,)),
    ]
    shaped = genai_input(messages)
    text = json.dumps(shaped)
    assert image.data not in text  # bytes stay out of spans: only their size
    assert shaped[0]["parts"][1] == {"type": "blob", "modality": "image",
                                     "mime_type": "image/png", "content": f"[{image.size} bytes]"}  # fmt: skip
    assert shaped[0]["parts"][2]["type"] == "uri"
    kinds = [p["type"] for p in shaped[1]["parts"]]
    assert kinds == ["reasoning", "refusal", "tool_call"]
    assert shaped[1]["parts"][2]["arguments"] == "not json"  # kept as text when not JSON
    assert [p["type"] for p in shaped[2]["parts"]] == ["tool_call_response", "blob"]
