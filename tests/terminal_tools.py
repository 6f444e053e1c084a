"""Tools the terminal tests load by path: one that needs approval, one that answers late."""

from __future__ import annotations

import time

from agentkit import tool


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


@tool
def slow_echo(text: str) -> str:
    """Answer with the text, a moment later (while an approval prompt is open)."""
    time.sleep(0.8)
    return text
