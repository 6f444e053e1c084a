"""A hostile MCP server for the tests, built on the official SDK's low-level `Server`.

python -m tests.mcp_servers.hostile schemas     # stdio: one good tool beside bad schemas
python -m tests.mcp_servers.hostile schemas --abyss   # and one 110 levels deep
python -m tests.mcp_servers.hostile mute        # stdio: reads, never answers `initialize`
python -m tests.mcp_servers.hostile many        # stdio: 10,000 tools, 5 MB descriptions
python -m tests.mcp_servers.hostile flood       # stdio: announces list_changed on each call
"""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"x": node}}
    return node


GOOD = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
BAD = {
    "cycle": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
              "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}},
    "root_ref": {"type": "object", "properties": {"a": {"$ref": "#"}}},
    "missing": {"type": "object", "properties": {"a": {"$ref": "#/$defs/Nothing"}}},
    "deep": {"type": "object", "properties": {"a": _deep(40)}},
}  # fmt: skip


def schemas() -> Server[Any]:
    listed = [types.Tool(name="echo", description="Echo.", input_schema=GOOD)] + [
        types.Tool(name=name, description="Bad schema.", input_schema=schema)
        for name, schema in BAD.items()
    ]
    if "--abyss" in sys.argv:  # too deep for the SDK's client to read the listing at all
        listed.append(
            types.Tool(
                name="abyss", input_schema={"type": "object", "properties": {"a": _deep(110)}}
            )
        )

    async def list_tools(_context: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(_context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text = str((params.arguments or {}).get("text", ""))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    return Server("hostile", on_list_tools=list_tools, on_call_tool=call_tool)


def many() -> Server[Any]:
    listed = [types.Tool(name=f"t{n}", description="x", input_schema=GOOD) for n in range(10_000)]
    huge = [types.Tool(name="huge", description="d" * 5_000_000, input_schema=GOOD)]

    async def list_tools(_context: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=huge if "--huge" in sys.argv else listed)

    return Server("many", on_list_tools=list_tools)


def flood() -> Server[Any]:
    async def list_tools(_context: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="echo", input_schema=GOOD)])

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        for _ in range(5):
            await context.session.send_tool_list_changed()
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

    return Server("flood", on_list_tools=list_tools, on_call_tool=call_tool)


async def _run(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def main() -> None:
    mode = sys.argv[1]
    if mode == "mute":
        sys.stdin.read()  # takes the handshake, answers nothing, until the client goes
        time.sleep(3600)
        return
    anyio.run(_run, {"schemas": schemas, "many": many, "flood": flood}[mode]())


if __name__ == "__main__":
    main()
