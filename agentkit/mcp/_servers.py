"""Layer 5 (edges): MCP servers as toolsets: `MCPServerStdio` and `MCPServerHTTP`.

```python
from agentkit import Agent
from agentkit.mcp import MCPServerStdio

time = MCPServerStdio("uvx", ["mcp-server-time"], prefix="time")
async with Agent("openai:gpt-4.1", toolsets=[time]) as agent:
    result = await agent.run("What time is it in Oslo?")
```

Tools are listed once per session and cached; `notifications/tools/list_changed` drops the
cache. The session opens at `async with agent:` (or at the first run) and is shared by all
later and concurrent runs until the agent (or the toolset) is closed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.abc
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ListToolsResult
from mcp_types import Tool as RemoteTool

from agentkit._exceptions import ConfigurationError, ToolDefinitionError
from agentkit._tool import DEFAULT_MAX_RESULT_CHARS, DEFAULT_TOOL_TIMEOUT, ToolDefinition
from agentkit._toolset import TOOL_PREFIX

from ._callbacks import Elicitor, SamplingModel, elicitation_callback, sampling_callback
from ._connection import Connection, MCPConnectionError
from ._tools import MCPTool

__all__ = ["MCPServerHTTP", "MCPServerSSE", "MCPServerStdio", "MCPToolset"]

ApprovalRule = bool | Collection[str] | Callable[[str], bool]
"""Which tools need approval: all (`True`), none, these names, or those a function picks."""
_NAME = re.compile(r"[^A-Za-z0-9_-]")
DEFAULT_MAX_TOOLS = 128
"""OpenAI's own limit of tools per request."""
DEFAULT_OPEN_TIMEOUT = 30.0
DEFAULT_LIST_TIMEOUT = 30.0
LIST_DEBOUNCE = 1.0
"""Seconds after a listing during which an announced change waits for the next listing."""
logger = logging.getLogger("agentkit.mcp")
_LIST_PAGES = 100


