"""ChatModel over real loopback HTTP: the wire, every fault, every retry rule, key secrecy."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap

import anyio
import httpx
import pytest

from agentkit import (
    AuthenticationError,
    BadRequestError,
    ChatModel,
    ModelConfigurationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRequest,
    ModelResponseError,
    ModelSettings,
    ModelStreamError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseCompleted,
    RetryPolicy,
    ServerError,
    StreamDelta,
    StreamInterrupted,
    TextDelta,
    ToolCallReady,
    UserMessage,
    messages_to_json,
    tool,
)
from agentkit.testing import Fault, MockChatServer, Reply
from tests import tool_zoo as zoo
from tests.edge_server import UNTIL_CLIENT_CLOSES, EdgeServer
from tests.spec import DEFAULT_MODEL, request_problems

pytestmark = pytest.mark.anyio

HELLO = ModelRequest(messages=[UserMessage(content="Hi")])
SECRET = "sk-test-SECRET-0123456789"


class Sleeps:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def model_for(
    server: MockChatServer, sleeps: Sleeps, retries: int = 2, **options: object
) -> ChatModel:
    options.setdefault("model", DEFAULT_MODEL)
    policy = RetryPolicy(max_retries=retries, sleep=sleeps)
    return server.chat_model(retry=policy, api_key=SECRET, **options)


async def collect(model: ChatModel, request: ModelRequest = HELLO) -> list[StreamDelta]:
    async with model.stream(request) as deltas:
        return [delta async for delta in deltas]


async def test_complete_sends_the_request_and_reads_the_reply(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Reply.text("Hello!"))
    async with model_for(server, sleeps) as model:
        completion = await model.complete(HELLO)
    assert completion.message.content == "Hello!"
    assert completion.choices[0].finish_reason == "stop"
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.body == {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}]}


async def test_tools_and_every_setting_pass_the_servers_schema_check(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Reply.tool_calls(("power", {"base": 2, "exponent": 3})), Reply.text("ok"))
    settings = ModelSettings(
        max_tokens=50, tool_choice="power", parallel_tool_calls=False, n=1, seed=7
    )
    request = ModelRequest(
        messages=[UserMessage(content="2^3?")],
        tools=[tool(zoo.power).definition()],
        settings=settings,
    )
    async with model_for(server, sleeps) as model:
        completion = await model.complete(request)
        await collect(model, request)
    call = completion.message.tool_calls[0]
    assert (call.name, json.loads(call.arguments)) == ("power", {"base": 2, "exponent": 3})
    assert server.requests[1].body["stream_options"] == {"include_usage": True}


async def test_invalid_request_is_caught_by_the_schema_check(sleeps: Sleeps) -> None:
    with MockChatServer(validate=request_problems) as checking:
        model = model_for(checking, sleeps, model="not-the-default")
        with pytest.raises(BadRequestError, match="openai/gpt-5-2-chat-latest"):
            await model.complete(HELLO)
        await model.aclose()
        assert checking.validation_errors


async def test_stream_yields_deltas_and_the_same_completion(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    reply = Reply(content="Paris is sunny today.", chunk_size=5)
    server.add(reply, reply)
    async with model_for(server, sleeps) as model:
        plain = await model.complete(HELLO)
        deltas = await collect(model)
    texts = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert texts == ["Paris", " is s", "unny ", "today", "."]
    completed = deltas[-1]
    assert isinstance(completed, ResponseCompleted)
    assert completed.completion.choices == plain.choices
    assert completed.completion.usage == plain.usage


async def test_streamed_tool_calls_are_ready_one_by_one(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Reply.tool_calls(("a", {"x": 1}), ("b", {"y": 2}), chunk_size=3))
    async with model_for(server, sleeps) as model:
        deltas = await collect(model)
    ready = [d for d in deltas if isinstance(d, ToolCallReady)]
    assert [(r.index, r.call.name, json.loads(r.call.arguments)) for r in ready] == [
        (0, "a", {"x": 1}),
        (1, "b", {"y": 2}),
    ]
    assert deltas.index(ready[0]) < deltas.index(ready[1])


async def test_n_choices(server: MockChatServer, sleeps: Sleeps) -> None:
    reply = Reply(content="one", alternatives=(Reply.text("two"), Reply.text("three")))
    server.add(reply, reply)
    request = ModelRequest(messages=[UserMessage(content="x")], settings=ModelSettings(n=3))
    async with model_for(server, sleeps) as model:
        plain = await model.complete(request)
        streamed = (await collect(model, request))[-1]
    assert [c.message.content for c in plain.choices] == ["one", "two", "three"]
    assert isinstance(streamed, ResponseCompleted)
    assert [c.message.content for c in streamed.completion.choices] == ["one", "two", "three"]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried(
    server: MockChatServer, sleeps: Sleeps, status: int
) -> None:
    server.add(Fault.http(status), Fault.http(status), Reply.text("finally"))
    async with model_for(server, sleeps) as model:
        completion = await model.complete(HELLO)
    assert completion.message.content == "finally"
    assert len(server.requests) == 3
    assert len(sleeps.calls) == 2


def test_requests_that_succeed_first_time_never_load_tenacity() -> None:
    # The retry controller comes in only after a failure worth retrying (CPU and memory
    # per request); a fresh process shows whether anything loaded it.
    code = textwrap.dedent(
        """
        import sys, anyio
        from agentkit import ModelRequest, UserMessage
        from agentkit.testing import MockChatServer, Reply

        async def main():
            with MockChatServer() as server:
                server.add(Reply.text("one"), Reply.text("two"))
                async with server.chat_model() as model:
                    request = ModelRequest(messages=[UserMessage(content="hi")])
                    await model.complete(request)
                    async with model.stream(request) as deltas:
                        [delta async for delta in deltas]
            print("tenacity" in sys.modules)

        anyio.run(main)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


