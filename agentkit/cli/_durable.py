"""Layer 5 (edges): `agentkit durable worker|list|show|approve|cancel|resume` (the dbos extra).

Durable runs live in DBOS's system database (`--db`, or `DBOS_SYSTEM_DATABASE_URL`). `worker`
imports the module that makes the durable agents and launches DBOS, which resumes every
unfinished run; the other actions read and steer runs from any process, without launching.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from typing import Any

import anyio

from agentkit._dispatch import ApprovalRequest
from agentkit._exceptions import ConfigurationError
from agentkit._messages import ToolCall
from agentkit._redact import masked_url

from ._common import ExitCode, UsageError, say, show

__all__ = ["add_durable_command", "approve_run", "durable_db", "masked"]

_WORKFLOW = "agentkit.durable.run"


def add_durable_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit durable ...`."""
    durable = commands.add_parser(
        "durable", help="durable runs on DBOS: workers, listing, approvals (agentkit-loop[dbos])"
    )
    actions = durable.add_subparsers(title="actions", metavar="ACTION")
    durable.set_defaults(usage_of=durable)
    worker = actions.add_parser("worker", help="resume unfinished runs and serve new ones")
    worker.add_argument("module", help="the module (or file.py) that makes the DurableAgents")
    for name, text in (
        ("list", "the durable runs, the latest first"),
        ("show", "a run: its status, its steps and the calls it waits on"),
        ("approve", "decide the calls a run waits on (shown first, exactly as they will run)"),
        ("cancel", "stop a run (it does not resume)"),
        ("resume", "resume a cancelled or failed run from its last step (a worker runs it)"),
    ):
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument("run_id", help="the run id (`run(..., run_id=...)`)")
        if name == "approve":
            choice = action.add_mutually_exclusive_group()
            choice.add_argument("--yes", action="store_true", help="approve every call")
            choice.add_argument("--deny", action="store_true", help="deny every call")
    for action in (worker, *[actions.choices[n] for n in ("list", "show", "approve", "cancel",
                                                           "resume")]):  # fmt: skip
        action.add_argument(
            "--db", metavar="URL",
            help="DBOS's system database (default: $DBOS_SYSTEM_DATABASE_URL), e.g. "
            "sqlite:///runs.sqlite3",
        )  # fmt: skip
        add_common(action)
    handlers = {"worker": _worker, "list": _list, "show": _show, "approve": _approve,
                "cancel": _cancel, "resume": _resume}  # fmt: skip
    for name, handler in handlers.items():
        actions.choices[name].set_defaults(handler=handler)


def _db(options: argparse.Namespace) -> str:
    url = options.db or os.environ.get("DBOS_SYSTEM_DATABASE_URL")
    if not url:
        raise UsageError("give --db URL (or set DBOS_SYSTEM_DATABASE_URL): DBOS's database")
    return str(url)


def _client(options: argparse.Namespace) -> Any:
    try:
        from dbos import DBOSClient
    except ImportError:
        raise UsageError('durable runs need DBOS: pip install "agentkit-loop[dbos]"') from None
    url = _db(options)
    try:
        client = DBOSClient(system_database_url=url)
        client.check_connection()
    except Exception as error:  # the driver's own errors: say which database, never its password
        raise UsageError(f"cannot reach {masked(url)}: {type(error).__name__}") from None
    return client


def masked(url: str) -> str:
    """A database URL with its password replaced by ***."""
    return masked_url(url)


def _list(options: argparse.Namespace) -> int:
    client = _client(options)
    try:
        runs = client.list_workflows(name=_WORKFLOW, sort_desc=True, load_input=False,
                                     load_output=False)  # fmt: skip
    finally:
        client.destroy()
    for run in runs:
        show(json.dumps({"run_id": run.workflow_id, "status": run.status,
                         "created_at": run.created_at, "updated_at": run.updated_at}))  # fmt: skip
    return ExitCode.OK


