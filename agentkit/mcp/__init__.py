"""MCP: any MCP server's tools in an agent, and agentkit tools or agents served over MCP.

Needs the `mcp` extra (`pip install "agentkit-loop[mcp]"`); `import agentkit` never imports it.

```python
from agentkit import Agent
from agentkit.mcp import MCPServerHTTP, MCPServerStdio

time = MCPServerStdio("uvx", ["mcp-server-time"], prefix="time")
docs = MCPServerHTTP("http://127.0.0.1:8000/mcp", allow={"search"})
async with Agent("openai:gpt-4.1", toolsets=[time, docs]) as agent:
    print((await agent.run("What time is it in Oslo?")).output)
```
"""

try:
    import mcp as _sdk  # noqa: F401 - fail here, with the way out, not deep in a call
except ImportError as _missing:  # pragma: no cover - the extra is installed in the test env
    raise ImportError(
        'agentkit.mcp needs the MCP SDK: pip install "agentkit-loop[mcp]"'
    ) from _missing

from ._connection import MCPConnectionError
from ._serve import mcp_server, serve
from ._servers import MCPServerHTTP, MCPServerSSE, MCPServerStdio, MCPToolset
from ._tools import MCPTool

__all__ = [
    "MCPConnectionError",
    "MCPServerHTTP",
    "MCPServerSSE",
    "MCPServerStdio",
    "MCPTool",
    "MCPToolset",
    "mcp_server",
    "serve",
]
