"""Tasks the batch tests run, loaded by path in subprocesses as a user's module would be."""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel

from agentkit.batch import BatchContext


def slow_echo(record: dict[str, Any], context: BatchContext) -> dict[str, Any]:
    """Log the call (to count repeats after a crash), wait a little, echo the record."""
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(context.id + "\n")
    time.sleep(0.01)
    return {"echo": record.get("text"), "attempt": context.attempt}


def flaky(record: dict[str, Any], context: BatchContext) -> str:
    """Fail on the first attempt of items whose text says so."""
    if record.get("text") == "fail once" and context.attempt == 1:
        raise RuntimeError("transient trouble")
    if record.get("text") == "always fail":
        raise ValueError("this record cannot be processed")
    return str(record.get("text", "")).upper()


class Person(BaseModel):
    """A person."""

    name: str
    age: int


def worker_echo(record: dict[str, Any], context: BatchContext) -> dict[str, Any]:
    """Log which process ran the call, take a moment, and say so in the result."""
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(f"{os.getpid()} {context.id}\n")
    time.sleep(0.05)
    return {"pid": os.getpid(), "text": record.get("text")}


def rate_limited_first(record: dict[str, Any], context: BatchContext) -> str:
    """Meet a 429 the first time for one item in three (counted per process in a file)."""
    from agentkit import RateLimitError

    marker = os.path.join(os.environ["LIMITED_DIR"], context.id)
    if int(record["n"]) % 3 == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RateLimitError("slow down", status_code=429, retry_after=0.01)
    return str(record["n"])


async def slow_async_echo(record: dict[str, Any], context: BatchContext) -> dict[str, Any]:
    """Log the call, then wait in the event loop (so a Ctrl-C finds items in flight)."""
    import anyio

    log = await anyio.open_file(os.environ["CALLS_LOG"], "a")
    async with log:
        await log.write(context.id + "\n")
    await anyio.sleep(0.05)
    return {"echo": record.get("text")}


async def dbos_echo(record: dict[str, Any], context: BatchContext) -> dict[str, Any]:
    """Note when and where the item started (a DBOS worker or the driver), then echo it."""
    started = time.time()
    with open(os.environ["CALLS_LOG"], "a") as log:  # noqa: ASYNC230 - one short line
        log.write(f"{os.getpid()} {context.id} {started}\n")
    if record.get("hold"):  # busy for a while: one process alone cannot keep up
        import anyio

        await anyio.sleep(float(record["hold"]))
    return {"pid": os.getpid(), "started": started, "text": record.get("text")}
