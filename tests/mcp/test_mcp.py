"""MCP with real parts: the official `mcp-server-time` over stdio, a server built with the SDK's
FastMCP over streamable HTTP (tests/mcp_servers/lab.py), and the official client against
`agentkit mcp serve`. Every server is a subprocess; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client, MCPError, StdioServerParameters

from agentkit import Agent, ApprovalRequest, ToolDefinitionError, tool
from agentkit.mcp import (
    MCPConnectionError,
    MCPServerHTTP,
    MCPServerSSE,
    MCPServerStdio,
    mcp_server,
)
from agentkit.testing import FakeModel, MockChatServer, Reply
from tests.peers import free_port

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
TIME_SERVER = (sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])


def time_server(**options: Any) -> MCPServerStdio:
    return MCPServerStdio(TIME_SERVER[0], TIME_SERVER[1], **options)


def lab_stdio(**options: Any) -> MCPServerStdio:
    command = [sys.executable, "-m", "tests.mcp_servers.lab", "--stdio"]
    return MCPServerStdio(command[0], command[1:], cwd=ROOT, **options)


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Lab:
    """The lab server over streamable HTTP, in a subprocess that can be killed and restarted."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.flags = flags
        self.url = f"http://127.0.0.1:{self.port}/" + ("sse" if "--sse" in flags else "mcp")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.mcp_servers.lab", "--port", str(self.port)]
        command += self.flags
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def lab() -> Iterator[Lab]:
    server = Lab()
    server.start()
    yield server
    server.stop()


def tool_texts(result: Any) -> list[str]:
    return [m.content for m in result.messages if m.role == "tool"]


def portal_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("agentkit-mcp")]


# -- the official reference server, over stdio -------------------------------------------------


async def test_the_time_servers_tools_are_listed_as_strict_definitions() -> None:
    async with time_server() as server:
        tools = await server.list_tools()
    assert [t.name for t in tools] == ["get_current_time", "convert_time"]
    definition = tools[0].definition()
    assert definition.strict
    assert definition.parameters["required"] == ["timezone"]
    assert definition.parameters["additionalProperties"] is False
    assert "title" not in json.dumps(definition.parameters)


async def test_filter_and_prefix() -> None:
    allowed = time_server(allow={"convert_time"}, prefix="time")
    denied = time_server(deny={"convert_time"})
    picked = time_server(filter=lambda d: "current" in (d.description or "").lower())
    for server, names in (
        (allowed, ["time_convert_time"]),
        (denied, ["get_current_time"]),
        (picked, ["get_current_time"]),
    ):
        async with server:
            assert [t.name for t in await server.list_tools()] == names


