"""A ready-made shell tool: runs one command, always after approval.

    agentkit run "How much disk space is free?" -T tools/shell.py      # asks before each run

The command is split like a shell would (quotes respected) but run without a shell: no pipes,
redirections or variable expansion. It runs in the current directory, with a timeout, and its
output is cut to a size limit.
"""

from __future__ import annotations

import shlex
import subprocess

import anyio

from agentkit import tool

MAX_OUTPUT = 16 * 1024
MAX_TIMEOUT = 300.0


@tool(requires_approval=True)
async def run_command(command: str, time_limit: float = 30.0) -> str:
    """Run a command and return its exit code and output. A person approves every run.

    Args:
        command: The command line, e.g. "df -h /" (no pipes or redirections).
        time_limit: Seconds before the command is stopped (at most 300).
    """
    arguments = shlex.split(command)
    if not arguments:
        raise ValueError("the command is empty")
    limit = min(max(time_limit, 0.1), MAX_TIMEOUT)
    try:
        with anyio.fail_after(limit):
            completed = await anyio.run_process(arguments, check=False, stderr=subprocess.STDOUT)
    except TimeoutError:
        raise TimeoutError(
            f"{arguments[0]} did not finish within {limit:g} s and was stopped"
        ) from None
    except FileNotFoundError:
        raise FileNotFoundError(f"no such command: {arguments[0]}") from None
    output = completed.stdout.decode("utf-8", "replace")
    if len(output) > MAX_OUTPUT:
        output = output[:MAX_OUTPUT] + f"\n[output cut: {len(completed.stdout)} bytes in all]"
    return f"exit code {completed.returncode}\n{output}"
