"""MockChatServer's fidelity, checked with a client nobody here wrote: the official openai SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from agentkit.testing import Fault, MockChatServer, Reply, ScriptedCall

from .spec import openai_validator

SDK = Callable[[MockChatServer], openai.OpenAI]


@pytest.fixture
def sdk() -> Iterator[SDK]:
    """Makes official SDK clients for a server, and closes them after the test (an unclosed
    client's sockets are collected later, in whichever test runs then, as a ResourceWarning)."""
    clients: list[openai.OpenAI] = []

    def client_for(server: MockChatServer) -> openai.OpenAI:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-mock", max_retries=0)
        clients.append(client)
        return client

    yield client_for
    for client in clients:
        client.close()


TOOL_REPLY = Reply.tool_calls(
    ("get_weather", {"city": "Paris", "unit": "c"}),
    ScriptedCall("get_time", '{"zone": "Europe/Rome"}', id="call_custom"),
    chunk_size=4,
)


def test_sdk_parses_a_text_reply(sdk: SDK) -> None:
    with MockChatServer([Reply.text("Bonjour")]) as server:
        completion = sdk(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}]
        )
    assert completion.choices[0].message.content == "Bonjour"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0


def test_sdk_parses_tool_calls(sdk: SDK) -> None:
    with MockChatServer([TOOL_REPLY]) as server:
        completion = sdk(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Weather?"}]
        )
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_1", "get_weather"),
        ("call_custom", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "c"}
    assert completion.choices[0].finish_reason == "tool_calls"


def test_sdk_streams_text_and_tool_call_deltas(sdk: SDK) -> None:
    with MockChatServer([TOOL_REPLY, Reply(content="streamed words", chunk_size=3)]) as server:
        client = sdk(server)
        arguments: dict[int, str] = {}
        names: dict[int, str] = {}
        usage = None
        for chunk in client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_usage": True},
        ):
            usage = chunk.usage or usage
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    if delta.function and delta.function.name:
                        names[delta.index] = delta.function.name
                    if delta.function and delta.function.arguments:
                        arguments[delta.index] = (
                            arguments.get(delta.index, "") + delta.function.arguments
                        )
        text = "".join(
            choice.delta.content or ""
            for chunk in client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            )
            for choice in chunk.choices
        )
    assert names == {0: "get_weather", 1: "get_time"}
    assert json.loads(arguments[0]) == {"city": "Paris", "unit": "c"}
    assert json.loads(arguments[1]) == {"zone": "Europe/Rome"}
    assert usage is not None
    assert text == "streamed words"


def test_sdk_sees_error_statuses_as_its_own_errors(sdk: SDK) -> None:
    fault = Fault.http(429, retry_after="1", request_id="req_7")
    with MockChatServer([fault]) as server, pytest.raises(openai.RateLimitError) as caught:
        sdk(server).chat.completions.create(model="m", messages=[])
    assert caught.value.status_code == 429
    assert caught.value.request_id == "req_7"


def test_every_reply_shape_validates_against_the_published_schema() -> None:
    response_validator = openai_validator("CreateChatCompletionResponse")
    chunk_validator = openai_validator("CreateChatCompletionStreamResponse")
    replies = [Reply.text("hi"), TOOL_REPLY, Reply(content="a", alternatives=(Reply.text("b"),))]
    with MockChatServer(replies * 2) as server, httpx.Client(base_url=server.base_url) as http:
        for _ in replies:
            body = http.post(
                "/chat/completions", json={"model": "m", "messages": [], "n": 2}
            ).json()
            body["system_fingerprint"] = "fp"  # the schema wants a string; real servers send null
            for choice in body["choices"]:
                choice["message"]["refusal"] = choice["message"]["refusal"] or ""
            assert [e.message for e in response_validator.iter_errors(body)] == []
        for _ in replies:
            payload = {
                "model": "m",
                "messages": [],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            with http.stream("POST", "/chat/completions", json=payload) as response:
                lines = [line for line in response.iter_lines() if line.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            for line in lines[:-1]:
                chunk = json.loads(line.removeprefix("data: "))
                chunk["system_fingerprint"] = "fp"
                assert [e.message for e in chunk_validator.iter_errors(chunk)] == []


def test_unknown_routes_are_404_and_requests_are_recorded() -> None:
    with MockChatServer() as server, httpx.Client(base_url=server.base_url) as http:
        assert http.get("/models").status_code == 404
        exhausted = http.post("/chat/completions", json={"model": "m", "messages": []})
    assert exhausted.status_code == 500
    assert "no scripted reply left" in exhausted.json()["error"]["message"]
    assert [r.method for r in server.requests] == ["GET", "POST"]


def test_responder_answers_when_the_script_is_empty(sdk: SDK) -> None:
    def echo(request: object) -> Reply:
        return Reply.text("echo")

    with MockChatServer([Reply.text("first")], responder=echo) as server:
        client = sdk(server)
        texts = [
            client.chat.completions.create(model="m", messages=[]).choices[0].message.content
            for _ in range(3)
        ]
    assert texts == ["first", "echo", "echo"]


def test_runs_as_a_separate_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit.testing", "--port", "0", "--scenario", "echo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base_url) as http:
            body = http.post(
                "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
            ).json()
        assert body["choices"][0]["message"]["content"] == "ping"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.anyio
async def test_the_tools_scenario_gives_a_real_server_arguments_it_accepts() -> None:
    """Before: it sent timezone "x" to mcp-server-time, which refused it."""
    import sys

    from agentkit import Agent
    from agentkit.mcp import MCPServerStdio
    from agentkit.testing import MockChatServer, tool_loop

    time_server = MCPServerStdio(
        sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"]
    )
    with MockChatServer(responder=tool_loop(calls=1)) as server:
        async with server.chat_model() as model, Agent(model, toolsets=[time_server]) as agent:
            result = await agent.run("What time is it?")
    (answer,) = [m.content for m in result.messages if m.role == "tool"]
    assert '"timezone":"America/New_York"' in answer.replace(" ", "")
