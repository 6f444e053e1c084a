"""Layer 5 (edges): approvals that wait: `agentkit run --defer STATE`, `agentkit approve STATE`.

`run --defer STATE` stops when a call needs approval, writes STATE (600: the conversation,
the pending calls and the set-up as digests, sealed with this user's key; never a key, never
anything to execute) and exits with code 9, printing the command that continues it.
`approve STATE` takes its set-up from its own command line (the same `-T`, `--mcp`, `--model`
... as the run), refuses a state that was edited, used before, or recorded under another
set-up, shows each call exactly as the terminal prompt does, asks, and continues the run.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from agentkit._events import PendingApprovals
from agentkit._private import PrivateFileError, open_private
from agentkit._visible import visible

from ._common import ExitCode, UsageError, say

__all__ = ["add_approve_command", "read_state", "write_state"]

_SETUP_FLAGS = (
    ("tool", "-T"), ("mcp", "--mcp"), ("mcp_url", "--mcp-url"), ("instructions", "--system"),
    ("system_file", "--system-file"), ("schema", "--schema"),
    ("model", "--model"), ("base_url", "--base-url"), ("api_key_env", "--api-key-env"),
    ("max_turns", "--max-turns"), ("tool_choice", "--tool-choice"), ("max_tokens", "--max-tokens"),
    ("seed", "--seed"), ("api", "--api"),
)  # fmt: skip
"""The `agentkit run` options that set a run up, repeated by the printed `approve` command."""


def write_state(path: str, pending: PendingApprovals, options: argparse.Namespace) -> int:
    """Write the state file (600); tell the person how to go on; return the exit code."""
    try:
        with open_private(Path(path), "w") as out:
            out.write(pending.to_json())
    except PrivateFileError as error:
        raise UsageError(f"--defer: {error}") from None
    calls = ", ".join(visible(call.name) for call in pending.pending)
    say(f"waiting for approval: {calls}; decide with:\n  {continue_command(path, options)}")
    return ExitCode.PENDING


def continue_command(path: str, options: argparse.Namespace) -> str:
    """`agentkit approve PATH` with the set-up options this run was given."""
    words = ["agentkit", "approve", path]
    for name, flag in _SETUP_FLAGS:
        value = getattr(options, name, None)
        for each in value if isinstance(value, list) else [value]:
            if each is not None and each is not False:
                words += [flag, str(each)]
    for name, flag in (
        ("no_parallel", "--no-parallel"),
        ("allow_http", "--allow-http"),
        ("compact", "--compact"),
    ):
        if getattr(options, name, False):
            words.append(flag)
    return shlex.join(words)


def read_state(path: str) -> PendingApprovals:
    """The pending state of a file `write_state` wrote, its seal checked."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read it ({error})") from None
    if text.lstrip().startswith('{"agentkit_run"') or '"agentkit_run":' in text[:200]:
        raise UsageError(
            f"{path} was written by an older agentkit, whose states named the tools and "
            "servers to start; such a state is not trusted any more: run the task again"
        )
    try:
        return PendingApprovals.from_json(text)
    except ValueError as error:
        raise UsageError(
            f"{path} is not an approval state this user's agentkit wrote: {_first_line(error)}"
        ) from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:300]


def add_approve_command(commands: Any, add_common: Any, add_setup: Any, handler: Any) -> None:
    """Register `agentkit approve STATE [run options]`, run by `handler`."""
    approve = commands.add_parser(
        "approve", help="decide the calls a deferred run waits for, and continue it",
        description="Show each call of an `agentkit run --defer STATE` run, ask, then continue. "
        "Give the same tool, server and model options as the run (`run --defer` prints the "
        "whole command): a state names nothing to load or start.",
    )  # fmt: skip
    approve.add_argument(
        "state", help="the file agentkit run --defer wrote, or a durable run's id with --db"
    )
    approve.add_argument(
        "--db", metavar="URL",
        help="a durable run's DBOS database (then STATE is its run id; default for an id that "
        "is not a file: $DBOS_SYSTEM_DATABASE_URL)",
    )  # fmt: skip
    choice = approve.add_mutually_exclusive_group()
    choice.add_argument("--yes", action="store_true", help="approve every call")
    choice.add_argument("--deny", action="store_true", help="deny every call")
    approve.add_argument("--json", action="store_true", help="print the result as JSON")
    add_setup(approve)
    add_common(approve)
    approve.set_defaults(handler=handler)
