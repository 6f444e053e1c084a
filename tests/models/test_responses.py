"""The Responses dialect (`/v1/responses`): a tool loop on the local server, plain and
streamed, reasoning replayed statelessly, every request valid against OpenAI's published
Responses schema, and the official openai SDK reading what the server sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentkit import (
    Agent,
    ModelConfigurationError,
    ModelRequest,
    ModelResponseError,
    ModelSettings,
    ModelStreamError,
    UserMessage,
    tool,
)
from agentkit.models import ResponsesModel, infer_model
from agentkit.testing import Fault, MockChatServer, Reply, ScriptedCall
from tests.spec import request_problems

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.fixture
def server() -> Iterator[MockChatServer]:
    with MockChatServer(validate=request_problems) as running:
        yield running
    assert running.validation_errors == []


def reasoning_script() -> list[Reply]:
    calls = Reply.tool_calls(("add", {"a": 2, "b": 3}), ("add", {"a": 1, "b": 1}), chunk_size=4)
    return [Reply(calls=calls.calls, reasoning="Two sums to do.", chunk_size=4),
            Reply.text("5 and 2.", reasoning="Both came back.")]  # fmt: skip


async def drain(model: ResponsesModel, request: ModelRequest) -> None:
    async with model.stream(request) as deltas:
        async for _ in deltas:
            pass


async def run(agent: Agent[Any], stream: bool) -> Any:
    if not stream:
        return await agent.run("2+3, and 1+1?")
    async with agent.stream("2+3, and 1+1?") as running:
        async for _ in running:
            pass
    return running.result


@pytest.mark.parametrize("stream", [False, True])
async def test_a_reasoning_tool_loop_replays_its_reasoning(
    server: MockChatServer, stream: bool
) -> None:
    server.add(*reasoning_script())
    async with server.responses_model(model="gpt-5.4") as model:
        result = await run(Agent(model, tools=[add]), stream)
    assert result.output == "5 and 2."
    results = [m.content for m in result.messages if m.role == "tool"]
    assert results == ["5", "2"], results
    (thought,) = result.messages[1].reasoning
    assert (thought.id, thought.summary) == ("rs_mock_1", "Two sums to do.")
    first, second = (r.body for r in server.requests)
    assert server.requests[0].path == "/v1/responses"
    assert first["store"] is False
    assert first["include"] == ["reasoning.encrypted_content"]
    assert first["tools"][0] == {"type": "function", "name": "add", "strict": True,
                                 "description": "Add two numbers.",
                                 "parameters": add.definition().parameters}  # fmt: skip
    replayed = [item for item in second["input"] if item.get("type") == "reasoning"]
    assert replayed == [{"type": "reasoning", "id": "rs_mock_1",
                         "summary": [{"type": "summary_text", "text": "Two sums to do."}],
                         "encrypted_content": thought.encrypted_content}]  # fmt: skip
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == ["call_1", "call_2"]
    assert result.usage.reasoning_tokens == 8
    assert result.messages_json()  # reasoning survives the JSON round trip


async def test_forced_tools_structured_output_and_limits_on_the_wire(
    server: MockChatServer,
) -> None:
    from pydantic import BaseModel

    class Sum(BaseModel):
        total: int

    server.add(Reply.tool_calls(("final_result", {"total": 5})))
    async with server.responses_model() as model:
        agent = Agent(model, output_type=Sum, settings=ModelSettings(max_tokens=50,
                                                                     reasoning_effort="low"))  # fmt: skip
        result = await agent.run("2+3?")
    assert result.output == Sum(total=5)
    body = server.requests[0].body
    assert body["tool_choice"] == "required"  # the output tool: required, then relaxed
    assert body["max_output_tokens"] == 50
    assert body["reasoning"] == {"effort": "low"}


async def test_an_incomplete_answer_ends_like_a_length_cut(server: MockChatServer) -> None:
    server.add(Reply(content="half an ans", finish_reason="length"))
    async with server.responses_model() as model:
        completion = await model.complete(ModelRequest(messages=[UserMessage(content="hi")]))
    assert completion.choices[0].finish_reason == "length"
    assert completion.message.content == "half an ans"


async def test_a_failed_stream_is_a_typed_error(server: MockChatServer) -> None:
    server.add(Fault.stream_error(Reply.text("never whole"), after_events=2))
    async with server.responses_model() as model:
        with pytest.raises(ModelStreamError):
            await drain(model, ModelRequest(messages=[UserMessage(content="hi")]))


async def test_n_above_one_is_refused_before_sending(server: MockChatServer) -> None:
    async with server.responses_model() as model:
        with pytest.raises(ModelConfigurationError, match="one answer per request"):
            await model.complete(
                ModelRequest(messages=[UserMessage(content="hi")], settings=ModelSettings(n=2))
            )
    assert server.requests == []


async def test_duplicate_call_ids_are_refused(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(ScriptedCall("add", '{"a":1,"b":1}', id="c"),
                                ScriptedCall("add", '{"a":9,"b":9}', id="c")))  # fmt: skip
    async with server.responses_model() as model:
        with pytest.raises(ModelResponseError, match="'c'"):
            await Agent(model, tools=[add]).run("add")


def test_the_model_string_picks_the_dialect() -> None:
    env = {"OPENAI_API_KEY": "k", "AIMLAPI_API_KEY": "k"}
    for spec in ("openai:gpt-5.4", "openai:o3", "openai:gpt-5-codex", "aimlapi:openai/gpt-5-4"):
        assert isinstance(infer_model(spec, environ=env), ResponsesModel), spec
    for spec in ("openai:gpt-4.1", "aimlapi:openai/gpt-5-2-chat-latest", "ollama:llama3.2"):
        assert not isinstance(infer_model(spec, environ=env), ResponsesModel), spec
    assert isinstance(infer_model("openai:gpt-4.1", environ=env, api="responses"), ResponsesModel)
    assert not isinstance(infer_model("openai:gpt-5.4", environ=env, api="chat"), ResponsesModel)


async def test_the_openai_sdk_reads_the_servers_responses() -> None:
    """The official client parses what the test server sends, plain and streamed."""
    import openai

    with MockChatServer() as server:
        server.add(*reasoning_script(), *reasoning_script())
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        plain = await client.responses.create(model="m", input="hi")
        calls = [item for item in plain.output if item.type == "function_call"]
        assert [c.call_id for c in calls] == ["call_1", "call_2"]
        assert plain.output[0].type == "reasoning"
        final = await client.responses.create(model="m", input="again")
        assert final.output_text == "5 and 2."
        kinds = []
        async with client.responses.stream(model="m", input="hi") as stream:
            async for event in stream:
                kinds.append(event.type)
            done = await stream.get_final_response()
        await client.close()
    assert kinds[0] == "response.created"
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed"
    assert [i.type for i in done.output] == ["reasoning", "function_call", "function_call"]


# -- reasoning on Chat Completions (DeepSeek, Kimi, GLM, vLLM: reasoning_content) ----------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("field", [None, "reasoning_content"])
async def test_chat_reasoning_is_read_and_replayed_where_the_profile_says(
    server: MockChatServer, stream: bool, field: str | None
) -> None:
    from agentkit.models import ModelProfile

    server.add(*reasoning_script())
    chat = server.chat_model(
        model="openai/gpt-5-2-chat-latest", profile=ModelProfile(reasoning_field=field)
    )
    async with chat as model:
        result = await run(Agent(model, tools=[add]), stream)
    assert result.output == "5 and 2."
    assert result.messages[1].reasoning[0].summary == "Two sums to do."
    sent = [m for m in server.requests[1].body["messages"] if m["role"] == "assistant"]
    if field is None:
        assert "reasoning_content" not in sent[0]
    else:
        assert sent[0]["reasoning_content"] == "Two sums to do."


async def test_reasoning_arrives_as_events_on_both_dialects(server: MockChatServer) -> None:
    from agentkit import ReasoningDelta

    for made in (server.responses_model, server.chat_model):
        server.add(Reply.text("Done.", reasoning="Thinking it through.", chunk_size=5))
        model = made(model="openai/gpt-5-2-chat-latest")
        async with model, Agent(model).stream("Go") as run:
            thinking = [e.text async for e in run if isinstance(e, ReasoningDelta)]
        assert "".join(thinking) == "Thinking it through.", made


def test_the_command_line_can_force_the_dialect(server: MockChatServer) -> None:
    from tests.cli.test_cli import agentkit

    server.add(Reply.text("hi"))
    done = agentkit("run", "hello", "--api", "responses", "--model", "gpt-5.2",
                    "--no-session", server=server, stdin="")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert server.requests[0].path == "/v1/responses"


async def test_verbosity_goes_where_each_dialect_wants_it(server: MockChatServer) -> None:
    server.add(Reply.text("a"), Reply.text("b"))
    settings = ModelSettings(verbosity="low")
    request = ModelRequest(messages=[UserMessage(content="hi")], settings=settings)
    async with server.responses_model() as responses:
        await responses.complete(request)
    async with server.chat_model(model="openai/gpt-5-2-chat-latest") as chat:
        await chat.complete(request)
    assert server.requests[0].body["text"] == {"verbosity": "low"}
    assert server.requests[1].body["verbosity"] == "low"


# -- what the loop does, on the Responses dialect (one test each) --------------------------


@tool(requires_approval=True)
def transfer(to: str, amount: int) -> str:
    """Move money."""
    return f"moved {amount} to {to}"


async def test_deferred_approvals_resume_on_responses(server: MockChatServer) -> None:
    from agentkit import DEFER, PendingApprovals

    server.add(Reply(calls=Reply.tool_calls(("transfer", {"to": "a", "amount": 1})).calls,
                     reasoning="Pay a."), Reply.text("Paid."))  # fmt: skip
    async with server.responses_model() as model:
        agent = Agent(model, tools=[transfer], approver=DEFER)
        stopped = await agent.run("pay")
        assert stopped.pending is not None
        state = PendingApprovals.from_json(stopped.pending.to_json())
        assert state.messages[-1].reasoning[0].summary == "Pay a."  # kept in the state
        result = await agent.resume(state, {state.pending[0].id: True})
    assert result.output == "Paid."
    assert any(i.get("type") == "reasoning" for i in server.requests[1].body["input"])


async def test_sessions_cache_and_extraction_on_responses(
    server: MockChatServer, tmp_path: Any
) -> None:
    from pydantic import BaseModel

    from agentkit import ResponseCache, SQLiteSession, extract

    class City(BaseModel):
        name: str

    server.add(Reply.text("Hello.", reasoning="Greet."), Reply.text("Again."),
               Reply.tool_calls(("City", {"name": "Oslo"})))  # fmt: skip
    session = SQLiteSession(tmp_path / "s.sqlite3", "r")
    cache = ResponseCache(tmp_path / "c.sqlite3")
    async with server.responses_model() as model:
        agent = Agent(cache.wrap(model))
        await agent.run("hi", session=session)
        again = await agent.run("hi again", session=session)
        assert again.messages[1].reasoning[0].summary == "Greet."  # read back from the session
        city = await extract(City, "Oslo is a city.", model=model)
    assert city == City(name="Oslo")
    assert len(server.requests) == 3


async def test_otel_and_the_timeline_see_responses_runs(
    server: MockChatServer, tmp_path: Any
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import agentkit
    from agentkit.otel import uninstrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agentkit.instrument(provider)
    try:
        server.add(*reasoning_script())
        trace = tmp_path / "run.jsonl"
        async with server.responses_model(model="gpt-5.4") as model:
            await Agent(model, tools=[add]).run("2+3?", trace_to=trace)
    finally:
        uninstrument()
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names.count("chat gpt-5.4") == 2
    assert names.count("execute_tool add") == 2
    assert '"event": "request_started"' in trace.read_text()


async def test_a_batch_and_mcp_tools_on_responses(server: MockChatServer, tmp_path: Any) -> None:
    import sys

    from agentkit.batch import run_batch
    from agentkit.mcp import MCPServerStdio

    time_server = MCPServerStdio(
        sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"]
    )
    server.add(Reply.tool_calls(("get_current_time", {"timezone": "UTC"})), Reply.text("Noon."),
               Reply.text("one"), Reply.text("two"))  # fmt: skip
    async with server.responses_model() as model:
        async with Agent(model, toolsets=[time_server]) as agent:
            result = await agent.run("Time?")
        summary = await run_batch(Agent(model), [{"prompt": "a"}, {"prompt": "b"}],
                                  journal=tmp_path / "j", concurrency=1)  # fmt: skip
    assert result.output == "Noon."
    assert '"timezone"' in next(m.content for m in result.messages if m.role == "tool")
    assert summary.done == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_an_agent_named_openai_gpt_5_4_runs_a_reasoning_loop_on_the_local_server(
    server: MockChatServer, stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's own test: the model string alone picks the dialect."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.add(*reasoning_script())
    agent = Agent("openai:gpt-5.4", tools=[add])
    try:
        result = await run(agent, stream)
    finally:
        await agent.model.aclose()
    assert isinstance(agent.model, ResponsesModel)
    assert result.output == "5 and 2."
    assert [r.path for r in server.requests] == ["/v1/responses", "/v1/responses"]
    assert any(i.get("type") == "reasoning" for i in server.requests[1].body["input"])


async def test_a_malformed_event_is_a_model_response_error(server: MockChatServer) -> None:
    server.add(Fault.malformed_json())
    async with server.responses_model(retry=None) as model:
        with pytest.raises(ModelResponseError, match="not valid JSON"):
            await drain(model, ModelRequest(messages=[UserMessage(content="hi")]))


def test_output_items_agentkit_does_not_read_are_kept_and_sent_back() -> None:
    from agentkit.models._profile import ModelProfile
    from agentkit.models._responses_wire import decode_response, encode_responses_request

    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "oslo"}}  # fmt: skip
    completion = decode_response({
        "id": "resp_1", "status": "completed", "model": "m",
        "output": [search, {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Found it.", "annotations": []}]}],
    })  # fmt: skip
    message = completion.message
    assert message.content == "Found it."
    assert message.provider_items == (search,)
    request = ModelRequest(messages=[UserMessage(content="where?"), message])
    body = encode_responses_request(request, model="m", stream=False, profile=ModelProfile())
    assert search in body["input"]
    assert not request_problems(body)


async def test_a_conversation_kept_at_the_provider_sends_only_what_is_new(
    server: MockChatServer,
) -> None:
    """`store=True` is an explicit choice: then `previous_response_id` names the last answer
    and only what came after it is sent (and the instructions, which are not carried over)."""
    server.add(*reasoning_script())
    async with server.responses_model(store=True) as model:
        result = await Agent(model, tools=[add], instructions="Be brief.").run("2+3?")
    assert result.output == "5 and 2."
    first, second = (r.body for r in server.requests)
    assert first["store"] is True
    assert "include" not in first
    assert "previous_response_id" not in first
    assert second["previous_response_id"] == "resp_mock_1"
    assert [i.get("type", i.get("role")) for i in second["input"]] == [
        "system", "function_call_output", "function_call_output"
    ]  # fmt: skip


async def test_reasoning_details_are_read_on_chat(server: MockChatServer) -> None:
    from agentkit.models._chat_wire import decode_completion

    completion = decode_completion({
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "4.",
            "reasoning_details": [{"type": "reasoning.text", "text": "2+2 is 4."},
                                  {"type": "reasoning.encrypted", "data": "xyz"}]}}],
    })  # fmt: skip
    assert completion.message.reasoning[0].summary == "2+2 is 4."
