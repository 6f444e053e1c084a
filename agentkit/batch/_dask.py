"""Scale-out on Dask: workers run shards of items; the driver keeps the journal.

`dask://HOST:PORT` uses an existing scheduler; `dask-local://N` starts a LocalCluster of N
worker processes. The task travels as its `module:name` spec and is loaded on each worker
(scheduler and workers need agentkit and the task's module installed, and the API key in
their environment). Each shard's future is released as soon as its results are committed, so
a lost worker never makes the scheduler recompute finished shards. Rate limits hold across
workers because the driver pays each item's request and estimated tokens from its own
limiter before handing the shard out, and corrects the tokens when the results come back.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._journal import Item, Journal
from ._rate import MAX_RATE_LIMIT_ROUNDS, RateLimiter, estimate_tokens

__all__ = ["DaskRunner", "run_shard"]

_TASKS: dict[tuple[str, str | None], Any] = {}  # per worker process: loaded once


def run_shard(
    task_spec: str, field: str | None, items: list[tuple[str, Any, int]], concurrency: int
) -> list[dict[str, Any]]:
    """Run on a worker: process a shard's items concurrently; never raises for an item."""
    from agentkit._exceptions import RateLimitError
    from agentkit._loading import load_object

    from ._tasks import BatchContext, make_task

    key = (task_spec, field)
    if key not in _TASKS:
        _TASKS[key] = make_task(load_object(task_spec), field=field)
    task = _TASKS[key]
    results: list[dict[str, Any]] = []

    async def one(item_id: str, record: Any, attempt: int, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            row: dict[str, Any] = {"id": item_id, "worker": os.getpid()}
            try:
                output = await task(record, BatchContext(id=item_id, attempt=attempt))
                row.update(result=output.result, usage=output.usage)
            except RateLimitError as error:
                row.update(rate_limited=error.retry_after or 5.0)
            except Exception as error:  # recorded as the item's error
                row.update(error=f"{type(error).__name__}: {error}"[:2000])
            results.append(row)

    async def main() -> None:
        limiter = anyio.CapacityLimiter(concurrency)
        async with anyio.create_task_group() as group:
            for item_id, record, attempt in items:
                group.start_soon(one, item_id, record, attempt, limiter)

    anyio.run(main)
    return results


@dataclass
class DaskRunner:
    """Runs a batch's items on Dask workers, in shards (for a `DaskExecutor`)."""

    address: str | None
    """The scheduler's address, with its scheme (None: a local cluster)."""
    local_workers: int | None
    task_spec: str
    field: str | None = None
    shard_size: int = 16
    worker_concurrency: int = 16

    async def run(self, journal: Journal, max_attempts: int, limiter: RateLimiter | None) -> int:
        """Process every item to do; return how many were processed."""
        from distributed import Client, LocalCluster

        cluster = (
            LocalCluster(
                n_workers=self.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            if self.local_workers is not None
            else None
        )
        client = await anyio.to_thread.run_sync(
            lambda: Client(cluster if cluster is not None else self.address)
        )
        try:  # a limiter even without limits: a 429 pauses every shard still to be sent
            return await self._drive(client, journal, max_attempts, limiter or RateLimiter())
        finally:
            await anyio.to_thread.run_sync(client.close)
            if cluster is not None:
                await anyio.to_thread.run_sync(cluster.close)

    async def _drive(
        self, client: Any, journal: Journal, max_attempts: int, limiter: RateLimiter
    ) -> int:
        """Passes until nothing is left: rate-limited items go round again (up to a bound)."""
        items: Iterator[Item] = journal.to_do(max_attempts)
        limited: Counter[str] = Counter()
        processed = 0
        while True:
            state = _Pass(journal, limiter, limited)
            processed += await self._pass(client, items, state)
            if not state.again:
                return processed
            items = iter(state.again)

    async def _pass(self, client: Any, items: Iterator[Item], state: _Pass) -> int:
        from distributed import as_completed

        shards = _shards(items, self.shard_size)
        in_flight = max(2, 2 * len(client.scheduler_info().get("workers", {})))
        completed = as_completed()
        processed = 0
        for _ in range(in_flight):
            if not await self._submit(client, completed, shards, state):
                break
        while completed.count():
            future = await anyio.to_thread.run_sync(next, completed)
            rows = future.result()
            future.release()  # committed below: the scheduler must never recompute it
            processed += state.commit(rows)
            await self._submit(client, completed, shards, state)
        return processed

    async def _submit(
        self, client: Any, completed: Any, shards: Iterator[list[Item]], state: _Pass
    ) -> bool:
        shard = next(shards, None)
        if shard is None:
            return False
        for item in shard:
            state.entries[item.id] = await state.limiter.acquire(estimate_tokens(item.record))
            state.journal.started(item.id)
            state.sent[item.id] = item
        payload = [(item.id, item.record, item.attempts + 1) for item in shard]
        completed.add(
            client.submit(
                run_shard, self.task_spec, self.field, payload, self.worker_concurrency, pure=False
            )
        )
        return True


@dataclass
class _Pass:
    """One pass over items: what is in flight, and what goes round again after it."""

    journal: Journal
    limiter: RateLimiter
    limited: Counter[str]
    """429s met per item in this run, across passes."""
    entries: dict[str, list[float]] = field(default_factory=dict)
    """Each item's limiter entry, corrected with its real tokens when its result comes."""
    sent: dict[str, Item] = field(default_factory=dict)
    """The items handed out and not yet back."""
    again: list[Item] = field(default_factory=list)
    """Items that met a 429 and still have rounds left: the next pass takes them."""

    def commit(self, rows: list[dict[str, Any]]) -> int:
        """Record a shard's results in the journal; return how many rows it held."""
        for row in rows:
            item, entry = self.sent.pop(row["id"]), self.entries.pop(row["id"])
            if "rate_limited" in row:
                self.limiter.pause(float(row["rate_limited"]))
                self.limited[item.id] += 1
                if self.limited[item.id] < MAX_RATE_LIMIT_ROUNDS:
                    self.journal.requeue(item.id)  # taken again in this run's next pass
                    self.again.append(item)
                else:
                    self.journal.failed(item.id, "rate limited on every try")
            elif "error" in row:
                self.journal.failed(item.id, row["error"])
            else:
                if row.get("usage"):
                    self.limiter.correct(entry, int(row["usage"].get("total_tokens", 0)))
                self.journal.done(item.id, row["result"], row.get("usage"))
        return len(rows)


def _shards(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    shard: list[Item] = []
    for item in items:
        shard.append(item)
        if len(shard) == size:
            yield shard
            shard = []
    if shard:
        yield shard
