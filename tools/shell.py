"""A ready-made shell tool: runs one command, always after approval.

    agentkit run "How much disk space is free?" -T shell      # asks before each run

The command is split like a shell would (quotes respected) but run without a shell: no pipes,
redirections or variable expansion. It runs in the current directory:

- with a minimal environment: only `PATH`, `HOME`, `LANG`, `LC_ALL`, `TERM` and `TZ` pass
  through (never an API key); `shell_tool(pass_env=[...], env={...})` adds more;
- in a process group of its own, killed whole (children included) on its time limit or when
  the run is cancelled;
- with its output read as it comes and kept up to a cap (16 KiB by default); the rest is
  counted, not kept, and the result says how much was dropped.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterable, Mapping

import anyio
import anyio.abc

from agentkit import Tool, tool

MAX_OUTPUT = 16 * 1024
MAX_TIMEOUT = 300.0
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TZ")
_DRAIN_SECONDS = 0.5


def shell_tool(
    *,
    pass_env: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    max_output: int = MAX_OUTPUT,
) -> Tool[..., str]:
    """The `run_command` tool, with more environment variables or another output cap.

    Args:
        pass_env: Names of variables to pass through beyond `PASSED_ENV`.
        env: Variables to set for every command.
        max_output: Bytes of output kept; the rest is counted and dropped.
    """
    names = (*PASSED_ENV, *pass_env)
    environment = {name: os.environ[name] for name in names if name in os.environ}
    environment.update(env or {})

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
        return await _run(arguments, limit, environment, max_output)

    # The tool's own timeout is a backstop above the command's limit, which ends it first.
    return tool(run_command, requires_approval=True, timeout=MAX_TIMEOUT + 30)


async def _run(arguments: list[str], limit: float, env: dict[str, str], cap: int) -> str:
    try:
        process = await anyio.open_process(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, to be killed whole
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"no such command: {arguments[0]}") from None
    output = _Output(cap)
    try:
        with anyio.fail_after(limit):
            async with anyio.create_task_group() as group:
                assert process.stdout is not None
                group.start_soon(output.read, process.stdout)
                code = await process.wait()
                # A child left running in the background may hold the pipe open: read what
                # is there, then stop (the group is killed below).
                with anyio.move_on_after(_DRAIN_SECONDS):
                    await output.ended.wait()
                group.cancel_scope.cancel()
    except TimeoutError:
        raise TimeoutError(
            f"{arguments[0]} did not finish within {limit:g} s and was stopped"
        ) from None
    finally:
        _kill_group(process)
        with anyio.CancelScope(shield=True):
            await process.aclose()
    return f"exit code {code}\n{output.text()}"


class _Output:
    """Output read as it comes: kept up to a cap, counted past it."""

    def __init__(self, cap: int) -> None:
        self.cap, self.kept, self.total = cap, bytearray(), 0
        self.ended = anyio.Event()

    async def read(self, stream: anyio.abc.ByteReceiveStream) -> None:
        async for chunk in stream:
            self.total += len(chunk)
            if len(self.kept) < self.cap:
                self.kept += chunk[: self.cap - len(self.kept)]
        self.ended.set()

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        dropped = self.total - len(self.kept)
        if dropped:
            text += (
                f"\n[output cut: kept {len(self.kept)} of {self.total} bytes; {dropped} dropped]"
            )
        return text


def _kill_group(process: anyio.abc.Process) -> None:
    """Kill the command and everything it started (they share its process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


run_command = shell_tool()