async def test_a_retried_stream_opens_after_the_failures(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Fault.http(503), Fault.http(500), Reply.text("streamed at last"))
    async with model_for(server, sleeps) as model, model.stream(HELLO) as deltas:
        text = "".join([d.text async for d in deltas if isinstance(d, TextDelta)])
    assert text == "streamed at last"
    assert len(server.requests) == 3
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, BadRequestError),
    ],
)
async def test_client_errors_are_never_retried(
    server: MockChatServer, sleeps: Sleeps, status: int, cls: type[ModelHTTPError]
) -> None:
    server.add(Fault.http(status, message="nope", request_id="req_42"), Reply.text("unused"))
    async with model_for(server, sleeps) as model:
        with pytest.raises(cls) as caught:
            await model.complete(HELLO)
    assert (caught.value.status_code, caught.value.message, caught.value.request_id) == (
        status,
        "nope",
        "req_42",
    )
    assert len(server.requests) == 1
    assert sleeps.calls == []


async def test_insufficient_quota_is_not_retried(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(Fault.http(429, code="insufficient_quota", message="quota"), Reply.text("unused"))
    async with model_for(server, sleeps) as model:
        with pytest.raises(RateLimitError) as caught:
            await model.complete(HELLO)
    assert caught.value.code == "insufficient_quota"
    assert len(server.requests) == 1


async def test_retries_run_out(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(*[Fault.http(503)] * 3)
    async with model_for(server, sleeps, retries=2) as model:
        with pytest.raises(ServerError):
            await model.complete(HELLO)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.http(429, retry_after="2"), 2.0),
        (Fault.http(429, retry_after_ms=1500), 1.5),
        (Fault.http(503, retry_after="3600"), 60.0),
    ],
)
async def test_retry_after_is_honoured_up_to_the_cap(
    server: MockChatServer, sleeps: Sleeps, fault: Fault, expected: float
) -> None:
    server.add(fault, Reply.text("ok"))
    async with model_for(server, sleeps) as model:
        await model.complete(HELLO)
    assert sleeps.calls == [expected]


@pytest.mark.parametrize(
    ("style", "status", "cls", "message", "request_id"),
    [
        ("aimlapi", 403, PermissionDeniedError, "Insufficient credits", "req_mock"),
        ("problem", 401, AuthenticationError, "Invalid key", "req_mock"),
        ("html", 502, ServerError, "502 Bad Gateway", None),
        ("empty", 500, ServerError, "the server answered 500 with an empty body", None),
    ],
)
async def test_every_error_body_style_maps_to_a_readable_error(
    server: MockChatServer,
    sleeps: Sleeps,
    style: str,
    status: int,
    cls: type[ModelHTTPError],
    message: str,
    request_id: str | None,
) -> None:
    text = {"html": "Bad Gateway", "empty": ""}.get(style, message)
    server.add(Fault.http(status, style=style, message=text))  # type: ignore[arg-type]
    async with model_for(server, sleeps, retries=0) as model:
        with pytest.raises(cls) as caught:
            await model.complete(HELLO)
    assert caught.value.message == message
    assert caught.value.request_id == request_id


