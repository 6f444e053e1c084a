"""The batch driver: feeds items to workers, keeps the journal, limits the rate, shows progress."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import anyio

from agentkit._exceptions import ConfigurationError, RateLimitError
from agentkit._loading import load_object
from agentkit._observe import observed_item

from ._attach import ATTACHMENTS_FIELD, resolve_attachments
from ._executors import Executor
from ._journal import Item, Journal, move_aside
from ._options import BatchOptions
from ._rate import (
    MAX_RATE_LIMIT_ROUNDS,
    LimiterGate,
    RateLimiter,
    estimate_tokens,
    limited_eta,
)
from ._tasks import AgentTask, BatchContext, BatchTask, ExtractTask, make_task

__all__ = ["BatchSummary", "read_jsonl", "run_batch"]

_RATE_LIMIT_PAUSE = 5.0  # seconds, when a 429 says nothing about how long to wait


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """How a batch run ended (also printed as JSON by the CLI)."""

    done: int
    failed: int
    remaining: int
    processed_this_run: int
    seconds: float
    items_per_second: float
    total_tokens: int
    journal: str
    output: str | None
    cache_hits: int = 0
    """Requests a `ResponseCache` answered (set by `agentkit batch run --cache`)."""
    cache_misses: int = 0
    models: dict[str, int] = field(default_factory=dict)
    """Requests per model that answered (a `FallbackModel`'s members, by label)."""
    cost_usd: float | None = None
    """What the done items cost (reported or estimated); None when no cost is known."""
    projected_usd: float | None = None
    """The cost of every item at the done items' average (None when no cost is known)."""
    budget_reached: bool = False
    """`budget` stopped the handing out of items (those in flight finished)."""

    def to_json(self) -> str:
        """The summary as one line of JSON."""
        return json.dumps(asdict(self))


def read_jsonl(
    path: str | Path, attachments_dir: str | Path | None = None
) -> Iterator[tuple[int, str, Any, str | None]]:
    """Items of a JSONL file: (position, id, record, error).

    The id is the record's `id`, or a stable hash of the line's content. A line that is not a
    JSON object becomes a failed item `line-N`, with the reason; a repeated id becomes a
    failed item `ID@line-N`. Blank lines are skipped. Attachments are read relative to
    `attachments_dir` (default: the file's folder) and never from outside it.
    """
    seen: dict[str, int] = {}
    root = Path(attachments_dir) if attachments_dir is not None else Path(path).parent
    with open(path, encoding="utf-8") as lines:
        yield from _items(enumerate(lines, start=1), seen, root)


def _items(
    numbered: Iterable[tuple[int, Any]], seen: dict[str, int], root: Path
) -> Iterator[tuple[int, str, Any, str | None]]:
    for number, line in numbered:
        if isinstance(line, str):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                yield (
                    number,
                    f"line-{number}",
                    line.rstrip("\n")[:1000],
                    f"line {number} is not valid JSON: {error}",
                )
                continue
        else:
            record = line
        if not isinstance(record, dict):
            yield number, f"line-{number}", record, f"line {number} is not a JSON object"
            continue
        item_id = str(record["id"]) if record.get("id") is not None else _stable_id(record)
        if item_id in seen:
            yield (
                number,
                f"{item_id}@line-{number}",
                record,
                f"line {number} repeats the id of line {seen[item_id]}",
            )
            continue
        seen[item_id] = number
        if ATTACHMENTS_FIELD in record:  # after the id: a changed file keeps the item's id
            try:
                record = resolve_attachments(record, root)
            except ConfigurationError as error:
                yield number, item_id, record, f"line {number}: {error}"
                continue
        yield number, item_id, record, None


def _stable_id(record: Any) -> str:
    return "sha-" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


async def run_batch(
    target: Any,
    source: str | Path | Iterable[Any],
    *,
    journal: str | Path,
    out: str | Path | None = None,
    concurrency: int = 32,
    rpm: int | None = None,
    tpm: int | None = None,
    resume: bool = False,
    restart: bool = False,
    max_attempts: int = 3,
    field: str | None = None,
    progress: TextIO | None = None,
    limiter: RateLimiter | None = None,
    executor: Executor | str | None = None,
    trace_dir: str | Path | None = None,
    attachments_dir: str | Path | None = None,
    budget: Decimal | float | str | None = None,
) -> BatchSummary:
    """Process every input item once, crash-safely.

    Args:
        target: An `Agent`, an output type (extraction), a function `(record, context)`, or a task.
        source: A JSONL path, or an iterable of records (dicts).
        journal: The SQLite journal file (created, or continued with `resume`).
        out: Where to export the results (JSONL, input order) at the end.
        concurrency: Items processed at the same time.
        rpm: Requests per minute for the whole batch.
        tpm: Tokens per minute for the whole batch (estimated, then corrected).
        resume: Continue an existing journal: done items are skipped, failed ones retried.
        restart: Move an existing journal aside (to `NAME.<time>.old`, never deleted) and
            start a new one: the way on from a damaged journal.
        max_attempts: Tries per item across runs.
        field: The record field holding the prompt or text.
        progress: Where to write progress (e.g. `sys.stderr`); None for quiet.
        limiter: A ready `RateLimiter` (overrides rpm/tpm).
        executor: Where the items run: `DaskExecutor(address=...)` or
            `DaskExecutor(local_workers=N)` on Dask workers, `DbosExecutor()` (SQLite beside
            the journal) or `DbosExecutor("postgresql://...")` on a durable DBOS queue that
            `agentkit batch worker` processes elsewhere take from too (`rpm` then limits items
            started across all workers); or their command-line form (`dask://HOST:PORT`,
            `dask-local://N`, `dbos`, `dbos:URL`). `target` must then be a `module:name` spec
            the workers can load.
        trace_dir: Record each item's runs as a timeline, `trace_dir/ITEM_ID.jsonl`
            (`agentkit trace view`); not with a Dask executor.
        attachments_dir: The folder an item's `attachments` are read from (default: the
            JSONL file's folder, or the working directory for records given in Python);
            nothing outside it is ever read.
        budget: US dollars: once the done items cost this much (reported or estimated), no
            more items are handed out (those in flight finish); `--resume` goes on.
    """
    options = BatchOptions.checked(
        target, journal=journal, out=out, concurrency=concurrency, rpm=rpm, tpm=tpm,
        resume=resume, restart=restart, max_attempts=max_attempts, field=field,
        progress=progress, limiter=limiter, executor=executor, trace_dir=trace_dir,
        attachments_dir=attachments_dir, budget=budget,
    )  # fmt: skip
    task = make_task(load_object(target) if isinstance(target, str) else target, field=field)
    return await _run(task, str(target), source, options)


async def _run(task: BatchTask, spec: str, source: Any, options: BatchOptions) -> BatchSummary:
    """The run itself, on checked options (`spec`: the task's `module:name` for workers)."""
    moved = move_aside(options.journal) if options.restart else None
    if moved is not None and options.progress is not None:
        options.progress.write(f"moved the old journal aside to {moved}\n")
    store = Journal(options.journal, task.fingerprint(), resume=options.resume)
    try:
        store.remember(options.remembered())
        where = options.attachments_dir
        items = (
            read_jsonl(source, where)
            if isinstance(source, str | Path)
            else _items(enumerate(source, start=1), {}, Path(where or "."))
        )
        store.add(items)
        driver = _Driver(task, store, options)
        started = time.perf_counter()
        driver.processed = await _execute(driver, spec, store, options)
        if options.out is not None:
            store.export(options.out)
        return driver.summary(time.perf_counter() - started, options.out)
    finally:
        store.close()


async def _execute(driver: _Driver, spec: str, store: Journal, options: BatchOptions) -> int:
    """Process the items here, on Dask workers or on a DBOS queue; how many were processed."""
    if options.executor is None:
        await driver.run(options.concurrency)
        return driver.processed
    return await options.executor.run(store, spec, options, driver.limiter)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        return False


class _Driver:
    def __init__(self, task: BatchTask, journal: Journal, options: BatchOptions) -> None:
        limiter, progress = options.rate_limiter(), options.progress
        self.task, self.journal, self.limiter = task, journal, limiter
        # Tasks that talk to a model are charged per request where the requests are made.
        # Agents and extractions: every model request is charged, whatever the model (a
        # wrapper around it); a function task: once per item.
        self.per_request = limiter is not None and isinstance(task, AgentTask | ExtractTask)
        if limiter is not None and isinstance(task, AgentTask | ExtractTask):
            self.task = task.limited(LimiterGate(limiter))
        self.max_attempts, self.progress = options.max_attempts, progress
        self.processed = 0
        self.started = time.perf_counter()
        self.name = options.journal.stem
        self.trace_dir: Path | None = options.trace_dir
        if self.trace_dir is not None:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
        self.budget: Decimal | None = options.budget
        self.budget_reached = False

    def _over_budget(self) -> bool:
        """Whether the spend so far reached the budget (then no more items are handed out)."""
        if self.budget is None:
            return False
        spent, _ = self.journal.spent()
        if spent is not None and spent >= self.budget:
            if not self.budget_reached and self.progress is not None:
                self.progress.write(f"\nbudget ${self.budget} reached (${spent} spent): no "
                                    "more items are handed out\n")  # fmt: skip
            self.budget_reached = True
        return self.budget_reached

    async def run(self, concurrency: int) -> None:
        send, receive = anyio.create_memory_object_stream[Item](max_buffer_size=concurrency)
        async with anyio.create_task_group() as outer:
            if self.progress is not None:
                outer.start_soon(self._report)
            async with anyio.create_task_group() as workers:
                for _ in range(concurrency):
                    workers.start_soon(self._worker, receive.clone())
                receive.close()
                async with send:
                    for item in self.journal.to_do(self.max_attempts):
                        if self._over_budget():
                            break
                        await send.send(item)
            outer.cancel_scope.cancel()  # the workers are done: stop the progress reporter

    async def _worker(self, items: anyio.abc.ObjectReceiveStream[Item]) -> None:
        async with items:
            async for item in items:
                if not self._over_budget():  # else it stays pending, for --resume
                    await self._process(item)

    async def _process(self, item: Item) -> None:
        with observed_item(self.name, item.id, item.attempts + 1):
            await self._attempt(item)

    async def _attempt(self, item: Item) -> None:
        self.journal.started(item.id)
        trace_to = None
        if self.trace_dir is not None:
            trace_to = self.trace_dir / f"{_file_name(item.id)}.jsonl"
        context = BatchContext(id=item.id, attempt=item.attempts + 1, trace_to=trace_to)
        for _ in range(MAX_RATE_LIMIT_ROUNDS):
            entry = (
                await self.limiter.acquire(estimate_tokens(item.record))
                if self.limiter is not None and not self.per_request
                else None
            )
            try:
                output = await self.task(item.record, context)
            except RateLimitError as error:
                if self.limiter is not None:
                    self.limiter.pause(error.retry_after or _RATE_LIMIT_PAUSE)
                else:
                    await anyio.sleep(error.retry_after or _RATE_LIMIT_PAUSE)
                continue
            except Exception as error:  # a task error is recorded, never stops the batch
                self.journal.failed(item.id, f"{type(error).__name__}: {error}"[:2000])
                break
            if entry is not None and self.limiter is not None and output.usage:
                self.limiter.correct(entry, int(output.usage.get("total_tokens", 0)))
            self.journal.done(item.id, output.result, output.usage)
            break
        else:
            self.journal.failed(item.id, "rate limited on every try")
        self.processed += 1

    async def _report(self) -> None:
        assert self.progress is not None
        # On a terminal the line is redrawn twice a second; into a log, a line every 10 s.
        on_terminal = _isatty(self.progress)
        while True:
            await anyio.sleep(0.5 if on_terminal else 10.0)
            self._print_progress()

    def _print_progress(self) -> None:
        assert self.progress is not None
        counts = self.journal.counts()
        remaining = counts["pending"] + counts["running"]
        elapsed = time.perf_counter() - self.started
        rate = self.processed / elapsed if elapsed else 0.0
        eta = f"{self._eta(remaining, rate, counts['done']):.0f} s" if rate else "?"
        line = (
            f"done {counts['done']}  failed {counts['failed']}  remaining {remaining}  "
            f"{rate:.1f} items/s  {self.journal.tokens()} tokens  ETA {eta}"
        )
        self.progress.write(f"\r{line}   " if _isatty(self.progress) else f"{line}\n")
        self.progress.flush()

    def _eta(self, remaining: int, rate: float, done: int) -> float:
        """The time left at the pace so far, or what the rate limits allow if that is longer.

        A run's first minute goes at full speed until the limiter's window fills, so the
        pace alone would promise far too early an end under `--rpm`.
        """
        at_pace = remaining / rate
        if self.limiter is None:
            return at_pace
        return max(at_pace, limited_eta(self.limiter, remaining, done, self.journal.tokens()))

    def summary(self, seconds: float, out: str | Path | None) -> BatchSummary:
        if self.progress is not None:
            self._print_progress()
            if _isatty(self.progress):  # end the redrawn line
                self.progress.write("\n")
        counts = self.journal.counts()
        cost, projected = spend(self.journal)
        return BatchSummary(
            done=counts["done"],
            failed=counts["failed"],
            remaining=counts["pending"] + counts["running"],
            processed_this_run=self.processed,
            seconds=round(seconds, 3),
            items_per_second=round(self.processed / seconds, 2) if seconds else 0.0,
            total_tokens=self.journal.tokens(),
            journal=str(self.journal.path),
            output=str(out) if out is not None else None,
            models=self.journal.model_requests(),
            cost_usd=cost,
            projected_usd=projected,
            budget_reached=self.budget_reached,
        )


def spend(journal: Journal) -> tuple[float | None, float | None]:
    """What the done items cost, and the whole batch's cost at their average."""
    spent, costed = journal.spent()
    if spent is None:
        return None, None
    total = sum(journal.counts().values())
    return float(spent), float(spent / costed * total)


def _file_name(item_id: str) -> str:
    """An item id made safe as a file name (ids are the user's: any text)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", item_id)[:100].lstrip(".")
    return safe or "item"
