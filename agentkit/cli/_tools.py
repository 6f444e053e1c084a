"""Layer 5 (edges): `agentkit tools list|schema`: the tools a file or an MCP server offers."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio

from agentkit._loading import load_tools
from agentkit._visible import visible
from agentkit.models._chat_wire import openai_tool

from ._common import ExitCode, say, show
from ._mcp import add_mcp_options, mcp_toolsets

__all__ = ["add_tools_command"]


def add_tools_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit tools list|schema`."""
    tools = commands.add_parser("tools", help="inspect tools", description="Inspect tools.")
    actions = tools.add_subparsers(title="actions", metavar="ACTION")
    tools.set_defaults(usage_of=tools)
    listing = actions.add_parser("list", help="names, descriptions and schemas of tools")
    listing.add_argument(
        "-T",
        "--tool",
        action="append",
        default=[],
        metavar="SPEC",
        help="tools to load (repeatable)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_mcp_options(listing)
    add_common(listing)
    listing.set_defaults(handler=_tools_list)
    schema = actions.add_parser("schema", help="the exact wire definitions of a file's tools")
    schema.add_argument("file", help="path/to/file.py, a module, or module:name")
    add_common(schema)
    schema.set_defaults(handler=_tools_schema)


async def _listed(toolsets: Sequence[Any]) -> list[Any]:
    """Every tool the MCP servers offer (their sessions closed afterwards)."""
    found: list[Any] = []
    for toolset in toolsets:
        try:
            found += await toolset.list_tools()
        finally:
            await toolset.aclose()
    return found


def _tools_list(options: argparse.Namespace) -> int:
    tools = [each for spec in options.tool for each in load_tools(spec)]
    toolsets = mcp_toolsets(options)
    if toolsets:
        tools += anyio.run(_listed, toolsets)
    names = Counter(t.name for t in tools)
    if twice := sorted(n for n, count in names.items() if count > 1):
        say(
            f"warning: tool names {', '.join(twice)} are taken more than once; a run refuses "
            "that: give one server a prefix (--mcp NAME=COMMAND, --mcp-url NAME=URL)"
        )
    if options.json:
        entries = [
            {
                "name": t.name,
                "description": t.description,
                "strict": t.strict,
                "requires_approval": t.requires_approval,
                "parameters": t.parameters,
            }
            for t in tools
        ]
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return ExitCode.OK
    if not tools:
        say("no tools given; load some with -T path/to/file.py")
    for each in tools:
        flags = [
            f
            for f, on in (("strict", each.strict), ("needs approval", each.requires_approval))
            if on
        ]
        show(visible(each.name) + (f" [{', '.join(flags)}]" if flags else ""))
        show(f"  {each.description.splitlines()[0] if each.description else '(no description)'}")
        for name, schema in each.parameters.get("properties", {}).items():
            about = f" - {schema['description']}" if schema.get("description") else ""
            show(f"    {visible(name)}: {_type_name(schema)}{about}")
    return ExitCode.OK


def _type_name(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind:
        return str(kind)
    if "anyOf" in schema:
        return " | ".join(_type_name(option) for option in schema["anyOf"])
    return "object" if "$ref" in schema else "any"


def _tools_schema(options: argparse.Namespace) -> int:
    definitions = [openai_tool(each) for each in load_tools(options.file)]
    print(json.dumps(definitions, indent=2, ensure_ascii=False))
    return ExitCode.OK
