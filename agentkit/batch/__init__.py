"""Batch runs over many inputs: a crash-safe SQLite journal, rate limits, progress.

```python
from agentkit.batch import run_batch

summary = await run_batch(Invoice, "invoices.jsonl", journal="invoices.journal", out="out.jsonl",
                          concurrency=32, rpm=500, resume=True)
```

The command line: `agentkit batch run TASK input.jsonl --out results.jsonl ...`.
"""

from ._executors import DaskExecutor, DbosExecutor, Executor
from ._journal import Journal, JournalDamaged, JournalError, JournalMismatch
from ._rate import RateLimiter
from ._runner import BatchSummary, read_jsonl, run_batch
from ._tasks import (
    AgentTask,
    BatchContext,
    BatchTask,
    ExtractTask,
    FunctionTask,
    TaskOutput,
    make_task,
)

__all__ = [
    "AgentTask",
    "BatchContext",
    "BatchSummary",
    "BatchTask",
    "DaskExecutor",
    "DbosExecutor",
    "Executor",
    "ExtractTask",
    "FunctionTask",
    "Journal",
    "JournalDamaged",
    "JournalError",
    "JournalMismatch",
    "RateLimiter",
    "TaskOutput",
    "make_task",
    "read_jsonl",
    "run_batch",
]
