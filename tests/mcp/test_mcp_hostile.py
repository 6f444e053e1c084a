"""A hostile MCP server cannot hang, flood or double-run the host.

The servers are real processes (tests/mcp_servers/hostile.py, built on the official SDK, and
a socket that never answers); the client side is agentkit's toolsets on the official client.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import Agent, ToolDefinitionError
from agentkit.mcp import MCPConnectionError, MCPServerHTTP, MCPServerStdio
from agentkit.testing import FakeModel, Reply

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def hostile(mode: str, *extra: str, **options: Any) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, ["-m", "tests.mcp_servers.hostile", mode, *extra],
                          cwd=ROOT, **options)  # fmt: skip


async def test_bad_schemas_cost_only_their_own_tools() -> None:
    with anyio.fail_after(30):
        async with hostile("schemas") as server:
            tools = await server.list_tools()
    assert [t.name for t in tools] == ["echo"]
    assert set(server.refused) == {"cycle", "root_ref", "missing", "deep"}
    assert "only refer to each other" in server.refused["cycle"]
    assert "not a local definition" in server.refused["root_ref"]
    assert "names no definition" in server.refused["missing"]
    assert "levels deep" in server.refused["deep"]


async def test_a_listing_too_deep_to_read_fails_at_the_list_timeout() -> None:
    """The SDK's client drops a message it cannot parse (a schema 110 levels deep): the
    request would wait forever; `list_timeout` ends it."""
    server = hostile("schemas", "--abyss", list_timeout=2)
    started = time.monotonic()
    with pytest.raises(MCPConnectionError, match="within 2 s"):
        await server.list_tools()
    assert time.monotonic() - started < 10
    await server.aclose()


async def test_a_server_that_never_answers_is_cancelled_at_the_callers_deadline() -> None:
    server = hostile("mute")
    started = time.monotonic()
    with pytest.raises(TimeoutError), anyio.fail_after(1):
        await server.list_tools()
    assert time.monotonic() - started < 3
    await server.aclose()


async def test_a_server_that_never_answers_fails_at_its_open_timeout() -> None:
    server = hostile("mute", open_timeout=1)
    started = time.monotonic()
    with pytest.raises(MCPConnectionError, match="handshake within 1 s"):
        await server.list_tools()
    assert time.monotonic() - started < 5
    await server.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for each in [*held, listener]:
        each.close()


async def test_an_http_server_that_never_answers_fails_in_time(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/mcp"
    started = time.monotonic()
    with pytest.raises(TimeoutError), anyio.fail_after(1):
        await MCPServerHTTP(url).list_tools()
    server = MCPServerHTTP(url, open_timeout=1)
    with pytest.raises(MCPConnectionError, match="handshake within 1 s"):
        await server.list_tools()
    assert time.monotonic() - started < 8
    await server.aclose()


async def test_thousands_of_tools_are_refused_unless_filtered() -> None:
    server = hostile("many")
    with pytest.raises(ToolDefinitionError, match="10000 tools, more than max_tools=128"):
        await server.list_tools()
    await server.aclose()
    async with hostile("many", allow={"t1", "t2"}) as picked:
        assert [t.name for t in await picked.list_tools()] == ["t1", "t2"]


async def test_a_huge_description_is_cut() -> None:
    async with hostile("many", "--huge") as server:
        (huge,) = await server.list_tools()
    assert len(huge.description) < 4_100
    assert huge.description.endswith("characters cut]")


async def test_a_list_changed_flood_is_debounced() -> None:
    model = FakeModel([Reply.tool_calls(("echo", {"text": "x"})), "done"] * 20)
    server = hostile("flood")
    async with Agent(model, toolsets=[server]) as agent:
        for _ in range(20):
            await agent.run("go")
    assert server.list_requests <= 3


async def test_a_call_the_server_died_in_is_never_sent_again(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    server = MCPServerStdio(sys.executable, ["-m", "tests.mcp_servers.lab", "--stdio"], cwd=ROOT)
    async with server:
        with pytest.raises(MCPConnectionError, match="may or may not have run"):
            await server.call_tool("crash", {"log": str(log)})
        assert log.read_text() == "crash ran\n"
        assert (await server.call_tool("echo", {"text": "back"})).content[0].text == "back"
    assert log.read_text() == "crash ran\n"
    assert server.connections == 2
