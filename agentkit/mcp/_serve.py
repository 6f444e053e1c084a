"""Layer 5 (edges): agentkit tools, or a whole agent, served as an MCP server.

```python
from agentkit.mcp import serve

serve(agent, name="weather")                    # stdio, for an MCP client to start
serve(tools, transport="http", port=8000)       # streamable HTTP on 127.0.0.1:8000/mcp
serve(tools, approver="elicit")                 # calls that need approval ask the client
```

An agent is one tool (`prompt` in, its output out); a structured output type gives the tool
an `outputSchema` and each answer `structuredContent`. Tools run exactly as in an agent's
loop, through its dispatcher: validated arguments, timeouts that hold for sync tools too
(daemon threads), result caps, failures as `isError` results, and approvals. A tool that
needs approval is refused when the server is made, unless an approver decides its calls
(`"elicit"` asks the client's user; any `Approver` works) or `allow_unapproved` names it.
Over HTTP, requests must name this server's host (Host and Origin checks), and a server
bound to a non-loopback address needs a bearer token.
"""

from __future__ import annotations

import hmac
import inspect
import json
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import TypeAdapter

from agentkit._agent import Agent
from agentkit._dispatch import ApprovalRequest, Approver, Dispatcher
from agentkit._exceptions import AgentkitError, ConfigurationError
from agentkit._messages import ToolCall, Usage
from agentkit._tool import BaseTool, tool
from agentkit._version import __version__
from agentkit.models._endpoint import is_loopback

__all__ = ["mcp_server", "serve"]

Transport = Literal["stdio", "http"]
ServeApprover = Approver | Literal["elicit"]
"""Who decides calls of tools that need approval: `"elicit"` (the client's user) or yours."""
_PROMPT_SCHEMA = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "description": "What to ask, in plain words."}},
    "required": ["prompt"],
    "additionalProperties": False,
}
_APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Run this call?"}},
    "required": ["approve"],
}
_CONCURRENT_CALLS = 16
"""Calls of one server that run at once; more wait (sync tools share anyio's 40 threads)."""


def mcp_server(
    target: Agent[Any] | Sequence[BaseTool | Any],
    *,
    name: str = "agentkit",
    tool_name: str | None = None,
    description: str | None = None,
    approver: ServeApprover | None = None,
    allow_unapproved: Collection[str] = (),
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) offering an agent or a list of tools.

    Args:
        target: An `Agent` (served as one tool; its own approver decides its tools'
            calls), or tools and plain functions.
        name: The server's name, shown to clients.
        tool_name: For an agent: the tool's name (default: `name`).
        description: For an agent: the tool's description (default: its instructions).
        approver: Decides each call of a tool that needs approval: `"elicit"` asks the
            client's user (an MCP elicitation), or any `Approver`.
        allow_unapproved: Tools that need approval but may run without it, by name: each
            one an explicit choice.

    Raises:
        ValueError: Two tools share a name, a tool needs a `RunContext`, or a tool needs
            approval with no approver and is not in `allow_unapproved`.
    """
    served: _AgentTool | None = None
    tools: dict[str, BaseTool] = {}
    if isinstance(target, Agent):
        served = _AgentTool(target, tool_name or name, description)
    else:
        tools = _tools_by_name(target)
        _check_approvals(tools, approver, allow_unapproved)
    limiter = anyio.CapacityLimiter(_CONCURRENT_CALLS)
    unapproved = frozenset(allow_unapproved)

    async def list_tools(_context: Any, _params: Any) -> types.ListToolsResult:
        if served is not None:
            return types.ListToolsResult(tools=[served.listing()])
        return types.ListToolsResult(tools=[_listing(each) for each in tools.values()])

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        if served is not None and params.name == served.name:
            return await served.call(arguments)
        if params.name not in tools:
            return _failure(f"unknown tool {params.name!r}; this server has {', '.join(tools)}")
        decide = _approval(approver, unapproved, context)
        dispatcher = Dispatcher(tools=tools, limiter=limiter, approver=decide)
        call = ToolCall(id=str(context.request_id or ""), name=params.name,
                        arguments=json.dumps(arguments))  # fmt: skip
        result = await dispatcher.run_one(call, Usage())
        return _text(result.content) if result.ok else _failure(result.error or "failed")

    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


def _check_approvals(
    tools: dict[str, BaseTool], approver: object, allowed: Collection[str]
) -> None:
    unknown = sorted(set(allowed) - set(tools))
    if unknown:
        raise ConfigurationError(f"allow_unapproved names no served tool: {', '.join(unknown)}")
    needing = sorted(n for n, t in tools.items() if t.requires_approval and n not in allowed)
    if needing and approver is None:
        raise ConfigurationError(
            f"{', '.join(needing)} need approval, and nobody would be asked: serve with an "
            "approver (approver='elicit' asks the client's user; --approve-with on the "
            "command line), or name each tool that may run unapproved (allow_unapproved, "
            "--allow-unapproved NAME)"
        )


def _approval(
    approver: ServeApprover | None, unapproved: frozenset[str], context: Any
) -> Callable[[ApprovalRequest], Awaitable[bool]]:
    async def decide(request: ApprovalRequest) -> bool:
        if request.name in unapproved:
            return True
        if approver == "elicit":
            return await _elicited(request, context)
        if approver is None or isinstance(approver, str):
            return False
        answer = approver(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer is True  # a served call cannot wait for later: DEFER denies it

    return decide


async def _elicited(request: ApprovalRequest, context: Any) -> bool:
    """Ask the client's user through an MCP elicitation; anything but a clear yes is no."""
    text, _ = request.describe(limit=2000)
    try:
        answer = await context.session.elicit_form(
            f"Allow this call?\n{text}", _APPROVAL_SCHEMA, related_request_id=context.request_id
        )
    except Exception:  # the client cannot be asked (no elicitation, no back channel): no
        return False
    content = answer.content or {}
    return answer.action == "accept" and content.get("approve") is True


