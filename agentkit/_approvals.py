"""Layer 4 (run loop): the one way a deferred call gets decided and run.

Every path that continues a stopped run (`Agent.resume`, `agentkit approve`) comes through
`decided`, which keeps four promises:

1. What a person approved is exactly what runs: the call's arguments are validated again
   and compared with what was shown, in one canonical JSON form (so dates, paths, decimals,
   sets and enums compare by value, not by how they were written).
2. A state is data, and only the set-up it was recorded under may continue it: the tools
   (by the digest of their definitions), the instructions and the model are compared with
   the agent's own, and any difference refuses the state, naming it.
3. Ids are distinct: a state whose pending calls share an id is refused where it is read.
4. A state is consumed by its first decision: before any call runs, its digest is entered
   in a ledger (a SQLite file in the data folder, 600); a second use, in this process or
   any other, at the same time or after a crash, is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ._dispatch import ApprovalRequest, Dispatcher, denial
from ._events import PendingApprovals, PendingCall
from ._exceptions import ConfigurationError, StateAlreadyDecided, StateSetupError
from ._messages import Message, ToolCall, ToolMessage, Usage
from ._private import data_dir, private_file
from ._tool import BaseTool, canonical_arguments

__all__ = [
    "ApprovalLedger",
    "Decision",
    "Deny",
    "StateAlreadyDecided",
    "Supply",
    "check_setup",
    "decided",
    "requests_of",
    "setup_of",
]


@dataclass(frozen=True, slots=True)
class Deny:
    """A decision for `Agent.resume`: the call does not run; the model is told `reason`."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Supply:
    """A decision for `Agent.resume`: the call does not run; `result` is sent as its result."""

    result: str


Decision = bool | Deny | Supply


def setup_of(tools: Mapping[str, BaseTool], instructions: str | None, model: str) -> dict[str, str]:
    """What a stopped run was set up with, as data: digests and names, nothing to execute."""
    setup = {"model": model, "instructions": _digest((instructions or "").encode())}
    for name, each in sorted(tools.items()):
        setup[f"tool {name}"] = _digest(json.dumps(_definition(each), sort_keys=True).encode())
    return setup


def setup_differences(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """How `current` differs from `recorded`, in words (empty when they are the same)."""
    said = []
    for key in sorted(set(recorded) | set(current)):
        before, now = recorded.get(key), current.get(key)
        if before == now:
            continue
        if key.startswith("tool "):
            name = key.removeprefix("tool ")
            if before is None:
                said.append(f"tool {name!r} was not there when the run stopped")
            elif now is None:
                said.append(f"tool {name!r} is missing (load it as the stopped run did)")
            else:
                said.append(f"tool {name!r} is not the same tool (its definition changed)")
        elif key == "model":
            said.append(f"the model was {before!r}, now {now!r}")
        else:
            said.append(f"the {key} are not the same")
    return said


def check_setup(state: PendingApprovals, setup: Mapping[str, str]) -> None:
    """Refuse `state` when it was recorded under another set-up than `setup`.

    Raises:
        StateSetupError: Naming each difference.
    """
    if state.setup and (differences := setup_differences(state.setup, setup)):
        raise StateSetupError(
            "this agent is not set up as the run that stopped was, so its state is not "
            f"continued: {'; '.join(differences)}"
        )


class ApprovalLedger:
    """The states decided so far, by digest, in a SQLite file (default: the data folder)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / "approvals.sqlite3"

    def claim(self, state: PendingApprovals) -> None:
        """Mark `state` decided; atomically, across processes.

        Raises:
            StateAlreadyDecided: It was claimed before (by any process).
        """
        key = state.digest()
        with self._db() as db:
            try:
                db.execute("INSERT INTO decided (digest, at) VALUES (?, ?)", (key, time.time()))
            except sqlite3.IntegrityError:
                raise StateAlreadyDecided(
                    "this approval state was decided already (its approved calls may have "
                    "run); a state is used once: run the task again to get a new one"
                ) from None

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(private_file(self.path), timeout=30.0, isolation_level=None)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS decided (digest TEXT PRIMARY KEY, at REAL NOT NULL)"
            )
            yield db
        finally:
            db.close()


async def decided(
    state: PendingApprovals,
    decisions: Mapping[str, Decision],
    tools: Mapping[str, BaseTool],
    deps: Any,
    *,
    setup: Mapping[str, str],
    ledger: ApprovalLedger,
) -> list[Message]:
    """The conversation of `state` with a tool message for every call of its last answer.

    Calls that ran before the stop keep their results (they do not run again); approved
    calls run now; denied and supplied ones do not run. Nothing runs unless the decisions,
    the set-up and the ledger all agree (see the module docs).

    Raises:
        ValueError: A pending call is left undecided, or an unknown id is decided.
        StateSetupError: The agent is not set up as the stopped run was.
        StateAlreadyDecided: The state was decided before.
    """
    waiting = {call.id: call for call in state.pending}
    missing = sorted(set(waiting) - set(decisions))
    unknown = sorted(set(decisions) - set(waiting))
    if missing or unknown:
        raise ConfigurationError(
            f"decide every pending call, and only those: missing {missing or 'none'}, "
            f"unknown {unknown or 'none'}"
        )
    check_setup(state, setup)
    ledger.claim(state)  # before anything runs: a second use is refused even after a crash
    results = dict(state.finished)
    for call_id, decision in decisions.items():
        call = waiting[call_id]
        if decision is True:
            results[call_id] = await _run_approved(call, tools, deps)
        elif isinstance(decision, Supply):
            results[call_id] = decision.result
        else:
            why = decision.reason if isinstance(decision, Deny) else ""
            results[call_id] = f"Error: {denial(call.name, why)}"
    answer = state.messages[-1]
    calls = getattr(answer, "tool_calls", ())
    replies = [ToolMessage(tool_call_id=c.id, content=results[c.id]) for c in calls]
    return [*state.messages, *replies]


def requests_of(state: PendingApprovals) -> list[ApprovalRequest]:
    """The pending calls as a prompt shows them: the validated arguments that would run."""
    return [
        ApprovalRequest(ToolCall(id=c.id, name=c.name, arguments=c.raw_arguments), c.arguments)
        for c in state.pending
    ]


async def _run_approved(call: PendingCall, tools: Mapping[str, BaseTool], deps: Any) -> str:
    """Run one approved call: exactly the validated arguments the person saw."""
    chosen = tools.get(call.name)
    if chosen is None:
        return f"Error: tool {call.name!r} is not a tool of this agent any more; it did not run"
    try:
        arguments = chosen.validate(call.raw_arguments)
    except ValueError:
        arguments = None
    if arguments is None or canonical_arguments(arguments) != call.arguments:
        return "Error: the arguments no longer validate to what was approved; it did not run"

    def approve(_: ApprovalRequest) -> bool:
        return True

    dispatcher = Dispatcher(tools=tools, limiter=anyio.CapacityLimiter(1), deps=deps,
                            approver=approve)  # fmt: skip
    request = ToolCall(id=call.id, name=call.name, arguments=call.raw_arguments)
    return (await dispatcher.run_one(request, Usage())).content


def _definition(each: BaseTool) -> dict[str, Any]:
    definition = each.definition()
    return {
        "name": definition.name,
        "description": definition.description,
        "parameters": definition.parameters,
        "strict": definition.strict,
        "requires_approval": each.requires_approval,
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
