"""`mcp-call`: one call of a local stdio MCP tool, through agentkit and through the bare SDK.

Both call `echo` of the same server (tests/mcp_servers/lab.py, built with the SDK's FastMCP),
started once per measurement process and kept open. agentkit's unit is what an agent run
does per call: validate the model's JSON arguments against the server's schema, call through
the shared session (held on its own thread), turn the result into text. The SDK's unit is
`client.call_tool` on a session entered by the measuring task itself. The difference is what
agentkit adds to the server's own time.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "tests.mcp_servers.lab", "--stdio"]


def sdk_client() -> Callable[[str], Awaitable[None]]:
    from mcp import Client, StdioServerParameters

    held: list[Any] = []
    stack = AsyncExitStack()

    async def call(_: str) -> None:
        if not held:
            params = StdioServerParameters(command=COMMAND[0], args=COMMAND[1:], cwd=str(ROOT))
            held.append(await stack.enter_async_context(Client(params, cache=None)))
        result = await held[0].call_tool("echo", {"text": "hello"})
        assert result.content[0].text == "hello"

    call.aclose = stack.aclose  # type: ignore[attr-defined]
    return call


def agentkit_toolset() -> Callable[[str], Awaitable[None]]:
    from agentkit.mcp import MCPServerStdio

    server = MCPServerStdio(COMMAND[0], COMMAND[1:], cwd=ROOT)
    tools: dict[str, Any] = {}

    async def call(_: str) -> None:
        if not tools:
            tools.update({t.name: t for t in await server.list_tools()})
        echo = tools["echo"]
        text = await echo.call(echo.validate('{"text": "hello"}'))
        assert text == "hello"

    call.aclose = server.aclose  # type: ignore[attr-defined]
    return call


CALLS = {"mcp-sdk": sdk_client, "agentkit": agentkit_toolset}
