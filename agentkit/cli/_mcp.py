"""Layer 5 (edges): MCP on the command line: `--mcp` / `--mcp-url`, and `agentkit mcp serve`.

`agentkit.mcp` (and the SDK behind it) is imported only when one of these is used, so the
other commands start as fast as before and work without the `mcp` extra.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from agentkit._loading import LoadError, load_object
from agentkit._toolset import TOOL_PREFIX
from agentkit._visible import printable, visible
from agentkit.models._endpoint import is_loopback

from ._common import CONSOLE, ExitCode, UsageError, say

__all__ = ["add_mcp_command", "add_mcp_options", "mcp_toolsets"]

_PREFIXED = re.compile(f"({TOOL_PREFIX})=(.*)", re.DOTALL)
"""`NAME=COMMAND` / `NAME=URL`: NAME goes before each of that server's tool names."""


def add_mcp_options(parser: argparse.ArgumentParser) -> None:
    """`--mcp "[NAME=]command args"` and `--mcp-url [NAME=]URL`, both repeatable."""
    group = parser.add_argument_group("MCP servers (need agentkit-loop[mcp])")
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
    group.set_defaults(usage_of=group)
    serve = actions.add_parser(
        "serve", help="serve an agent (or a list of tools) as an MCP server",
        description="Serve module:name, an Agent or a list of tools, to MCP clients: over "
        "stdio (for a client that starts this command) or streamable HTTP.",
    )  # fmt: skip
    serve.add_argument("target", help="module:name or path/to/file.py:name of an Agent or tools")
    serve.add_argument(
        "--http", metavar="HOST:PORT",
        help="serve streamable HTTP at /mcp (e.g. 127.0.0.1:8000 or [::1]:8000); any other "
        "than a loopback address needs a bearer token, made and printed once",
    )  # fmt: skip
    serve.add_argument("--name", default="agentkit", help="the server's (and agent tool's) name")
    serve.add_argument(
        "--approve-with", choices=("elicit", "terminal"),
        help="who decides calls of tools that need approval: the client's user (elicit) or "
        "this terminal (terminal, with --http only); without it such tools are refused",
    )  # fmt: skip
    serve.add_argument(
        "--allow-unapproved", action="append", default=[], metavar="NAME",
        help="let this tool run without approval although it asks for it (repeatable)",
    )  # fmt: skip
    serve.add_argument(
        "--token-env", metavar="NAME",
        help="take the bearer token clients must send from this environment variable",
    )  # fmt: skip
    add_common(serve)
    serve.set_defaults(handler=_serve)


def _serve(options: argparse.Namespace) -> int:
    mcp = _sdk()
    try:
        target = load_object(options.target)
    except LoadError as error:
        raise UsageError(str(error)) from None
    if _is_tool(target):
        target = [target]
    if not isinstance(target, Sequence) and not _is_agent(target):
        raise UsageError(f"{options.target} is neither an Agent nor a tool or list of tools")
    transport, host, port = "stdio", "127.0.0.1", 8000
    if options.http:
        transport, (host, port) = "http", _host_and_port(options.http)
    token = _token(options, host) if transport == "http" else None
    try:
        approver = _serve_approver(options.approve_with, transport)
        server_options = {"approver": approver, "allow_unapproved": options.allow_unapproved}
        mcp.mcp_server(target, name=options.name, **server_options)  # refuses before binding
        if transport == "http":
            shown = f"[{host}]" if ":" in host else host
            say(f"serving {options.target} at http://{shown}:{port}/mcp")
        mcp.serve(target, transport=transport, host=host, port=port, name=options.name,
                  token=token, **server_options)  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    return ExitCode.OK


def _host_and_port(given: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT`, the host without brackets."""
    host, _, port_text = given.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--http {given}: give HOST:PORT, e.g. 127.0.0.1:8000 or [::1]:8000")
    return host, int(port_text)


def _token(options: argparse.Namespace, host: str) -> str | None:
    if options.token_env:
        token = os.environ.get(options.token_env)
        if not token:
            raise UsageError(f"--token-env {options.token_env}: that variable is not set")
        return token
    if is_loopback(host):
        return None
    token = secrets.token_urlsafe(32)
    say(
        f"warning: serving on {host} reaches beyond this machine; clients must send\n"
        f"  Authorization: Bearer {token}\n"
        "(shown once; pass --token-env NAME to choose it)"
    )
    return token


def _serve_approver(kind: str | None, transport: str) -> Any:
    if kind == "terminal":
        if transport != "http" or not sys.stdin.isatty():
            raise UsageError(
                "--approve-with terminal needs --http and a terminal (over stdio, the "
                "client owns standard input); use --approve-with elicit"
            )
        from ._prompt import TerminalApprover

        return TerminalApprover(yes=False, deny=False)
    return kind


def _is_tool(target: object) -> bool:
    from agentkit._tool import BaseTool

    return isinstance(target, BaseTool)


def _is_agent(target: object) -> bool:
    from agentkit._agent import Agent

    return isinstance(target, Agent)


def _sdk() -> Any:
    try:
        import agentkit.mcp as mcp
    except ImportError as error:
        raise UsageError(f"{error}") from None
    return mcp


def _terminal_elicitor(message: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Ask the person at the terminal for what an MCP server wants; empty means decline.

    The server's message and field names are escaped, and nothing else reaches the terminal
    while it asks (a server could otherwise draw a fake prompt of its own).
    """
    answers: dict[str, Any] = {}
    with CONSOLE.prompt() as write:
        write(printable(f"The MCP server asks: {message}") + "\n")
        for name, field in schema.get("properties", {}).items():
            kind = str(field.get("type", "string"))
            write(f"  {visible(str(name))} ({visible(kind)}; empty to decline): ")
            try:
                text = input().strip()
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
