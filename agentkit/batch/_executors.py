"""Where a batch's items run when not in this process: Dask workers or a DBOS queue.

Executors are objects (`DaskExecutor(address=...)`, `DaskExecutor(local_workers=4)`,
`DbosExecutor(database=...)`); the strings `dask://HOST:PORT`, `dask-local://N`, `dbos` and
`dbos:URL` stay as command-line sugar for them (`executor_from`). Making one imports neither
Dask nor DBOS: they are imported when the batch runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit._exceptions import ConfigurationError
from agentkit._redact import masked_url

if TYPE_CHECKING:
    from ._journal import Journal
    from ._options import BatchOptions
    from ._rate import RateLimiter

__all__ = ["DaskExecutor", "DbosExecutor", "Executor", "executor_from"]

_DATABASES = ("postgresql://", "postgres://", "sqlite:///")


class Executor(ABC):
    """Runs a batch's items elsewhere; the driver here keeps the journal."""

    @property
    @abstractmethod
    def spec(self) -> str:
        """The command-line form (`--executor`), which the journal remembers for `--resume`."""

    @abstractmethod
    def check(self, options: BatchOptions) -> None:
        """Refuse the options this executor cannot honour (`ConfigurationError`)."""

    @abstractmethod
    async def run(
        self, journal: Journal, task_spec: str, options: BatchOptions, limiter: RateLimiter | None
    ) -> int:
        """Process every item to do (the task loaded by its `module:name`); how many were."""


@dataclass(frozen=True, slots=True)
class DaskExecutor(Executor):
    """Items in shards on Dask workers: an existing scheduler's, or a local cluster's."""

    address: str | None = None
    """The scheduler: `HOST:PORT` (TCP), or an address with its scheme (`tls://HOST:PORT`)."""
    local_workers: int | None = None
    """Start a `LocalCluster` of this many worker processes instead."""
    shard_size: int = 16
    """Items sent to a worker at once."""

    def __post_init__(self) -> None:
        if (self.address is None) == (self.local_workers is None):
            raise ConfigurationError(
                "DaskExecutor takes a scheduler address or local_workers=N, exactly one"
            )
        if self.local_workers is not None and self.local_workers < 1:
            raise ConfigurationError(f"local_workers={self.local_workers}: give at least 1")
        if self.address is not None and not self.address.split("://", 1)[-1]:
            raise ConfigurationError("DaskExecutor address is empty: give HOST:PORT")
        if self.shard_size < 1:
            raise ConfigurationError(f"shard_size={self.shard_size}: give at least 1")

    @property
    def spec(self) -> str:
        if self.address is not None:
            return "dask://" + self.address.removeprefix("tcp://")
        return f"dask-local://{self.local_workers}"

    @property
    def scheduler(self) -> str | None:
        """The scheduler's address as Dask takes it (TCP unless a scheme is given)."""
        if self.address is None:
            return None
        return self.address if "://" in self.address else f"tcp://{self.address}"

    def check(self, options: BatchOptions) -> None:
        """Every option holds on Dask: the driver here pays `rpm`/`tpm` before each shard."""

    async def run(
        self, journal: Journal, task_spec: str, options: BatchOptions, limiter: RateLimiter | None
    ) -> int:
        from ._dask import DaskRunner

        runner = DaskRunner(self.scheduler, self.local_workers, task_spec, options.field,
                            self.shard_size, worker_concurrency=options.concurrency)  # fmt: skip
        return await runner.run(journal, options.max_attempts, limiter)


@dataclass(frozen=True, slots=True)
class DbosExecutor(Executor):
    """Items as workflows on a durable DBOS queue that `agentkit batch worker`s take from too.

    `rpm` then limits the items started across every worker; `tpm` is refused.
    """

    database: str | None = field(default=None, repr=False)
    """`postgresql://...` (or `sqlite:///...`); None: SQLite beside the journal."""

    def __post_init__(self) -> None:
        if self.database is not None and not self.database.startswith(_DATABASES):
            raise ConfigurationError(
                f"DbosExecutor database {masked_url(self.database)!r}: give a "
                "postgresql://... URL (or sqlite:///PATH), or None for SQLite beside the journal"
            )

    def __repr__(self) -> str:  # the URL's password never shows
        shown = None if self.database is None else masked_url(self.database)
        return f"DbosExecutor(database={shown!r})"

    @property
    def spec(self) -> str:
        return "dbos" if self.database is None else f"dbos:{self.database}"

    def url(self, journal: str | Path) -> str:
        """The queue's database for the batch journaled in `journal`."""
        if self.database is not None:
            return self.database
        return f"sqlite:///{Path(journal).resolve()}.dbos.sqlite3"

    def check(self, options: BatchOptions) -> None:
        if options.tpm is not None:
            raise ConfigurationError(
                "tpm is not held across DBOS workers: the queue limits items started (--rpm)"
            )

    async def run(
        self, journal: Journal, task_spec: str, options: BatchOptions, limiter: RateLimiter | None
    ) -> int:
        from ._dbos import DbosRunner

        runner = DbosRunner(self.url(options.journal), task_spec, options.field,
                            journal=options.journal, concurrency=options.concurrency,
                            rpm=options.rpm)  # fmt: skip
        return await runner.run(journal, options.max_attempts, None)


def executor_from(spec: str | Executor | None) -> Executor | None:
    """An executor object from its command-line form (objects pass through).

    Raises:
        ConfigurationError: Not one of `dask://HOST:PORT`, `dask-local://N`, `dbos`,
            `dbos:URL`.
    """
    if spec is None or isinstance(spec, Executor):
        return spec
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"executor {spec!r}: give a DaskExecutor, a DbosExecutor, or their command-line form"
        )
    if spec.startswith("dask://"):
        return DaskExecutor(address=spec.removeprefix("dask://"))
    count = spec.removeprefix("dask-local://")
    if spec.startswith("dask-local://") and count.isdigit():
        return DaskExecutor(local_workers=int(count))
    if spec == "dbos":
        return DbosExecutor()
    if spec.startswith("dbos:") and spec.removeprefix("dbos:").startswith(_DATABASES):
        return DbosExecutor(spec.removeprefix("dbos:"))
    raise ConfigurationError(
        f"executor {masked_url(spec)!r}: use dask://HOST:PORT, dask-local://N, dbos (SQLite "
        "beside the journal) or dbos:postgresql://..."
    )
