"""MCP servers the tests run as subprocesses (built with the official SDK, not with agentkit)."""
