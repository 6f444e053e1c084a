"""Layer 5 (edges): the approval prompt of the `agentkit` command.

It shows exactly what will run (every validated argument, escaped), holds every other write
to the terminal while it waits (streamed text, traces, MCP messages), and reads the answer in
the event loop, so Ctrl-C interrupts at once. `--yes` and `--deny` answer for everyone; without a
terminal, calls are denied, saying why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import anyio

from agentkit._dispatch import ApprovalRequest

from ._common import CONSOLE, say

__all__ = ["TerminalApprover"]


class TerminalApprover:
    """Asks on the terminal, or follows --yes / --deny; without a terminal, denies."""

    def __init__(self, *, yes: bool, deny: bool) -> None:
        self.yes, self.deny = yes, deny
        self.denied = 0
        self._lock = anyio.Lock()

    async def __call__(self, request: ApprovalRequest) -> bool:
        if self.yes:
            return True
        if self.deny:
            return self._denied(request, "denied by --deny")
        if not sys.stdin.isatty():
            return self._denied(request, "no terminal to ask on; pass --yes to approve")
        async with self._lock:  # one question at a time
            with CONSOLE.prompt() as write:  # nothing else reaches the screen meanwhile
                answer = await _ask(request, write)
        return True if answer else self._denied(request, "denied")

    def _denied(self, request: ApprovalRequest, why: str) -> bool:
        self.denied += 1
        text, _ = request.describe(limit=80)
        say(f"  !! {' '.join(text.split())}: {why}")
        return False


async def _ask(request: ApprovalRequest, write: Callable[[str], None]) -> bool:
    """Show exactly what will run (every validated argument, escaped) and ask."""
    text, cut = request.describe()
    while True:
        choices = "[y/N, f = show the full arguments]" if cut else "[y/N]"
        write(f"Allow this call?\n{text}\n{choices} ")
        line = await _read_line()
        if line is None:
            return False
        answer = line.strip().lower()
        if cut and answer in ("f", "full"):
            text, cut = request.describe(limit=None)
            continue
        return answer in ("y", "yes")


async def _read_line() -> str | None:
    """One line from the terminal, read in the event loop (None at end of input).

    Not `input()` in a thread: Ctrl-C would then wait for the next Enter, as the blocked
    thread holds the interpreter's exit (and stdin's lock). Here it interrupts at once.
    """
    descriptor = sys.stdin.fileno()
    line = b""
    while not line.endswith(b"\n"):
        await anyio.wait_readable(descriptor)
        chunk = os.read(descriptor, 4096)
        if not chunk:
            return line.decode(errors="replace") if line else None
        line += chunk
    return line.decode(errors="replace")
