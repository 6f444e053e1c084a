"""Layer 5 (edges): agentkit tools, or a whole agent, served as an MCP server.

```python
from agentkit.mcp import serve

serve(agent, name="weather")                    # stdio, for an MCP client to start
serve(tools, transport="http", port=8000)       # streamable HTTP on 127.0.0.1:8000/mcp
```

An agent is one tool (`prompt` in, its output out); a structured output type gives the tool
an `outputSchema` and each answer `structuredContent`. Tools keep their own schemas, argument
checks, timeouts and result caps; a failure is an `isError` result the client's model sees.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from pydantic import TypeAdapter

from agentkit._agent import Agent
from agentkit._exceptions import AgentkitError, ToolError
from agentkit._tool import Tool, serialize_result, tool
from agentkit._version import __version__

__all__ = ["mcp_server", "serve"]

Transport = Literal["stdio", "http"]
_PROMPT_SCHEMA = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "description": "What to ask, in plain words."}},
    "required": ["prompt"],
    "additionalProperties": False,
}


def mcp_server(
    target: Agent[Any] | Sequence[Tool[..., Any] | Any],
    *,
    name: str = "agentkit",
    tool_name: str | None = None,
    description: str | None = None,
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) offering an agent or a list of tools.

    Args:
        target: An `Agent` (served as one tool), or tools and plain functions.
        name: The server's name, shown to clients.
        tool_name: For an agent: the tool's name (default: `name`).
        description: For an agent: the tool's description (default: its instructions).

    Raises:
        ValueError: Two tools share a name, or a tool needs a `RunContext`.
    """
    served: _AgentTool | None = None
    tools: dict[str, Tool[..., Any]] = {}
    if isinstance(target, Agent):
        served = _AgentTool(target, tool_name or name, description)
    else:
        tools = _tools_by_name(target)

    async def list_tools(_context: Any, _params: Any) -> types.ListToolsResult:
        if served is not None:
            return types.ListToolsResult(tools=[served.listing()])
        return types.ListToolsResult(tools=[_listing(each) for each in tools.values()])

    async def call_tool(_context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        if served is not None and params.name == served.name:
            return await served.call(arguments)
        chosen = tools.get(params.name)
        if chosen is None:
            return _failure(f"unknown tool {params.name!r}; this server has {', '.join(tools)}")
        return await _call(chosen, arguments)

    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


def serve(
    target: Agent[Any] | Sequence[Tool[..., Any] | Any],
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    **options: Any,
) -> None:
    """Serve `target` until the client goes away (stdio) or the process is stopped (http).

    `options` are those of `mcp_server` (`name`, `tool_name`, `description`).
    """
    server = mcp_server(target, **options)
    anyio.run(_serve, server, transport, host, port, path)


async def _serve(
    server: Server[Any], transport: Transport, host: str, port: int, path: str
) -> None:
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=path, host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


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


def _tools_by_name(items: Sequence[Tool[..., Any] | Any]) -> dict[str, Tool[..., Any]]:
    tools: dict[str, Tool[..., Any]] = {}
    for item in items:
        made = item if isinstance(item, Tool) else tool(item)
        if made.takes_context:
            raise ValueError(f"{made.name} takes a RunContext, which an MCP client cannot give")
        if made.name in tools:
            raise ValueError(f"two tools are named {made.name!r}")
        tools[made.name] = made
    return tools


def _listing(served: Tool[..., Any]) -> types.Tool:
    return types.Tool(
        name=served.name, description=served.description or None, input_schema=served.parameters
    )


async def _call(served: Tool[..., Any], arguments: dict[str, Any]) -> types.CallToolResult:
    try:
        validated = served.validate(json.dumps(arguments))
        with anyio.fail_after(served.timeout):
            if served.is_async:
                value = await served.call(validated)
            else:
                value = await anyio.to_thread.run_sync(served.call, validated)
                if inspect.isawaitable(value):
                    value = await value
        text = serialize_result(value, tool_name=served.name)
    except TimeoutError:
        return _failure(f"{served.name} took longer than {served.timeout} s")
    except ToolError as error:
        return _failure(str(error))
    except Exception as error:
        return _failure(f"{served.name} failed: {type(error).__name__}: {error}")
    if served.max_result_chars is not None and len(text) > served.max_result_chars:
        cut = len(text) - served.max_result_chars
        text = text[: served.max_result_chars] + f"\n[... {cut} more characters not shown]"
    return _text(text)


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def _failure(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )
