"""A batch task in a module that notes every process importing it (tests/batch/test_batch_dbos.py).

A worker started for another task must never import this module because a queue names it.
"""

from __future__ import annotations

import os
from typing import Any

from agentkit.batch import BatchContext

with open(os.environ["IMPORTS_LOG"], "a") as _log:
    _log.write(f"{os.getpid()}\n")


async def other(record: dict[str, Any], context: BatchContext) -> str:
    """Echo the record's text."""
    import anyio

    await anyio.sleep(0.3)
    return str(record.get("text"))
