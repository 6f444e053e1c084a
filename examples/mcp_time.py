"""An MCP server's tools in an agent: the official `mcp-server-time`, over stdio.

    pip install "agentkit-loop[mcp]" mcp-server-time
    python examples/mcp_time.py

Uses AI/ML API when AIMLAPI_API_KEY is set; otherwise a scripted FakeModel asks for the time.
The server is a real subprocess either way: the answer's time is the real one.
"""

from __future__ import annotations

import os
import sys

import anyio

from agentkit import Agent
from agentkit.mcp import MCPServerStdio
from agentkit.testing import FakeModel, Reply


async def main() -> None:
    # `uvx mcp-server-time` works as well; this runs the one installed beside agentkit.
    clock = MCPServerStdio(sys.executable, ["-m", "mcp_server_time"], prefix="clock")
    offline = FakeModel(
        [
            Reply.tool_calls(("clock_get_current_time", {"timezone": "Europe/Oslo"})),
            "That is the time in Oslo now.",
        ]
    )
    model = None if os.environ.get("AIMLAPI_API_KEY") else offline
    async with Agent(model, instructions="Use the clock.", toolsets=[clock]) as agent:
        print("tools:", ", ".join(t.name for t in await clock.list_tools()))
        result = await agent.run("What time is it in Oslo?")
    for message in result.messages:
        if message.role == "tool":
            print("the clock said:", message.content)
    print(result.output)


if __name__ == "__main__":
    anyio.run(main)