async def test_calls_on_an_open_session_take_no_worker_thread() -> None:
    """anyio's worker threads (shared with sync tools and DNS lookups) stay free while MCP
    calls wait: with every worker taken, calls on the open session still go through."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    saved = limiter.total_tokens
    async with time_server() as server:
        await server.list_tools()  # opening the session is the one step that takes a worker
        limiter.total_tokens = 1
        answers: list[Any] = []

        async def ask() -> None:
            answers.append(await server.call_tool("get_current_time", {"timezone": "UTC"}))

        try:
            with anyio.fail_after(20):  # waiting for a worker would hang until then
                async with limiter, anyio.create_task_group() as group:  # the only worker
                    for _ in range(3):
                        group.start_soon(ask)
        finally:
            limiter.total_tokens = saved
    assert len(answers) == 3
    assert not any(a.is_error for a in answers)


async def test_an_agent_run_uses_the_time_server_and_validates_first() -> None:
    model = FakeModel(
        [
            Reply.tool_calls(("time_get_current_time", {"zone": "Oslo"})),  # invalid: no call
            Reply.tool_calls(("time_get_current_time", {"timezone": "Europe/Oslo"})),
            "It is evening in Oslo.",
        ]
    )
    async with Agent(model, toolsets=[time_server(prefix="time")]) as agent:
        result = await agent.run("What time is it in Oslo?")
    assert result.output == "It is evening in Oslo."
    invalid, answer = tool_texts(result)
    assert "timezone" in invalid
    assert "missing" in invalid
    assert json.loads(answer)["timezone"] == "Europe/Oslo"


async def test_is_error_results_are_failures_the_model_sees() -> None:
    model = FakeModel(
        [Reply.tool_calls(("get_current_time", {"timezone": "Nowhere/City"})), "Sorry."]
    )
    async with Agent(model, toolsets=[time_server()]) as agent:
        result = await agent.run("Time on Nowhere?")
    (text,) = tool_texts(result)
    assert "failed" in text
    assert "Invalid timezone" in text


# -- lifecycle -------------------------------------------------------------------------------


async def test_one_session_serves_many_runs_and_nothing_outlives_the_agent() -> None:
    server = lab_stdio()
    script = [Reply.tool_calls(("pid", {})), "done"] * 8
    async with Agent(FakeModel(script), toolsets=[server]) as agent:
        first = await agent.run("pid?")
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(agent.run, "pid?")
        last = await agent.run("pid?")
        (pid,) = tool_texts(first)
        assert tool_texts(last) == [pid]
        assert server.connections == 1
        assert server.list_requests == 1
        assert portal_threads()
    assert portal_threads() == []
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)  # the server's process ended with the agent's context


async def test_a_killed_stdio_server_is_restarted_by_the_next_call() -> None:
    async with lab_stdio() as server:
        before = (await server.call_tool("pid", {})).content[0].text
        os.kill(int(before), signal.SIGKILL)
        await anyio.sleep(1)  # the session's subscription sees it go: nothing was sent yet
        after = (await server.call_tool("pid", {})).content[0].text
        assert after != before
        assert server.connections == 2


def test_run_sync_calls_share_one_session_until_closed() -> None:
    server = lab_stdio()
    agent = Agent(FakeModel([Reply.tool_calls(("pid", {})), "ok"] * 2), toolsets=[server])
    first = tool_texts(agent.run_sync("pid?"))
    second = tool_texts(agent.run_sync("pid?"))
    assert first == second
    assert server.connections == 1
    server._connection.close()
    assert portal_threads() == []


# -- the FastMCP server over streamable HTTP ----------------------------------------------------


async def test_n_runs_list_the_tools_once(lab: Lab) -> None:
    server = MCPServerHTTP(lab.url)
    model = FakeModel(["hi"] * 5)
    async with Agent(model, toolsets=[server]) as agent:
        for _ in range(5):
            await agent.run("hi")
        counted = (await server.call_tool("list_count", {})).content[0].text
    assert counted == "1"  # counted by the server, from the requests it received
    assert server.list_requests == 1


async def test_list_changed_drops_the_cache(lab: Lab) -> None:
    async with MCPServerHTTP(lab.url) as server:
        assert "sprout" not in [t.name for t in await server.list_tools()]
        await server.call_tool("grow", {"name": "sprout"})
        with anyio.fail_after(5):
            while not server._stale:  # noqa: ASYNC110 - set by the session's thread
                await anyio.sleep(0.02)
        await anyio.sleep(1)  # past the debounce: an announced change is listed again
        assert "sprout" in [t.name for t in await server.list_tools()]
        assert server.list_requests == 2


async def test_a_restarted_http_server_answers_the_next_call(lab: Lab) -> None:
    async with MCPServerHTTP(lab.url) as server:
        before = (await server.call_tool("pid", {})).content[0].text
        lab.stop()
        lab.start()
        after = (await server.call_tool("pid", {})).content[0].text
    assert before != after


async def test_headers_go_with_every_request(lab: Lab) -> None:
    async with MCPServerHTTP(lab.url, headers={"Authorization": "Bearer t0ken"}) as server:
        assert (await server.call_tool("echo", {"text": "with headers"})).content[0].text == (
            "with headers"
        )


async def test_the_legacy_sse_transport() -> None:
    legacy = Lab("--sse")
    legacy.start()
    try:
        model = FakeModel([Reply.tool_calls(("echo", {"text": "over sse"})), "done"])
        async with Agent(model, toolsets=[MCPServerSSE(legacy.url)]) as agent:
            result = await agent.run("echo")
    finally:
        legacy.stop()
    assert tool_texts(result) == ["over sse"]


async def test_a_server_that_stays_down_is_one_clear_error(lab: Lab) -> None:
    async with MCPServerHTTP(lab.url) as server:
        await server.list_tools()
        lab.stop()
        # Either the session's stream saw the server go first (the call is then not sent
        # again: it might have run) or the call found the port closed: one clear error.
        pattern = r"127\.0\.0\.1.*(could not be started|broke while the call was out)"
        with pytest.raises(MCPConnectionError, match=pattern):
            await server.call_tool("pid", {})


async def test_a_hanging_tool_hits_the_timeout_and_the_session_lives_on(lab: Lab) -> None:
    model = FakeModel([Reply.tool_calls(("hang", {"seconds": 30})), "gave up"])
    server = MCPServerHTTP(lab.url, timeout=0.5)
    async with Agent(model, toolsets=[server]) as agent:
        started = time.monotonic()
        result = await agent.run("wait")
        assert time.monotonic() - started < 10
        (text,) = tool_texts(result)
        assert "timed out after 0.5 s" in text
        assert (await server.call_tool("echo", {"text": "alive"})).content[0].text == "alive"


async def test_an_image_result_goes_to_the_model_as_an_image(lab: Lab) -> None:
    model = FakeModel([Reply.tool_calls(("picture", {})), "a pixel"])
    async with Agent(model, toolsets=[MCPServerHTTP(lab.url)]) as agent:
        result = await agent.run("draw")
    assert tool_texts(result) == ["[image (image/png, 0.1 KB) attached]"]
    (message,) = [m for m in result.messages if m.role == "tool"]
    assert message.parts[0].media_type == "image/png"
    assert message.parts[0].size == 70


async def test_images_that_are_not_are_named_not_sent(lab: Lab) -> None:
    model = FakeModel([Reply.tool_calls(("fake_picture", {})), "nothing"])
    async with Agent(model, toolsets=[MCPServerHTTP(lab.url)]) as agent:
        result = await agent.run("draw")
    (message,) = [m for m in result.messages if m.role == "tool"]
    assert message.parts == ()
    assert message.content.count("not shown") == 2


async def test_approval_goes_through_the_agents_approver(lab: Lab) -> None:
    asked: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> bool:
        asked.append(request)
        return False

    model = FakeModel([Reply.tool_calls(("echo", {"text": "rm -rf /"})), "ok"])
    server = MCPServerHTTP(lab.url, requires_approval={"echo"})
    async with Agent(model, toolsets=[server], approver=approver) as agent:
        result = await agent.run("say it")
    (request,) = asked
    assert request.arguments == {"text": "rm -rf /"}
    assert "denied" in tool_texts(result)[0]


async def test_colliding_tool_names_are_an_error_at_the_start(lab: Lab) -> None:
    @tool
    def echo(text: str) -> str:
        """A local echo."""
        return text

    async with Agent(FakeModel(["x"]), tools=[echo], toolsets=[MCPServerHTTP(lab.url)]) as agent:
        with pytest.raises(ToolDefinitionError, match=r"'echo'.*already taken.*prefix"):
            await agent.run("hi")
    prefixed = MCPServerHTTP(lab.url, prefix="lab")
    async with Agent(FakeModel(["x"]), tools=[echo], toolsets=[prefixed]) as agent:
        assert (await agent.run("hi")).output == "x"


async def test_sampling_and_elicitation_reach_the_callbacks() -> None:
    server = lab_stdio(
        protocol="legacy",
        sampling_model=FakeModel(["Three short words."]),
        elicitation=lambda message, schema: (
            {"name": "Ada"} if "name" in schema["properties"] else None
        ),
    )
    async with server:
        summary = await server.call_tool("summarize", {"text": "long text"})
        answer = await server.call_tool("ask_user", {"question": "Your name?"})
    assert summary.content[0].text == "summary: Three short words."
    assert answer.content[0].text == "accept: name='Ada'"


async def test_sampling_and_elicitation_on_the_newest_protocol() -> None:
    """On 2026-07-28 a server asks through InputRequiredResult rounds, not requests mid-call;
    the SDK client answers them with the same callbacks."""
    asked: list[str] = []

    def elicitor(message: str, schema: Mapping[str, Any]) -> dict[str, str]:
        asked.append(message)
        return {"name": "Ada"}

    server = lab_stdio(sampling_model=FakeModel(["Three short words."]), elicitation=elicitor)
    async with server:
        greeting = await server.call_tool("greet", {"question": "Your name?"})
        digest = await server.call_tool("digest", {"text": "long text"})
    assert greeting.content[0].text == "Hello, Ada"
    assert asked == ["Your name?"]
    assert digest.content[0].text == "digest: Three short words."
    async with lab_stdio() as refusing:  # no callbacks: declined, and no sampling offered
        declined = await refusing.call_tool("greet", {"question": "Your name?"})
        with pytest.raises(MCPError, match="sampling capability"):
            await refusing.call_tool("digest", {"text": "long text"})
    assert declined.is_error
    assert "decline" in declined.content[0].text


async def test_elicitation_is_declined_without_a_callback() -> None:
    async with lab_stdio(protocol="legacy") as server:
        answer = await server.call_tool("ask_user", {"question": "Your name?"})
    assert answer.content[0].text.startswith("decline")


# -- agentkit as an MCP server, for the official client ----------------------------------------


def serve_command(target: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agentkit", "mcp", "serve", target, "--name", "cities", *extra]


async def test_the_official_client_calls_an_agent_served_over_stdio() -> None:
    command = serve_command("tests.mcp_servers.served:agent")
    params = StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))
    async with Client(params) as client:
        (listed,) = (await client.list_tools()).tools
        result = await client.call_tool("cities", {"prompt": "Where is Oslo?"})
    assert listed.output_schema is not None
    assert listed.input_schema["required"] == ["prompt"]
    assert result.structured_content == {"name": "Oslo", "country": "Norway"}
    assert not result.is_error


@pytest.fixture(params=["tools", "agent"])
def served_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """`agentkit mcp serve tests.mcp_servers.served:NAME --http ...` in a subprocess."""
    port = free_port()
    target = f"tests.mcp_servers.served:{request.param}"
    command = serve_command(target, "--http", f"127.0.0.1:{port}")
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait()


async def test_the_official_client_calls_what_is_served_over_http(served_url: str) -> None:
    async with Client(served_url) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        if names == ["cities"]:
            city = await client.call_tool("cities", {"prompt": "Where is Bergen?"})
            assert city.structured_content == {"name": "Bergen", "country": "Norway"}
            return
        product = await client.call_tool("multiply", {"a": 6, "b": 7})
        wrong = await client.call_tool("multiply", {"a": "six"})
        late = await client.call_tool("slow", {})
    assert names == ["multiply", "slow"]
    assert product.content[0].text == "42"
    assert wrong.is_error
    assert "b: missing required argument" in wrong.content[0].text
    assert late.is_error
    assert "timed out after 0.5 s" in late.content[0].text


async def test_an_agentkit_toolset_can_use_an_agentkit_server() -> None:
    command = serve_command("tests.mcp_servers.served:tools")
    server = MCPServerStdio(command[0], command[1:], cwd=ROOT)
    async with Agent(
        FakeModel([Reply.tool_calls(("multiply", {"a": 3, "b": 4})), "12"]), toolsets=[server]
    ) as agent:
        result = await agent.run("3 times 4?")
    assert tool_texts(result) == ["12"]


async def test_tool_choice_and_stop_at_tools_may_name_a_servers_tool() -> None:
    model = FakeModel([Reply.tool_calls(("t_get_current_time", {"timezone": "UTC"}))])
    server = time_server(prefix="t")
    async with Agent(
        model,
        toolsets=[server],
        tool_choice="t_get_current_time",
        stop_at_tools=["t_get_current_time"],
    ) as agent:
        result = await agent.run("time?")
    assert json.loads(result.output)["timezone"] == "UTC"
    sent = model.requests[0].settings.tool_choice
    assert sent == "t_get_current_time"
    wrong = Agent(FakeModel(["x"]), toolsets=[server], tool_choice="t_nope")
    async with wrong:
        with pytest.raises(ValueError, match="'t_nope' names no tool"):
            await wrong.run("time?")


def test_mcp_server_refuses_what_a_client_cannot_call() -> None:
    from agentkit import RunContext

    @tool
    def needs_context(ctx: RunContext[None], x: int) -> int:
        """Needs a context."""
        return x

    with pytest.raises(ValueError, match="RunContext"):
        mcp_server([needs_context])


async def test_served_tools_in_process_with_the_official_client() -> None:
    from tests.mcp_servers.served import agent, text_agent, tools

    async with Client(mcp_server(tools, name="calc")) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["multiply", "slow"]
        assert (await client.call_tool("multiply", {"a": 2, "b": 21})).content[0].text == "42"
        unknown = await client.call_tool("divide", {"a": 1})
        late = await client.call_tool("slow", {})
    assert unknown.is_error
    assert "unknown tool 'divide'" in unknown.content[0].text
    assert late.is_error
    async with Client(mcp_server(agent, name="cities")) as client:
        empty = await client.call_tool("cities", {"prompt": " "})
        city = await client.call_tool("cities", {"prompt": "Where is Tromso?"})
    assert empty.is_error
    assert city.structured_content == {"name": "Tromso", "country": "Norway"}
    async with Client(mcp_server(text_agent, name="hello")) as client:
        (listed,) = (await client.list_tools()).tools
        hello = await client.call_tool("hello", {"prompt": "hi"})
    assert listed.output_schema is None
    assert hello.content[0].text == "Hello from agentkit."


def test_the_cli_lists_a_servers_tools_and_refuses_bad_options() -> None:
    from tests.cli.test_cli import in_process

    env = {"PATH": os.environ["PATH"]}
    command = f"{sys.executable} -m mcp_server_time --local-timezone UTC"
    listed = in_process(["tools", "list", "--json", "--mcp", command], env, "")
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)] == ["get_current_time", "convert_time"]
    bad = in_process(["tools", "list", "--mcp-url", "ftp://x"], env, "")
    assert bad.returncode == 2
    assert "http://" in bad.stderr
    empty = in_process(["tools", "list", "--mcp", " "], env, "")
    assert empty.returncode == 2
    serve_bad = in_process(
        ["mcp", "serve", "tests.mcp_servers.served:agent", "--http", "x"], env, ""
    )
    assert serve_bad.returncode == 2
    assert "HOST:PORT" in serve_bad.stderr


def test_the_cli_gives_servers_a_prefix_so_two_can_run_side_by_side() -> None:
    from tests.cli.test_cli import agentkit

    command = f"{sys.executable} -m mcp_server_time --local-timezone UTC"
    with MockChatServer() as server:
        server.add(
            Reply.tool_calls(("utc_get_current_time", {"timezone": "UTC"})),
            Reply.text("It is noon."),
        )
        ran = agentkit(
            "run", "Time?", "--no-session", "--mcp", f"utc={command}", "--mcp", f"b={command}",
            server=server,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == "It is noon.\n"
        sent = [t["function"]["name"] for t in server.requests[0].body["tools"]]
        assert sent == [
            "utc_get_current_time", "utc_convert_time", "b_get_current_time", "b_convert_time"
        ]  # fmt: skip
        tool_message = server.requests[1].body["messages"][-1]
        assert tool_message["role"] == "tool"
        assert '"timezone"' in tool_message["content"]  # the server's answer came back
        clash = agentkit("run", "Time?", "--no-session", "--mcp", command, "--mcp", command,
                         server=server)  # fmt: skip
    assert clash.returncode != 0
    assert "prefix" in clash.stderr
    listed = agentkit("tools", "list", "--mcp", command, "--mcp", command)
    assert listed.returncode == 0
    assert "get_current_time" in listed.stderr
    assert "--mcp NAME=COMMAND" in listed.stderr


async def test_a_server_installed_beside_this_python_is_found_without_path() -> None:
    """A virtual environment that was not activated: its console scripts are not on PATH."""
    server = MCPServerStdio(
        "mcp-server-time", ["--local-timezone", "UTC"], env={"PATH": "/usr/bin"}
    )
    saved = os.environ["PATH"]
    os.environ["PATH"] = "/usr/bin:/bin"
    try:
        async with server:
            names = [t.name for t in await server.list_tools()]
    finally:
        os.environ["PATH"] = saved
    assert "get_current_time" in names
    import shutil

    if shutil.which("uvx") is None:  # where uv is installed, uvx is found
        with pytest.raises(MCPConnectionError, match="comes with uv: pip install uv"):
            await MCPServerStdio("uvx", ["mcp-server-time"]).list_tools()


def test_function_tools_and_mcp_tools_are_siblings_under_base_tool() -> None:
    """#25: MCPTool is not a Tool copying its attributes by hand; both are BaseTools, set up
    through BaseTool's one constructor, so every field reaches both, checked the same way."""
    from mcp_types import Tool as RemoteTool

    from agentkit import BaseTool, Tool
    from agentkit.mcp._tools import MCPTool

    async def caller(name: str, arguments: dict[str, Any], backstop: float | None) -> Any:
        raise AssertionError("not called")

    remote = RemoteTool(name="echo", description="Echo.", inputSchema={
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})  # fmt: skip
    served = MCPTool(remote, caller, name="srv_echo", timeout=5.0, max_result_chars=10,
                     requires_approval=True)  # fmt: skip
    local = tool(lambda text: text, name="echo")
    assert isinstance(served, BaseTool)
    assert isinstance(local, BaseTool)
    assert not isinstance(served, Tool)
    fields = [name for name in BaseTool.__annotations__]
    for each in (served, local):
        assert all(hasattr(each, name) for name in fields), type(each)
    assert (served.timeout, served.max_result_chars, served.requires_approval) == (5.0, 10, True)
    assert served.definition().parameters["required"] == ["text"]
    with pytest.raises(AttributeError, match="fixed once made"):
        served.description = "changed"  # type: ignore[misc]
    with pytest.raises(ToolDefinitionError, match="timeout must be a positive"):
        MCPTool(remote, caller, name="srv_echo", timeout=0, max_result_chars=None,
                requires_approval=False)  # fmt: skip
