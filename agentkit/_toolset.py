"""Layer 2 (tool definition): `Toolset`, tools that are known only when a run starts.

An MCP server is one: its tools are listed from the server (and may change while it runs).
An `Agent` asks each of its toolsets for their tools at the start of every run; a toolset
caches what it listed, so that costs nothing until the list changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._tool import BaseTool

__all__ = ["TOOL_PREFIX", "Toolset"]

TOOL_PREFIX = r"[A-Za-z0-9_-]{1,40}"
"""What a toolset's prefix may be (it goes before each tool name, `prefix_name`)."""


@runtime_checkable
class Toolset(Protocol):
    """A source of tools listed at run time (`agentkit.mcp.MCPServerStdio`, your own)."""

    async def list_tools(self) -> Sequence[BaseTool]:
        """The tools to offer now (from a cache while nothing changed)."""
        ...

    async def aclose(self) -> None:
        """Release what the toolset holds (a connection, a subprocess)."""
        ...