def serve(
    target: Agent[Any] | Sequence[BaseTool | Any],
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    token: str | None = None,
    **options: Any,
) -> None:
    """Serve `target` until the client goes away (stdio) or the process is stopped (http).

    Args:
        target: An `Agent` or tools, as for `mcp_server`.
        transport: `"stdio"` or `"http"` (streamable HTTP at `path`).
        host: The address to bind (HTTP); `::1` for IPv6 loopback.
        port: The port (HTTP).
        path: The MCP endpoint's path (HTTP).
        token: A bearer token every HTTP request must carry (`Authorization: Bearer ...`);
            required when `host` is not a loopback address.
        options: Those of `mcp_server` (`name`, `tool_name`, `description`, `approver`,
            `allow_unapproved`).

    Raises:
        ValueError: As `mcp_server`, or a non-loopback `host` without a `token`.
    """
    if transport == "http" and token is None and not is_loopback(host):
        raise ConfigurationError(
            f"serving on {host}, beyond this machine, needs a bearer token (token=...; the "
            "command line makes one); bind 127.0.0.1 or ::1 to serve this machine only"
        )
    server = mcp_server(target, **options)
    anyio.run(_serve, server, transport, host, port, path, token)


async def _serve(
    server: Server[Any], transport: Transport, host: str, port: int, path: str, token: str | None
) -> None:
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import uvicorn

    bare = host.strip("[]")
    names = _host_names(bare)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:{port}" for name in names],
        allowed_origins=[f"{scheme}://{name}:{port}" for name in names
                         for scheme in ("http", "https")],
    )  # fmt: skip
    app: Any = server.streamable_http_app(
        streamable_http_path=path, host=bare, transport_security=security
    )
    if token is not None:
        app = _BearerCheck(app, token)
    config = uvicorn.Config(app, host=bare, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


def _host_names(host: str) -> set[str]:
    """The `Host` values a request to this server may carry (DNS rebinding protection)."""
    names = {f"[{host}]" if ":" in host else host}
    wildcard = host in ("0.0.0.0", "::", "0")
    if is_loopback(host) or wildcard:
        names |= {"localhost", "127.0.0.1", "[::1]"}
    if wildcard:  # every address of this machine: its names too (the token guards it)
        names.add(socket.gethostname())
    return names


class _BearerCheck:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self._expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"),
                                        (b"www-authenticate", b"Bearer")]})  # fmt: skip
                await send({"type": "http.response.body", "body": b"a bearer token is needed"})
                return
        await self.app(scope, receive, send)


class _AgentTool:
    """An agent as one MCP tool: `{"prompt": ...}` in, the run's output out."""

    def __init__(self, agent: Agent[Any], name: str, description: str | None) -> None:
        self.agent, self.name = agent, name
        self.description = description or agent.instructions or f"Ask the {name} agent."
        output = agent.output_type
        self.structured = output is not str
        self._adapter: TypeAdapter[Any] | None = TypeAdapter(output) if self.structured else None
        self.wrapped = False
        self.output_schema: dict[str, Any] | None = None
        if self._adapter is not None:
            schema = self._adapter.json_schema()
            self.wrapped = schema.get("type") != "object"
            self.output_schema = (
                {"type": "object", "properties": {"result": schema}, "required": ["result"]}
                if self.wrapped
                else schema
            )

    def listing(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=self.description,
            input_schema=_PROMPT_SCHEMA,
            output_schema=self.output_schema,
        )

    async def call(self, arguments: dict[str, Any]) -> types.CallToolResult:
        prompt = arguments.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _failure("prompt: send the request as a non-empty string")
        try:
            result = await self.agent.run(prompt)
        except AgentkitError as error:
            return _failure(f"the agent could not answer: {error}")
        if self._adapter is None:
            return _text(str(result.output))
        value = self._adapter.dump_python(result.output, mode="json")
        structured = {"result": value} if self.wrapped else value
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(structured))],
            structured_content=structured,
        )


def _tools_by_name(items: Sequence[BaseTool | Any]) -> dict[str, BaseTool]:
    tools: dict[str, BaseTool] = {}
    for item in items:
        made = item if isinstance(item, BaseTool) else tool(item)
        if made.takes_context:
            raise ConfigurationError(
                f"{made.name} takes a RunContext, which an MCP client cannot give"
            )
        if made.name in tools:
            raise ConfigurationError(f"two tools are named {made.name!r}")
        tools[made.name] = made
    return tools


def _listing(served: BaseTool) -> types.Tool:
    return types.Tool(
        name=served.name, description=served.description or None, input_schema=served.parameters
    )


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def _failure(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )
