"""Layer 5 (edges): stored conversations on the command line.

`agentkit run` stores every run as a conversation (unless `--no-session`); `-c` continues
the last one, `--session NAME` a named one. `agentkit sessions list|show|rm` manage them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import uuid
from typing import Any

from agentkit._session import SQLiteSession, default_store

from ._common import ExitCode, UsageError, say, show

__all__ = ["add_session_options", "add_sessions_command", "session_for"]


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """`-c`, `--session NAME` and `--no-session` for `agentkit run`."""
    group = parser.add_argument_group("conversations (stored in AGENTKIT_DATA_DIR)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "-c", "--continue", dest="continue_", action="store_true",
        help="continue the last conversation",
    )  # fmt: skip
    choice.add_argument("--session", metavar="NAME", help="continue (or start) this conversation")
    choice.add_argument("--no-session", action="store_true", help="do not store this run")


def session_for(options: argparse.Namespace) -> SQLiteSession | None:
    """The conversation a run continues or starts (None with `--no-session` or `--defer`)."""
    if getattr(options, "defer", None):
        if options.continue_ or options.session:
            raise UsageError("--defer runs on its own: it cannot continue a stored conversation")
        return None  # a deferred run ends with unanswered calls: `approve` continues it
    if options.no_session:
        return None
    if options.session:
        return SQLiteSession(session_id=options.session)
    if options.continue_:
        stored = SQLiteSession.list()
        if not stored:
            raise UsageError("-c: no conversation to continue yet; run one first")
        return SQLiteSession(session_id=stored[0].id)
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    return SQLiteSession(session_id=f"{stamp}-{uuid.uuid4().hex[:4]}")


def add_sessions_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit sessions list|show|rm`."""
    sessions = commands.add_parser("sessions", help="stored conversations (agentkit run -c)")
    actions = sessions.add_subparsers(title="actions", metavar="ACTION")
    sessions.set_defaults(usage_of=sessions)
    listing = actions.add_parser("list", help="the stored conversations, the latest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_common(listing)
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="a conversation's messages")
    show.add_argument("name", help="its name (see `agentkit sessions list`)")
    show.add_argument("--json", action="store_true", help="print the messages as JSON")
    add_common(show)
    show.set_defaults(handler=_show)
    remove = actions.add_parser("rm", help="delete conversations")
    remove.add_argument("names", nargs="+", help="their names")
    add_common(remove)
    remove.set_defaults(handler=_remove)


def _list(options: argparse.Namespace) -> int:
    stored = SQLiteSession.list()
    if options.json:
        print(json.dumps([_row(info) for info in stored], indent=2))
        return ExitCode.OK
    if not stored:
        say(f"no stored conversations in {default_store()}")
    for info in stored:
        row = _row(info)
        mark = " (last run failed: partial)" if info.partial else ""
        prompt = f"  {info.first_prompt!r}" if info.first_prompt else ""
        show(f"{info.id}  {row['updated']}  {info.messages} messages{mark}{prompt}")
    return ExitCode.OK


def _row(info: Any) -> dict[str, Any]:
    updated = datetime.datetime.fromtimestamp(info.updated).isoformat(timespec="seconds")
    return {"id": info.id, "updated": updated, "messages": info.messages,
            "runs": info.runs, "partial": info.partial,
            "first_prompt": info.first_prompt}  # fmt: skip


def _show(options: argparse.Namespace) -> int:
    if options.name not in {info.id for info in SQLiteSession.list()}:
        raise UsageError(f"no conversation named {options.name!r}; see `agentkit sessions list`")
    session = SQLiteSession(session_id=options.name)
    messages = session.messages()
    compacted = session.compaction() or {}
    covered = compacted.get("covered") if isinstance(compacted.get("covered"), int) else 0
    if options.json:
        print(json.dumps([m.model_dump(mode="json") for m in messages], indent=2))
        return ExitCode.OK
    for position, message in enumerate(messages):
        if covered and position == 1:
            show(f"[compacted: messages 2-{covered} are sent as a summary; the first is kept]")
        text = getattr(message, "content", None) or ""
        calls = getattr(message, "tool_calls", ())
        if calls:
            text = (text + " " if text else "") + ", ".join(
                f"{c.name}({c.arguments})" for c in calls
            )
        show(f"{message.role}: {text}")
    return ExitCode.OK


def _remove(options: argparse.Namespace) -> int:
    missing = [name for name in options.names if not SQLiteSession(session_id=name).delete()]
    if missing:
        raise UsageError(f"no conversation named {', '.join(map(repr, missing))}")
    return ExitCode.OK
