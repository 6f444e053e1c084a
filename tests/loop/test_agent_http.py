"""Agents over real loopback HTTP: every request of a run passes both wire schemas."""

from __future__ import annotations

import json

import pytest

from agentkit import Agent, LoopPolicy, ModelSettings
from agentkit.testing import MockChatServer, Reply
from tests.agents import Log, Weather, add, run_agent, wait
from tests.spec import DEFAULT_MODEL

pytestmark = pytest.mark.anyio


def conversation() -> list[Reply]:
    return [
        Reply.tool_calls(("add", {"a": 2, "b": 3}), ("add", {"a": 10, "b": 20}), chunk_size=5),
        Reply.text("5 and 30.", chunk_size=3),
    ]


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_tool_run_over_http(server: MockChatServer, streamed: bool) -> None:
    server.add(*conversation())
    settings = ModelSettings(max_tokens=200, seed=1)
    async with server.chat_model(model=DEFAULT_MODEL) as model:
        agent = Agent(
            model,
            instructions="Be brief.",
            tools=[add],
            tool_choice="required",
            parallel_tool_calls=True,
            settings=settings,
        )
        result, streamed_text = await run_agent(agent, "Add", streamed=streamed)
    assert result.output == "5 and 30."
    assert streamed_text == ("5 and 30." if streamed else "")
    first, second = (request.body for request in server.requests)
    assert first["tool_choice"] == "required"
    assert second["tool_choice"] == "auto"
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in second["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert "content" not in second["messages"][2]
    assert result.usage.requests == 2
    assert result.usage.total_tokens > 0


@pytest.mark.parametrize("mode", ["tool", "json_schema"])
async def test_structured_output_over_http(server: MockChatServer, mode: str) -> None:
    value = {"city": "Paris", "celsius": 21.0}
    reply = (
        Reply.tool_calls(("final_result", value))
        if mode == "tool"
        else Reply.text(json.dumps(value))
    )
    server.add(reply)
    async with server.chat_model(model=DEFAULT_MODEL) as model:
        agent = Agent(model, output_type=Weather, policy=LoopPolicy(output_mode=mode))  # type: ignore[arg-type]
        result = await agent.run("Weather?")
    assert result.output == Weather(city="Paris", celsius=21.0)
    body = server.requests[0].body
    if mode == "json_schema":
        assert body["response_format"]["json_schema"]["strict"] is True
        assert "tools" not in body
    else:
        assert body["tools"][0]["function"]["strict"] is True


async def test_eight_parallel_tools_over_http(server: MockChatServer) -> None:
    log = Log()
    calls = [("wait", {"label": str(i), "seconds": 0.1}) for i in range(8)]
    server.add(Reply.tool_calls(*calls), Reply.text("all done"))
    async with server.chat_model(model=DEFAULT_MODEL) as model:
        result = await Agent(model, tools=[wait]).run("go", deps=log)
    assert result.output == "all done"
    assert max(log.at(f"start {i}") for i in range(8)) < min(log.at(f"end {i}") for i in range(8))


@pytest.mark.parametrize("dialect", ["chat", "responses"])
async def test_a_tool_named_auto_is_forced_by_name_on_the_wire(
    server: MockChatServer, dialect: str
) -> None:
    """`UseTool("auto")` sends the named form; the plain string `"auto"` stays the mode."""
    from agentkit import UseTool, tool

    auto = tool(add, name="auto")
    server.add(Reply.tool_calls(("auto", {"a": 1, "b": 2})), Reply.text("3."), Reply.text("ok"))
    build = server.chat_model if dialect == "chat" else server.responses_model
    async with build(model=DEFAULT_MODEL) as model:
        assert (await Agent(model, tools=[auto], tool_choice=UseTool("auto")).run("go")).output
        assert (await Agent(model, tools=[auto], tool_choice="auto").run("go")).output == "ok"
    forced, relaxed, plain = (request.body["tool_choice"] for request in server.requests)
    named = (
        {"type": "function", "function": {"name": "auto"}}
        if dialect == "chat"
        else {"type": "function", "name": "auto"}
    )
    assert (forced, relaxed, plain) == (named, "auto", "auto")