async def test_connection_reset_is_retried(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(Fault.reset(), Reply.text("after reset"))
    async with model_for(server, sleeps) as model:
        assert (await model.complete(HELLO)).message.content == "after reset"
    assert len(sleeps.calls) == 1


async def test_connection_refused_is_a_connection_error(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = ChatModel(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=SECRET,
        retry=RetryPolicy(max_retries=1, sleep=sleeps),
    )
    with pytest.raises(ModelConnectionError, match=r"connection to http://127\.0\.0\.1"):
        await model.complete(HELLO)
    assert len(sleeps.calls) == 1
    await model.aclose()


async def test_timeout_is_a_timeout_error(sleeps: Sleeps) -> None:
    with MockChatServer([Reply.text("late")], latency=2.0) as slow:
        model = model_for(slow, sleeps, retries=0, timeout=httpx.Timeout(0.2))
        with pytest.raises(ModelTimeoutError, match="no answer"):
            await model.complete(HELLO)
        await model.aclose()


async def test_malformed_json_is_a_response_error(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(Fault.malformed_json(), Fault.malformed_json())
    async with model_for(server, sleeps) as model:
        with pytest.raises(ModelResponseError, match="not valid JSON"):
            await model.complete(HELLO)
        with pytest.raises(ModelResponseError, match="stream event is not valid JSON"):
            await collect(model)
    assert sleeps.calls == []


async def test_stream_cut_before_the_first_event_is_retried(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Fault.cut_stream(Reply.text("lost"), after_events=0), Reply.text("kept"))
    async with model_for(server, sleeps) as model:
        deltas = await collect(model)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "kept"
    assert len(server.requests) == 2


@pytest.mark.parametrize("after_events", [0, 1])  # 1: the role-only chunk, no delta yet
async def test_stream_ending_cleanly_before_any_delta_is_retried(
    server: MockChatServer, sleeps: Sleeps, after_events: int
) -> None:
    server.add(
        Fault.truncate_stream(Reply.text("lost"), after_events=after_events), Reply.text("kept")
    )
    async with model_for(server, sleeps) as model:
        deltas = await collect(model)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "kept"
    assert len(server.requests) == 2


async def test_overloaded_529_is_retried(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(Fault.http(529, message="Overloaded"), Reply.text("later"))
    async with model_for(server, sleeps) as model:
        completion = await model.complete(HELLO)
    assert completion.message.content == "later"
    assert len(sleeps.calls) == 1


async def test_stream_cut_after_events_reached_the_caller_is_interrupted(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(
        Fault.cut_stream(Reply(content="abcdefghij", chunk_size=2), after_events=3),
        Reply.text("unused"),
    )
    received: list[StreamDelta] = []

    async def consume(model: ChatModel) -> None:
        async with model.stream(HELLO) as deltas:
            async for delta in deltas:
                received.append(delta)

    async with model_for(server, sleeps) as model:
        with pytest.raises(StreamInterrupted, match="broke before") as caught:
            await consume(model)
    assert [d.text for d in received if isinstance(d, TextDelta)] == ["ab", "cd"]
    assert caught.value.received.message.content == "abcd"
    assert len(server.requests) == 1


async def test_stream_ending_without_done_is_interrupted(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Fault.truncate_stream(Reply(content="abcdef", chunk_size=2), after_events=2))
    async with model_for(server, sleeps) as model:
        with pytest.raises(StreamInterrupted, match="before \\[DONE\\]") as caught:
            await collect(model)
    assert caught.value.received.message.content == "ab"


async def test_error_payload_mid_stream_raises(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(
        Fault.stream_error(
            Reply(content="abcdef", chunk_size=2), after_events=2, message="upstream overloaded"
        )
    )
    async with model_for(server, sleeps) as model:
        with pytest.raises(ModelStreamError, match="upstream overloaded"):
            await collect(model)


async def test_error_status_on_a_stream_request_is_retried(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Fault.http(500), Reply.text("ok"))
    async with model_for(server, sleeps) as model:
        deltas = await collect(model)
    assert isinstance(deltas[-1], ResponseCompleted)
    assert len(sleeps.calls) == 1


async def test_json_answer_to_a_stream_request_still_streams(sleeps: Sleeps) -> None:
    def plain_json(request: httpx.Request) -> httpx.Response:
        body = {"choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(plain_json))
    model = ChatModel(api_key=SECRET, http_client=client, retry=RetryPolicy(sleep=sleeps))
    deltas = await collect(model)
    assert deltas[0] == TextDelta(0, "whole")
    assert isinstance(deltas[-1], ResponseCompleted)
    await client.aclose()


async def test_cancelling_a_request_stops_it() -> None:
    """The request really stops: the server sees its connection closed, not left waiting."""
    with EdgeServer(lambda seen: [UNTIL_CLIENT_CLOSES]) as slow:
        model = ChatModel(base_url=slow.base_url, api_key="sk", model="m")
        with anyio.move_on_after(0.2) as scope:
            await model.complete(HELLO)
        assert scope.cancelled_caught
        # Five seconds are a hang guard: the close reaches the server at once.
        assert await anyio.to_thread.run_sync(slow.a_connection_closed.wait, 5)
        assert slow.closed_connections == [1]
        await model.aclose()


async def test_your_own_http_client_is_used_and_left_open(
    server: MockChatServer, sleeps: Sleeps
) -> None:
    server.add(Reply.text("mine"))
    async with httpx.AsyncClient(headers={"x-custom": "1"}) as client:
        model = model_for(server, sleeps, http_client=client)
        await model.complete(HELLO)
        await model.aclose()
        assert not client.is_closed
    assert server.requests[0].headers["x-custom"] == "1"


# --- configuration and secrecy -------------------------------------------------------


async def test_missing_key_is_reported_at_request_time_naming_the_variable() -> None:
    model = ChatModel.from_env({})
    with pytest.raises(ModelConfigurationError, match="set AIMLAPI_API_KEY \\(or AIML_API_KEY\\)"):
        await model.complete(HELLO)


def test_from_env_reads_key_fallback_and_base_url() -> None:
    model = ChatModel.from_env(
        {"AIML_API_KEY": SECRET, "AIMLAPI_BASE_URL": "http://127.0.0.1:9/v1/"}
    )
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert model.model == "openai/gpt-5-2-chat-latest"
    assert model._headers(stream=False)["Authorization"] == f"Bearer {SECRET}"
    preferred = ChatModel.from_env({"AIMLAPI_API_KEY": "first", "AIML_API_KEY": "second"})
    assert preferred._headers(stream=False)["Authorization"] == "Bearer first"
    explicit = ChatModel.from_env({"AIMLAPI_API_KEY": "env"}, api_key="given", model="other")
    assert (explicit._headers(stream=False)["Authorization"], explicit.model) == (
        "Bearer given",
        "other",
    )


def test_defaults_point_at_aimlapi() -> None:
    model = ChatModel(api_key=SECRET)
    assert model.base_url == "https://api.aimlapi.com/v1"
    assert model.model == "openai/gpt-5-2-chat-latest"


def test_bad_base_url_is_a_clear_error() -> None:
    with pytest.raises(ModelConfigurationError, match="base_url must start with http"):
        ChatModel(base_url="api.aimlapi.com/v1")


async def test_the_key_never_appears_in_repr_logs_or_errors(
    server: MockChatServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentkit")
    server.add(
        Fault.http(401, message="bad key"),
        Fault.http(503),
        Reply.text("ok"),
        Fault.cut_stream(Reply.text("x" * 50), after_events=2),
    )
    model = model_for(server, sleeps)
    assert SECRET not in repr(model)
    assert SECRET not in str(vars(model).get("retry"))
    texts: list[str] = []
    with pytest.raises(AuthenticationError) as caught:
        await model.complete(HELLO)
    texts += [str(caught.value), repr(caught.value), repr(caught.value.body)]
    completion = await model.complete(HELLO)
    with pytest.raises(StreamInterrupted) as interrupted:
        await collect(model)
    texts += [str(interrupted.value), repr(interrupted.value.received)]
    texts.append(messages_to_json([UserMessage(content="Hi"), completion.message]).decode())
    texts += [record.getMessage() for record in caplog.records]
    assert any("retrying" in text for text in texts)
    assert all(SECRET not in text for text in texts)
    await model.aclose()


def test_one_model_serves_several_event_loops(server: MockChatServer, sleeps: Sleeps) -> None:
    server.add(Reply.text("one"), Reply.text("two"))
    model = model_for(server, sleeps)

    async def ask() -> str | None:
        async with model:  # closes this loop's client when the loop ends
            return (await model.complete(HELLO)).message.content

    assert anyio.run(ask) == "one"
    assert anyio.run(ask, backend="trio") == "two"


async def test_proxy_variables_switch_to_httpx_own_stack(
    server: MockChatServer, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server.add(Reply.text("direct"))
    async with model_for(server, sleeps) as model:
        assert isinstance(model._sender(), httpx.AsyncClient)
        assert (await model.complete(HELLO)).message.content == "direct"
