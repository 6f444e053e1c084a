"""agentkit against LiteLLM's proxy, a real OpenAI-compatible server it did not write.

The proxy runs in mock mode (`mock_response`, `mock_tool_calls`: no provider behind it) for
plain and streamed text, tool calls and extraction; its `upstream` model forwards to a
MockChatServer, so that a whole tool loop, plain and streamed, crosses LiteLLM's own
request parsing, re-encoding and SSE framing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    ChatModel,
    ModelRequest,
    RetryPolicy,
    UserMessage,
    extract,
    infer_model,
)
from agentkit.testing import MockChatServer, Reply
from tests.agents import add, run_agent
from tests.peers import free_port, peer_command, running

pytestmark = pytest.mark.anyio
MASTER_KEY = "sk-agentkit-conformance-0123456789"


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def config(upstream: str) -> str:
    def mock_tool(name: str, arguments: dict[str, object]) -> dict[str, object]:
        return {
            "model": "openai/mock",
            "api_key": "unused",
            "mock_response": "",
            "mock_tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ],
        }

    models = {
        "mock-text": {"model": "openai/mock", "api_key": "unused", "mock_response": "hi there"},
        "mock-add": mock_tool("add", {"a": 2, "b": 3}),
        "mock-city": mock_tool("City", {"name": "Paris", "country": "France"}),
        "upstream": {"model": "openai/scripted", "api_key": "upstream-key", "api_base": upstream},
    }
    entries = [{"model_name": name, "litellm_params": params} for name, params in models.items()]
    return json.dumps({"model_list": entries})  # YAML is a superset of JSON


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockChatServer]:
    with MockChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def proxy_url(upstream: MockChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("litellm")
    (folder / "config.yaml").write_text(config(upstream.base_url))
    port = free_port()
    command = [
        peer_command("litellm"),
        *("--config", folder / "config.yaml", "--host", "127.0.0.1", "--port", str(port)),
    ]
    env = {
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the price list at start
        "LITELLM_LOG": "ERROR",
    }
    ready = f"http://127.0.0.1:{port}/health/liveliness"
    with running(command, ready, folder / "proxy.log", env):
        yield f"http://127.0.0.1:{port}/v1"


def model(proxy_url: str, name: str) -> ChatModel:
    """The proxy's model `name`, through the `litellm:` model string and its variables."""
    env = {"LITELLM_PROXY_API_BASE": proxy_url, "LITELLM_PROXY_API_KEY": MASTER_KEY}
    return infer_model(f"litellm:{name}", environ=env, retry=RetryPolicy(max_retries=0))


async def test_an_agent_named_by_a_model_string_reads_the_proxys_variables(
    proxy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_PROXY_API_BASE", proxy_url)
    monkeypatch.setenv("LITELLM_PROXY_API_KEY", MASTER_KEY)
    agent = Agent("litellm:mock-text")
    try:
        result = await agent.run("Hello")
    finally:
        await agent.model.aclose()
    assert result.output == "hi there"


@pytest.mark.parametrize("streamed", [False, True])
async def test_text(proxy_url: str, streamed: bool) -> None:
    async with model(proxy_url, "mock-text") as chat:
        result, streamed_text = await run_agent(Agent(chat), "Hello", streamed=streamed)
    assert result.output == "hi there"
    assert streamed_text == ("hi there" if streamed else "")
    assert result.usage.total_tokens > 0


async def test_a_tool_call(proxy_url: str) -> None:
    async with model(proxy_url, "mock-add") as chat:
        request = ModelRequest(messages=[UserMessage(content="2+3?")], tools=[add.definition()])
        completion = await chat.complete(request)
    (call,) = completion.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("add", {"a": 2, "b": 3})


async def test_extraction(proxy_url: str) -> None:
    async with model(proxy_url, "mock-city") as chat:
        city = await extract(City, "Paris is the capital of France.", model=chat)
    assert city == City(name="Paris", country="France")


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_tool_loop_through_the_proxy(
    proxy_url: str, upstream: MockChatServer, streamed: bool
) -> None:
    upstream.add(
        Reply.tool_calls(("add", {"a": 2, "b": 3}), ("add", {"a": 10, "b": 20}), chunk_size=4),
        Reply.text("5 and 30.", chunk_size=3),
    )
    seen_before = len(upstream.requests)
    async with model(proxy_url, "upstream") as chat:
        agent = Agent(chat, tools=[add], tool_choice="required")
        result, _ = await run_agent(agent, "Add", streamed=streamed)
    assert result.output == "5 and 30."
    first, second = (request.body for request in upstream.requests[seen_before:])
    assert first["tool_choice"] == "required"
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["5", "30"]


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_responses_tool_loop_through_the_proxy(
    proxy_url: str, upstream: MockChatServer, streamed: bool
) -> None:
    """The Responses dialect (`/v1/responses`) through LiteLLM's proxy to the scripted
    upstream: whichever dialect the proxy speaks to it, the loop completes."""
    upstream.add(
        Reply.tool_calls(("add", {"a": 2, "b": 3}), chunk_size=4),
        Reply.text("5.", chunk_size=3),
    )
    env = {"LITELLM_PROXY_API_BASE": proxy_url, "LITELLM_PROXY_API_KEY": MASTER_KEY}
    responses = infer_model("litellm:upstream", environ=env, api="responses",
                            retry=RetryPolicy(max_retries=0))  # fmt: skip
    async with responses as chat:
        result, _ = await run_agent(Agent(chat, tools=[add]), "Add", streamed=streamed)
    assert result.output == "5."
    assert [m.content for m in result.messages if m.role == "tool"] == ["5"]
    assert "/v1/responses" in {r.path for r in upstream.requests}  # passed through natively
