"""Layer 5 (edges): MCP on the command line: `--mcp` / `--mcp-url`, and `agentkit mcp serve`.

`agentkit.mcp` (and the SDK behind it) is imported only when one of these is used, so the
other commands start as fast as before and work without the `mcp` extra.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ._cli_common import EXIT_CODES, UsageError, say
from ._loading import LoadError, load_object
from ._toolset import TOOL_PREFIX

__all__ = ["add_mcp_command", "add_mcp_options", "mcp_toolsets"]

_PREFIXED = re.compile(f"({TOOL_PREFIX})=(.*)", re.DOTALL)
"""`NAME=COMMAND` / `NAME=URL`: NAME goes before each of that server's tool names."""


def add_mcp_options(parser: argparse.ArgumentParser) -> None:
    """`--mcp "[NAME=]command args"` and `--mcp-url [NAME=]URL`, both repeatable."""
    group = parser.add_argument_group("MCP servers (need agentkit[mcp])")
    group.add_argument(
        "--mcp", action="append", default=[], metavar="[NAME=]COMMAND",
        help='an MCP server to start over stdio, e.g. --mcp "uvx mcp-server-time"; with '
        "NAME= its tools are named NAME_tool, so two servers cannot collide (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--mcp-url", action="append", default=[], metavar="[NAME=]URL",
        help="an MCP server over streamable HTTP, e.g. http://127.0.0.1:8000/mcp; NAME= as "
        "with --mcp (repeatable)",
    )  # fmt: skip


def mcp_toolsets(options: argparse.Namespace) -> list[Any]:
    """The toolsets `--mcp` and `--mcp-url` name (empty when neither is given)."""
    commands, urls = getattr(options, "mcp", []), getattr(options, "mcp_url", [])
    if not commands and not urls:
        return []
    mcp = _sdk()
    elicit = _terminal_elicitor if sys.stdin.isatty() else None
    toolsets: list[Any] = []
    for given in commands:
        prefix, command = _prefixed(given)
        words = shlex.split(command)
        if not words:
            raise UsageError("--mcp: give the server's command, e.g. --mcp 'uvx mcp-server-time'")
        toolsets.append(mcp.MCPServerStdio(words[0], words[1:], prefix=prefix, elicitation=elicit))
    for given in urls:
        prefix, url = _prefixed(given)
        try:
            toolsets.append(mcp.MCPServerHTTP(url, prefix=prefix, elicitation=elicit))
        except ValueError as error:
            raise UsageError(f"--mcp-url: {error}") from None
    return toolsets


def _prefixed(given: str) -> tuple[str | None, str]:
    """(`NAME`, the rest) of `NAME=...`; (None, all of it) otherwise."""
    found = _PREFIXED.fullmatch(given.strip())
    return (found[1], found[2]) if found else (None, given)


def add_mcp_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit mcp serve`."""
    group = commands.add_parser("mcp", help="serve agents or tools over MCP")
    actions = group.add_subparsers(title="actions", metavar="ACTION")
    serve = actions.add_parser(
        "serve", help="serve an agent (or a list of tools) as an MCP server",
        description="Serve module:name, an Agent or a list of tools, to MCP clients: over "
        "stdio (for a client that starts this command) or streamable HTTP.",
    )  # fmt: skip
    serve.add_argument("target", help="module:name or path/to/file.py:name of an Agent or tools")
    serve.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at /mcp")
    serve.add_argument("--name", default="agentkit", help="the server's (and agent tool's) name")
    add_common(serve)
    serve.set_defaults(handler=_serve)


def _serve(options: argparse.Namespace) -> int:
    mcp = _sdk()
    try:
        target = load_object(options.target)
    except LoadError as error:
        raise UsageError(str(error)) from None
    if not isinstance(target, Sequence) and not _is_agent(target):
        raise UsageError(f"{options.target} is neither an Agent nor a list of tools")
    transport, host, port = "stdio", "127.0.0.1", 8000
    if options.http:
        host, _, port_text = options.http.rpartition(":")
        if not host or not port_text.isdigit():
            raise UsageError(f"--http {options.http}: give HOST:PORT, e.g. 127.0.0.1:8000")
        transport, port = "http", int(port_text)
        say(f"serving {options.target} at http://{host}:{port}/mcp")
    try:
        mcp.serve(target, transport=transport, host=host, port=port, name=options.name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return EXIT_CODES["ok"]


def _is_agent(target: object) -> bool:
    from ._agent import Agent

    return isinstance(target, Agent)


def _sdk() -> Any:
    try:
        import agentkit.mcp as mcp
    except ImportError as error:
        raise UsageError(f"{error}") from None
    return mcp


def _terminal_elicitor(message: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Ask the person at the terminal for what an MCP server wants; empty means decline."""
    say(f"The MCP server asks: {message}")
    answers: dict[str, Any] = {}
    for name, field in schema.get("properties", {}).items():
        kind = field.get("type", "string")
        try:
            text = input(f"  {name} ({kind}; empty to decline): ").strip()
        except EOFError:
            return None
        if not text:
            return None
        answers[name] = _typed(text, kind)
    return answers


def _typed(text: str, kind: str) -> Any:
    if kind == "integer" and text.lstrip("-").isdigit():
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return text.lower() in ("y", "yes", "true", "1")
    return text
