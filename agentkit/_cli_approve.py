"""Layer 5 (edges): approvals that wait: `agentkit run --defer STATE`, `agentkit approve STATE`.

`run --defer STATE` stops when a call needs approval, writes STATE (the pending calls and
the conversation, plus how the run was set up: tools, model, instructions; never a key) and
exits with code 9. `approve STATE` shows each call exactly as the terminal prompt does,
asks, and continues the run (deferring again if the rest needs more approvals).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._cli_common import EXIT_CODES, UsageError, say
from ._dispatch import ApprovalRequest
from ._events import PendingApprovals
from ._messages import ToolCall

__all__ = ["REMEMBERED", "add_approve_command", "read_state", "write_state"]

REMEMBERED = (
    "tool", "instructions", "max_turns", "tool_choice", "no_parallel", "model", "base_url",
    "api_key_env", "max_tokens", "seed", "mcp", "mcp_url",
)  # fmt: skip
"""The `agentkit run` options a state file keeps, to set the run up again (no `--api-key`)."""


def write_state(path: str, pending: PendingApprovals, options: argparse.Namespace) -> int:
    """Write the state file; tell the person how to go on; return the exit code."""
    setup = {name: getattr(options, name, None) for name in REMEMBERED}
    document = {"agentkit_run": setup, "pending": json.loads(pending.to_json())}
    Path(path).write_text(json.dumps(document, indent=2), encoding="utf-8")
    calls = ", ".join(call.name for call in pending.pending)
    say(f"waiting for approval: {calls}; decide with:\n  agentkit approve {path}")
    return EXIT_CODES["pending"]


def read_state(path: str) -> tuple[dict[str, Any], PendingApprovals]:
    """The run's setup and the pending state of a file `write_state` wrote."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return document["agentkit_run"], PendingApprovals.model_validate(document["pending"])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"{path} is not an approval state of agentkit run --defer ({error})"
        ) from None


def requests_of(pending: PendingApprovals) -> list[ApprovalRequest]:
    """The pending calls as the prompt shows them: the validated arguments that would run."""
    return [
        ApprovalRequest(ToolCall(id=c.id, name=c.name, arguments=c.raw_arguments), c.arguments)
        for c in pending.pending
    ]


def add_approve_command(commands: Any, add_common: Any, handler: Any) -> None:
    """Register `agentkit approve STATE`, run by `handler` (the command's own set-up)."""
    approve = commands.add_parser(
        "approve", help="decide the calls a deferred run waits for, and continue it",
        description="Show each call of an `agentkit run --defer STATE` run, ask, then continue.",
    )  # fmt: skip
    approve.add_argument("state", help="the file agentkit run --defer wrote")
    choice = approve.add_mutually_exclusive_group()
    choice.add_argument("--yes", action="store_true", help="approve every call")
    choice.add_argument("--deny", action="store_true", help="deny every call")
    approve.add_argument("--json", action="store_true", help="print the result as JSON")
    add_common(approve)
    approve.set_defaults(handler=handler)
