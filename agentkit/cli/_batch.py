"""`agentkit batch run | status | export`: the batch runner on the command line."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from agentkit._exceptions import ConfigurationError
from agentkit._loading import load_object
from agentkit._redact import masked_url
from agentkit.batch._journal import Journal, JournalError
from agentkit.batch._runner import run_batch, spend
from agentkit.models._cache import ResponseCache
from agentkit.models._chat import ChatModel

from ._common import ExitCode, UsageError, at_least_one, say
from ._models import add_model_options, chat_model

__all__ = ["add_batch_commands"]


def add_batch_commands(commands: Any, add_common: Any) -> None:
    """Register the `batch` command and its actions on the main parser."""
    batch = commands.add_parser(
        "batch", help="run a task over many inputs, crash-safely",
        description="Run an agent, an extraction or a function over a JSONL file, with a "
        "journal that makes every run resumable.",
    )  # fmt: skip
    actions = batch.add_subparsers(title="actions", metavar="ACTION")
    batch.set_defaults(usage_of=batch)
    run = actions.add_parser("run", help="process a JSONL file")
    run.add_argument(
        "task",
        help="module:name of an Agent, an output type (extraction) or a function(record, context)",
    )
    run.add_argument("input", help="the JSONL input (one object per line; `id` optional)")
    run.add_argument("--out", help="write results here (JSONL, input order) at the end")
    run.add_argument("--journal", help="the SQLite journal (default: INPUT.journal)")
    run.add_argument(
        "--concurrency", type=at_least_one("--concurrency"),
        help="items at a time (32; --resume keeps the journal's)",
    )  # fmt: skip
    run.add_argument(
        "--rpm",
        type=at_least_one("--rpm", when_left_out="no limit"),
        help="requests per minute for the whole batch",
    )
    run.add_argument(
        "--tpm",
        type=at_least_one("--tpm", when_left_out="no limit"),
        help="tokens per minute for the whole batch",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the journal: skip done items, retry failed ones",
    )
    run.add_argument(
        "--restart",
        action="store_true",
        help="move an existing (or damaged) journal aside to NAME.<time>.old and start over",
    )
    run.add_argument(
        "--max-attempts", type=at_least_one("--max-attempts"),
        help="tries per item across runs (3; --resume keeps the journal's)",
    )  # fmt: skip
    run.add_argument("--field", help="the record field with the prompt or text")
    run.add_argument(
        "--budget", metavar="USD",
        help="stop handing out items once the done ones cost this many US dollars (reported "
        "by the provider, or estimated); --resume goes on",
    )  # fmt: skip
    run.add_argument(
        "--attachments-dir", metavar="DIR",
        help="where items' \"attachments\" paths are read from, and nothing outside it "
        "(default: the input file's folder)",
    )  # fmt: skip
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.add_argument(
        "--trace", metavar="DIR", help="record each item's runs as DIR/ITEM_ID.jsonl timelines"
    )
    run.add_argument(
        "--cache", metavar="PATH",
        help="answer repeated requests from this SQLite response cache (extraction tasks)",
    )  # fmt: skip
    run.add_argument(
        "--executor",
        help="dask://HOST:PORT or dask-local://N (agentkit-loop[dask]); dbos (a durable queue, "
        "SQLite beside the journal) or dbos:postgresql://... (workers elsewhere take items "
        "too: `batch worker`; --rpm then holds across them) (agentkit-loop[dbos])",
    )
    add_model_options(run).description = "for an output type (an extraction task)"
    add_common(run)
    run.set_defaults(handler=_run)
    worker = actions.add_parser(
        "worker", help="take items of `batch run --executor dbos:URL` from its queue (DBOS)"
    )
    worker.add_argument("task", help="module:name of the task, as given to `batch run`")
    worker.add_argument(
        "--executor", required=True, metavar="dbos:URL",
        help="the queue's database, as given to `batch run` (Postgres: dbos:postgresql://...)",
    )  # fmt: skip
    worker.add_argument(
        "--worker-id", metavar="ID",
        help="this worker's name in DBOS (default: HOST-PID); start a killed worker again "
        "with the same id and it resumes the items it had",
    )  # fmt: skip
    add_common(worker)
    worker.set_defaults(handler=_worker)
    status = actions.add_parser("status", help="counts of a journal's items")
    status.add_argument("journal", help="the journal (by default INPUT.journal)")
    add_common(status)
    status.set_defaults(handler=_status)
    export = actions.add_parser("export", help="write a journal's results as JSONL")
    export.add_argument("journal", help="the journal (by default INPUT.journal)")
    export.add_argument(
        "--out", required=True, metavar="PATH",
        help="where: a file (replaced whole), - for standard output, or a device or pipe",
    )  # fmt: skip
    add_common(export)
    export.set_defaults(handler=_export)


_KEPT = ("concurrency", "rpm", "tpm", "max_attempts", "field", "out", "executor")
"""The settings a journal keeps, which `--resume` uses unless given again."""
_DEFAULTS = {"concurrency": 32, "max_attempts": 3}


def _settings_for(options: argparse.Namespace, journal: str) -> None:
    """Fill the settings not given: from the journal on --resume, else the defaults."""
    kept: dict[str, Any] = {}
    if options.resume and Path(journal).is_file():
        try:
            stored = Journal.open_existing(journal)
        except (OSError, JournalError):
            stored = None  # damaged or foreign: the run itself says what is wrong
        if stored is not None:
            try:
                kept = stored.remembered()
            finally:
                stored.close()
    said = []
    for name in _KEPT:
        given, before = getattr(options, name), kept.get(name)
        flag = "--" + name.replace("_", "-")
        shown = masked_url if name == "executor" else str  # a database URL's password stays
        if given is None and before is not None:
            setattr(options, name, before)
            said.append(f"{flag} {shown(before)}")
        elif given is not None and before is not None and given != before:
            said.append(f"{flag} {shown(given)} (given again, instead of {shown(before)})")
        elif given is None:
            setattr(options, name, _DEFAULTS.get(name))
    if said and not options.quiet:
        say(f"resuming with the journal's settings: {', '.join(said)}")  # escaped: a file's


def _run(options: argparse.Namespace) -> int:
    if not Path(options.input).is_file():
        raise UsageError(f"{options.input}: no such file")
    journal = options.journal or f"{options.input}.journal"
    _settings_for(options, journal)
    target: Any = options.task if options.executor else load_object(options.task)

    cache = ResponseCache(options.cache) if options.cache else None
    if cache is not None and not isinstance(target, type):
        raise UsageError(
            "--cache serves extraction tasks (an output type); for an agent, give its model "
            "as ResponseCache(PATH).wrap(model) in its module"
        )

    async def main() -> Any:
        model: Any = chat_model(options) if isinstance(target, type) else None
        if cache is not None:
            model = cache.wrap(model)
        try:
            return await run_batch(
                _with_model(target, model), options.input, journal=journal, out=options.out,
                concurrency=options.concurrency, rpm=options.rpm, tpm=options.tpm,
                resume=options.resume, restart=options.restart,
                max_attempts=options.max_attempts, field=options.field,
                progress=None if options.quiet else sys.stderr, executor=options.executor,
                trace_dir=options.trace, attachments_dir=options.attachments_dir,
                budget=options.budget,
            )  # fmt: skip
        finally:
            if model is not None:
                await model.aclose()

    try:
        summary = anyio.run(main)
        if cache is not None:
            summary = replace(summary, cache_hits=cache.hits, cache_misses=cache.misses)
    except (JournalError, ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    except KeyboardInterrupt:
        again = _resume_command(options, journal)
        say(f"\ninterrupted; what finished is kept. Continue with:\n  {again}")
        return ExitCode.INTERRUPTED
    print(summary.to_json())
    if summary.remaining:
        again = _resume_command(options, journal)
        why = (
            f"the budget (${options.budget}) was reached; raise --budget and continue with"
            if summary.budget_reached
            else "continue with"
        )
        say(f"error: {summary.remaining} items were not processed; {why}:\n  {again}")
        return ExitCode.BATCH_INCOMPLETE
    return ExitCode.OK if summary.failed == 0 else ExitCode.BATCH_FAILURES


def _resume_command(options: argparse.Namespace, journal: str) -> str:
    """The command line that continues this run, quoted for a shell."""
    command = ["agentkit", "batch", "run", options.task, options.input, "--journal", journal]
    if options.out:
        command += ["--out", options.out]
    if options.executor and masked_url(options.executor) == options.executor:
        command += ["--executor", options.executor]  # one with a password: the journal keeps it
    if options.attachments_dir:
        command += ["--attachments-dir", options.attachments_dir]
    if options.budget:
        command += ["--budget", options.budget]
    return shlex.join([*command, "--resume"])


def _with_model(target: Any, model: ChatModel | None) -> Any:
    if model is None:
        return target
    from agentkit._extract import Extractor

    return Extractor(target, model=model)


def _open(path: str) -> Journal:
    try:
        return Journal.open_existing(path)
    except (FileNotFoundError, JournalError) as error:
        raise UsageError(str(error)) from None


def _worker(options: argparse.Namespace) -> int:
    from agentkit.batch._dbos import serve_worker
    from agentkit.batch._executors import DbosExecutor, executor_from

    try:
        executor = executor_from(options.executor)
    except ConfigurationError as error:  # a form no executor has: the command's usage
        raise UsageError(str(error)) from None
    if not isinstance(executor, DbosExecutor) or executor.database is None:
        raise UsageError("give the queue's database: --executor dbos:postgresql://...")
    url = executor.database
    worker_id = options.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    where = masked_url(url)
    ready = f"batch worker {worker_id}: taking items from the queues in {where}; Ctrl-C stops"
    try:
        serve_worker(url, worker_id, options.task, on_ready=lambda: say(ready))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def _status(options: argparse.Namespace) -> int:
    journal = _open(options.journal)
    try:
        counts = journal.counts()
        if not journal.in_use():  # nothing runs: what a stopped run left running was cut off
            counts["interrupted"], counts["running"] = counts["running"], 0
        cost, projected = spend(journal)
        print(json.dumps({**counts, "total_tokens": journal.tokens(), "cost_usd": cost,
                          "projected_usd": projected}))  # fmt: skip
    finally:
        journal.close()
    return 0


def _export(options: argparse.Namespace) -> int:
    journal = _open(options.journal)
    try:
        written = journal.export(options.out)
    finally:
        journal.close()
    print(json.dumps({"written": written, "out": options.out}))
    return 0
