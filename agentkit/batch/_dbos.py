"""Scale-out on DBOS: a batch's items are workflows on a durable queue (the `dbos` extra).

`--executor dbos` keeps DBOS's state in SQLite beside the journal (`JOURNAL.dbos.sqlite3`:
one machine, this process); `--executor dbos:postgresql://...` keeps it in Postgres, where
workers started on other processes or machines (`agentkit batch worker TASK --executor
dbos:URL`) take items from the same queue. The driver (`batch run`) keeps the journal, as with
Dask, and works on the queue too.

The queue is registered in DBOS's database under the journal's name, with its settings
(`register_queue`), so workers need only the URL: `--concurrency` items at a time per process,
and `--rpm` as DBOS's rate limiter, which counts items started across every worker on the
queue (an item that makes several requests counts once, as on Dask). An item is one workflow
whose id is `<queue>:<item>:<attempt>`: enqueued again (a driver restarted with `--resume`),
it runs once. A worker killed mid-item leaves it pending in DBOS; the worker started again
with the same `--worker-id` resumes it (at least once per item; the journal records it once).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from agentkit._exceptions import ConfigurationError
from agentkit._redact import masked_url

from ._dask import _Pass
from ._journal import Journal
from ._rate import RateLimiter

__all__ = ["APP_NAME", "DbosRunner", "queue_name", "rate_limit", "serve_worker"]

APP_NAME = "agentkit-batch"
"""DBOS's application name for every batch: a queue belongs to the application that made it."""
WORKFLOW = "agentkit.batch.item"

_TASKS: dict[tuple[str, str | None], Any] = {}  # per process: each task loaded once
_SERVED: set[str] = set()
"""The tasks this process was started for (its own command line or `run_batch` call): an
item naming another is refused, never imported: the queue's database is data, not code."""