class MCPToolset:
    """What `MCPServerStdio` and `MCPServerHTTP` share: listing, filtering, naming, calling.

    Args:
        label: How the server is named in errors.
        prefix: Put before every tool name (`prefix_name`), so servers cannot collide.
        allow: Only these tools (the server's names); None for all.
        deny: Never these tools.
        filter: Keep a tool only when this returns true for its `ToolDefinition`.
        requires_approval: True for all tools, a collection of names, or a predicate on
            the name; such calls go to the agent's approver like a local tool's.
        timeout: Seconds one call may take (None: no limit).
        max_result_chars: Characters of a result sent to the model.
        sampling_model: Answer the server's `sampling/createMessage` with this model
            (none: refused).
        elicitation: Answer the server's elicitations: `(message, schema) -> answer or
            None` (none: declined).
        protocol: `"auto"` negotiates the newest protocol the server speaks; `"legacy"`
            forces the 2025 handshake (servers that send requests back over the session).
        max_tools: More tools than this (after filtering) is an error, not thousands of
            definitions sent with every request.
        open_timeout: Seconds to start the server and finish its handshake.
        list_timeout: Seconds one listing of its tools may take.
    """

    def __init__(
        self,
        label: str,
        *,
        prefix: str | None = None,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        filter: Callable[[ToolDefinition], bool] | None = None,
        requires_approval: ApprovalRule = False,
        timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS,
        sampling_model: SamplingModel | None = None,
        elicitation: Elicitor | None = None,
        protocol: Literal["auto", "legacy"] = "auto",
        max_tools: int = DEFAULT_MAX_TOOLS,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        list_timeout: float = DEFAULT_LIST_TIMEOUT,
    ) -> None:
        if prefix is not None and not re.fullmatch(TOOL_PREFIX, prefix):
            raise ConfigurationError(f"prefix {prefix!r}: use 1 to 40 letters, digits, '_' or '-'")
        self.label = label
        self.prefix = prefix
        self.allow: frozenset[str] | None = None if allow is None else frozenset(allow)
        self.deny: frozenset[str] = frozenset(deny)
        self.filter = filter
        self.requires_approval = requires_approval
        self.timeout = timeout
        self.max_result_chars = max_result_chars
        self.sampling_model = sampling_model
        self.elicitation = elicitation
        self.protocol = protocol
        self.max_tools = max_tools
        self.list_timeout = list_timeout
        self.refused: dict[str, str] = {}
        """Tools of the server left out, by name, with why (a schema that cannot be used)."""
        self.list_requests: int = 0
        """`tools/list` requests sent (one per session, and one per change it announced)."""
        self._tools: tuple[MCPTool, ...] | None = None
        self._listed_in = 0
        self._listed_at = -LIST_DEBOUNCE
        self._stale = False
        self._connection = Connection(label, self._client, self._listen, open_timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    async def __aenter__(self) -> MCPToolset:
        await self.list_tools()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the session (and the server's process, for stdio)."""
        self._tools = None
        await self._connection.aclose()

    @property
    def connections(self) -> int:
        """Sessions opened so far (more than 1 after the server had to be reconnected)."""
        return self._connection.connections

    async def list_tools(self) -> tuple[MCPTool, ...]:
        """The server's tools, filtered and named; listed once per session, then cached."""
        cached = self._tools
        # A change announced shortly after a listing waits a moment: a server that floods
        # list_changed is listed at most once per LIST_DEBOUNCE seconds.
        fresh = not self._stale or time.monotonic() - self._listed_at < LIST_DEBOUNCE
        if cached is not None and self._listed_in == self._connection.connections and fresh:
            return cached
        self._stale = False
        remote = await self._connection.request(self._list_all)
        tools = tuple(self._adopted(remote))
        names = [tool.name for tool in tools]
        clash = sorted({name for name in names if names.count(name) > 1})
        if clash:
            raise ToolDefinitionError(
                f"MCP server {self.label}: tool names {', '.join(clash)} collide after "
                "renaming to the allowed characters; filter one out or set a prefix"
            )
        self._tools, self._listed_in = tools, self._connection.connections
        self._listed_at = time.monotonic()
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], read_timeout: float | None = None
    ) -> CallToolResult:
        """Call the server's tool `name` (its own name, not the prefixed one)."""

        async def call(client: Client) -> CallToolResult:
            return await client.call_tool(name, arguments, read_timeout_seconds=read_timeout)

        return await self._connection.request(call, replay=False)

    # -- internals --------------------------------------------------------------------------

    async def _list_all(self, client: Client) -> list[RemoteTool]:
        self.list_requests += 1
        tools: list[RemoteTool] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(self.list_timeout):
                for _ in range(_LIST_PAGES):
                    page: ListToolsResult = await client.list_tools(
                        cursor=cursor, cache_mode="refresh"
                    )
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except TimeoutError:
            raise MCPConnectionError(
                f"MCP server {self.label} did not list its tools within {self.list_timeout:g} s "
                "(list_timeout)"
            ) from None
        return tools

    def _keeps(self, tool: RemoteTool) -> bool:
        if self.allow is not None and tool.name not in self.allow:
            return False
        if tool.name in self.deny:
            return False
        if self.filter is not None:
            definition = ToolDefinition(
                name=tool.name, parameters=tool.input_schema, description=tool.description
            )
            return bool(self.filter(definition))
        return True

    def _adopted(self, remote: list[RemoteTool]) -> Iterator[MCPTool]:
        """The tools kept, adopted; a tool whose schema is refused is left out, said once."""
        kept = [tool for tool in remote if self._keeps(tool)]
        if len(kept) > self.max_tools:
            raise ToolDefinitionError(
                f"MCP server {self.label} offers {len(kept)} tools, more than max_tools="
                f"{self.max_tools}; choose some with allow=, deny= or filter= (or raise it)"
            )
        for tool in kept:
            try:
                yield self._adopt(tool)
            except ToolDefinitionError as error:
                logger.warning("MCP server %s: tool left out: %s", self.label, error)
                self.refused[tool.name] = str(error)

    def _adopt(self, tool: RemoteTool) -> MCPTool:
        name = _NAME.sub("_", tool.name)
        if self.prefix:
            name = f"{self.prefix}_{name}"
        return MCPTool(
            tool,
            self.call_tool,
            name=name[:64],
            timeout=self.timeout,
            max_result_chars=self.max_result_chars,
            requires_approval=self._approval(tool.name),
        )

    def _approval(self, name: str) -> bool:
        rule = self.requires_approval
        if isinstance(rule, bool):
            return rule
        if callable(rule):
            return bool(rule(name))
        return name in rule

    def _client(self) -> Client:
        return Client(
            self._server(),
            cache=None,  # agentkit keeps the tool list itself, dropped on list_changed
            message_handler=self._on_message,
            sampling_callback=sampling_callback(self.sampling_model),
            elicitation_callback=elicitation_callback(self.elicitation),
            mode=self.protocol,
        )

    def _server(self) -> Any:
        raise NotImplementedError

    async def _listen(self, client: Client, group: anyio.abc.TaskGroup) -> None:
        """Watch for `tools/list_changed` (a 2026-07-28 session must ask for it)."""

        async def listen() -> None:
            subscribed = False
            try:
                async with client.listen(tools_list_changed=True) as events:
                    subscribed = True
                    async for _ in events:
                        self._stale = True
            except Exception:  # before subscribing: an older protocol, which sends it unasked
                if subscribed:  # after: the server went away; the next call opens anew
                    self._connection.lost(client)

        group.start_soon(listen)

    async def _on_message(self, message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            self._stale = True


class MCPServerStdio(MCPToolset):
    """An MCP server run as a subprocess, spoken to over its stdin and stdout.

    ```python
    MCPServerStdio("uvx", ["mcp-server-time"], env={"TZ": "UTC"})
    ```

    The process starts with the session and ends with it. Its environment is `env` on top of
    a minimal one (`PATH`, `HOME`, locale), not agentkit's own, so API keys are not passed on
    unless you pass them.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        """Describe the server; nothing starts until the first use.

        Args:
            command: The program (looked up on `PATH`).
            args: Its arguments.
            env: Variables for the process, on top of a minimal environment.
            cwd: Its working directory.
            options: As for `MCPToolset`: `prefix`, `allow`, `deny`, `filter`,
                `requires_approval`, `timeout`, `max_result_chars`, `sampling_model`,
                `elicitation`.
        """
        self.command: str = command
        self.args: list[str] = list(args)
        self.env: dict[str, str] = dict(env or {})
        self.cwd: str | os.PathLike[str] | None = cwd
        label = os.path.basename(command) + (f" {self.args[0]}" if self.args else "")
        super().__init__(label, **options)

    def _server(self) -> StdioServerParameters:
        base = {k: v for k, v in os.environ.items() if k in _PASSED_ON or k.startswith("LC_")}
        return StdioServerParameters(
            command=_program(self.command), args=self.args, env={**base, **self.env}, cwd=self.cwd
        )


def _program(command: str) -> str:
    """`command` as found on PATH, or among this interpreter's own console scripts.

    The second covers a virtual environment that was not activated.
    """
    if shutil.which(command) is not None or os.path.exists(command):
        return command
    beside = os.path.join(os.path.dirname(sys.executable), command)
    if os.sep not in command and shutil.which(beside) is not None:
        return beside
    raise FileNotFoundError(
        f"{command!r} is not a program on PATH, nor a script of this Python's environment"
        + (" (uvx comes with uv: pip install uv)" if command == "uvx" else "")
    )


_PASSED_ON = frozenset({"PATH", "HOME", "LANG", "TMPDIR", "TERM", "USER", "SYSTEMROOT"})


class MCPServerHTTP(MCPToolset):
    """An MCP server reached over streamable HTTP.

    ```python
    MCPServerHTTP("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer ..."})
    ```
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, **options: Any):
        """Describe the server; nothing is sent until the first use.

        Args:
            url: The server's MCP endpoint (usually ending in `/mcp`).
            headers: Sent with every request (authorization); never in errors or logs.
            options: As for `MCPToolset`.
        """
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"MCP url must start with http:// or https://, got {url!r}")
        self.url = url
        self._headers = dict(headers or {})
        super().__init__(url.split("?")[0], **options)

    def _server(self) -> Any:
        if not self._headers:
            return self.url
        return _with_headers(self.url, self._headers)


@asynccontextmanager
async def _with_headers(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    """Streamable HTTP through a client of our own that sends `headers`, closed afterwards."""
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client(headers=headers) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams


class MCPServerSSE(MCPServerHTTP):
    """An MCP server reached over the legacy HTTP+SSE transport (servers from before 2025-03).

    ```python
    MCPServerSSE("http://127.0.0.1:8000/sse")
    ```

    Prefer `MCPServerHTTP` (streamable HTTP) for any server that offers it.
    """

    def _server(self) -> Any:
        from mcp.client.sse import sse_client

        return sse_client(self.url, headers=self._headers or None)