def _show(options: argparse.Namespace) -> int:
    from agentkit.durable import pending

    client = _client(options)
    try:
        found = client.list_workflows(workflow_ids=[options.run_id], load_input=False)
        if not found:
            raise UsageError(f"no durable run {options.run_id!r} in {_db(options)}")
        steps = client.list_workflow_steps(options.run_id, load_output=False)
    finally:
        client.destroy()
    run = found[0]
    show(json.dumps({
        "run_id": run.workflow_id, "status": run.status,
        "steps": [{"step": s["function_id"], "name": s["function_name"],
                   "failed": s["error"] is not None} for s in steps],
        "waiting_on": pending(options.run_id, system_database_url=_db(options)),
    }, indent=2))  # fmt: skip
    return ExitCode.OK


def _approve(options: argparse.Namespace) -> int:
    return approve_run(options.run_id, _db(options), yes=options.yes, deny=options.deny)


def durable_db(state: str, given: str | None) -> str | None:
    """The DBOS database `agentkit approve STATE` means, when STATE is a durable run's id.

    Given with --db; else $DBOS_SYSTEM_DATABASE_URL when STATE is not a file; else None (a
    state file of `agentkit run --defer`).
    """
    if given:
        return given
    if os.path.exists(state):
        return None
    return os.environ.get("DBOS_SYSTEM_DATABASE_URL") or None


def approve_run(run_id: str, db: str, *, yes: bool, deny: bool) -> int:
    """Show the calls a durable run waits on, ask (or take --yes/--deny), send the decisions.

    `agentkit durable approve RUN_ID` and `agentkit approve RUN_ID --db URL` both come here.
    """
    import sys

    from agentkit.durable import approve, pending

    from ._prompt import TerminalApprover

    waiting = pending(run_id, system_database_url=db)
    if not waiting:
        say(f"run {run_id!r} waits on no call")
        return ExitCode.OK
    if not (yes or deny) and not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask on, so nothing was decided; pass --yes or --deny "
            "(the run keeps waiting)"
        )
    approver = TerminalApprover(yes=yes, deny=deny)

    async def decide() -> dict[str, bool]:
        decisions = {}
        for each in waiting:
            arguments = dict(each["arguments"])
            call = ToolCall(id=each["call_id"], name=each["tool"], arguments=json.dumps(arguments))
            decisions[call.id] = bool(await approver(ApprovalRequest(call, arguments)))
        return decisions

    decisions = anyio.run(decide)
    try:
        approve(run_id, decisions, system_database_url=db)
    except ConfigurationError as error:
        raise UsageError(str(error)) from None
    show(json.dumps(decisions))
    return ExitCode.DENIED if approver.denied else ExitCode.OK


def _cancel(options: argparse.Namespace) -> int:
    return _steer(options, "cancel_workflow", "cancelled")


def _resume(options: argparse.Namespace) -> int:
    return _steer(options, "resume_workflow", "resumed: a worker with its agent runs it on")


def _steer(options: argparse.Namespace, action: str, done: str) -> int:
    client = _client(options)
    try:
        getattr(client, action)(options.run_id)
    finally:
        client.destroy()
    say(f"run {options.run_id!r} {done}")
    return ExitCode.OK


def _worker(options: argparse.Namespace) -> int:
    from dbos import DBOS

    from agentkit._loading import LoadError, load_module

    try:
        load_module(options.module)  # it makes the DurableAgents
    except LoadError as error:
        raise UsageError(str(error)) from None
    DBOS(config={"name": "agentkit", "system_database_url": _db(options)})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    DBOS.launch()  # resumes every unfinished run of those agents
    from agentkit.durable import stranded

    for run_id, version in anyio.run(stranded, backend="asyncio"):
        say(f"durable worker: run {run_id} was started by another version of the code "
            f"({version}); it is not resumed here (its steps may not match this code): finish "
            f"it with that version, or `agentkit durable cancel {run_id}`")  # fmt: skip
    say("durable worker: resuming unfinished runs; Ctrl-C or SIGTERM to stop")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        DBOS.destroy()
    return ExitCode.OK