def queue_name(journal: str | Path) -> str:
    """The batch's queue: named after its journal file."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", Path(journal).name)[:80]
    return f"agentkit-batch-{stem}"


def rate_limit(rpm: int | None) -> dict[str, Any] | None:
    """`rpm` as DBOS's limiter.

    Per second at 60 or more a minute (a whole minute's worth would start at once), else one
    item every 60/rpm seconds.
    """
    if rpm is None:
        return None
    if rpm >= 60:
        return {"limit": rpm // 60, "period": 1.0}
    return {"limit": 1, "period": 60.0 / rpm}


def _launch(url: str, executor_id: str) -> Any:
    try:
        from dbos import DBOS
    except ImportError:
        raise ConfigurationError(
            'the dbos executor needs DBOS: pip install "agentkit-loop[dbos]"'
        ) from None
    # DBOS's INFO lines name the database URL, password included: warnings only.
    DBOS(config={"name": APP_NAME, "system_database_url": url, "executor_id": executor_id,
                 "log_level": "WARNING"})  # fmt: skip
    try:
        DBOS.launch()
    except Exception as error:
        DBOS.destroy()
        raise ConfigurationError(
            f"cannot open DBOS's database {masked_url(url)}: {type(error).__name__}"
        ) from None
    return DBOS


def _register() -> Any:
    """The item workflow, registered with DBOS (once per process, before launching)."""
    from dbos import DBOS

    found = _REGISTERED.get("item")
    if found is None:

        @DBOS.workflow(name=WORKFLOW)
        async def item(task_spec: str, field: str | None, item_id: str, record: str,
                       attempt: int) -> str:  # fmt: skip
            return json.dumps(await _run_item(task_spec, field, item_id, json.loads(record),
                                              attempt))  # fmt: skip

        found = _REGISTERED["item"] = item
    return found


_REGISTERED: dict[str, Any] = {}


async def _run_item(
    task_spec: str, field: str | None, item_id: str, record: Any, attempt: int
) -> dict[str, Any]:
    """One item on this worker, as a row for the journal; never raises for the item."""
    from agentkit._exceptions import RateLimitError
    from agentkit._loading import load_object

    from ._tasks import BatchContext, make_task

    row: dict[str, Any] = {"id": item_id, "worker": os.getpid()}
    if task_spec not in _SERVED:
        served = ", ".join(sorted(_SERVED)) or "no task"
        row.update(error=f"this worker runs {served}, not {task_spec[:200]!r} (named by the "
                   "queue): start a worker for that task")  # fmt: skip
        return row
    key = (task_spec, field)
    if key not in _TASKS:
        _TASKS[key] = make_task(load_object(task_spec), field=field)
    try:
        output = await _TASKS[key](record, BatchContext(id=item_id, attempt=attempt))
        row.update(result=output.result, usage=output.usage)
    except RateLimitError as error:
        row.update(rate_limited=error.retry_after or 5.0)
    except Exception as error:  # recorded as the item's error
        row.update(error=f"{type(error).__name__}: {error}"[:2000])
    return row


class DbosRunner:
    """Runs a batch's items as DBOS workflows on the batch's queue (for a `DbosExecutor`)."""

    def __init__(
        self,
        url: str,
        task_spec: str,
        field: str | None,
        *,
        journal: str | Path,
        concurrency: int,
        rpm: int | None,
    ) -> None:
        self.url = url
        self.task_spec, self.field = task_spec, field
        self.queue = queue_name(journal)
        self.concurrency, self.rpm = concurrency, rpm

    async def run(self, journal: Journal, max_attempts: int, limiter: RateLimiter | None) -> int:
        """Process every item to do; return how many were processed."""
        item = _register()
        _SERVED.add(self.task_spec)
        dbos = await anyio.to_thread.run_sync(
            _launch, self.url, f"driver-{socket.gethostname()}-{self.queue}"[:100]
        )
        try:
            queue = await dbos.register_queue_async(
                self.queue,
                worker_concurrency=self.concurrency,
                limiter=rate_limit(self.rpm),
                polling_interval_sec=0.2,
                on_conflict="always_update",
            )
            # The queue's limiter holds the rate; this one only records what items used.
            state = _Pass(journal, limiter or RateLimiter(), Counter())
            return await self._drive(queue, item, journal, max_attempts, state)
        finally:
            await anyio.to_thread.run_sync(dbos.destroy)

    async def _drive(
        self, queue: Any, item: Any, journal: Journal, max_attempts: int, state: _Pass
    ) -> int:
        from dbos import SetWorkflowID

        processed, items = 0, list(journal.to_do(max_attempts))
        while items:
            handles = []
            for each in items:
                journal.started(each.id)
                state.sent[each.id], state.entries[each.id] = each, [0.0, 0.0]
                attempt = each.attempts + 1
                record = json.dumps(each.record)
                with SetWorkflowID(f"{self.queue}:{each.id}:{attempt}"):
                    handle = await queue.enqueue_async(
                        item, self.task_spec, self.field, each.id, record, attempt
                    )
                handles.append(handle)
            processed += await self._collect(handles, state)
            items, state.again = state.again, []  # 429s: `commit` bounds their rounds
        return processed

    async def _collect(self, handles: list[Any], state: _Pass) -> int:
        done = 0
        async with anyio.create_task_group() as group:

            async def one(handle: Any) -> None:
                nonlocal done
                row = json.loads(await handle.get_result())
                done += state.commit([row])

            for handle in handles:
                group.start_soon(one, handle)
        return done


def serve_worker(
    url: str, worker_id: str, task_spec: str, on_ready: Callable[[], None] = lambda: None
) -> None:
    """Take items from every batch queue in `url` until interrupted (`agentkit batch worker`).

    The task is loaded first, so a worker that could not run it fails at once; `on_ready` is
    called once DBOS is launched and polling the queues.
    """
    from agentkit._loading import load_object

    load_object(task_spec)
    _SERVED.add(task_spec)
    _register()
    dbos = _launch(url, worker_id)
    try:
        on_ready()
        anyio.run(anyio.sleep_forever, backend="asyncio")
    finally:
        dbos.destroy()
