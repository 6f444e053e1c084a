"""What one batch run was asked: every option of `run_batch`, checked together, in one record.

`run_batch` keeps its readable keyword signature; inside, the driver and the executors get
this record instead of a dozen parameters passed down by hand, and the options that exclude
each other are refused here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from agentkit._exceptions import ConfigurationError

from ._executors import Executor, executor_from
from ._rate import RateLimiter

__all__ = ["BatchOptions"]


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """The options of one `run_batch` call (see its docstring for each)."""

    journal: Path
    out: str | Path | None = None
    concurrency: int = 32
    rpm: int | None = None
    tpm: int | None = None
    resume: bool = False
    restart: bool = False
    max_attempts: int = 3
    field: str | None = None
    progress: TextIO | None = None
    limiter: RateLimiter | None = None
    executor: Executor | None = None
    trace_dir: Path | None = None
    attachments_dir: str | Path | None = None
    budget: Decimal | None = None

    @classmethod
    def checked(cls, target: Any, **given: Any) -> BatchOptions:
        """The record, or `ConfigurationError` naming the options that cannot go together."""
        journal, trace_dir = given.pop("journal"), given.pop("trace_dir", None)
        options = cls(
            journal=Path(journal),
            trace_dir=Path(trace_dir) if trace_dir is not None else None,
            budget=_budget(given.pop("budget", None)),
            executor=executor_from(given.pop("executor", None)),
            **given,
        )
        options._check(target)
        return options

    def _check(self, target: Any) -> None:
        if self.restart and self.resume:
            raise ConfigurationError("restart and resume exclude each other: choose one")
        if self.executor is None:
            return
        if not isinstance(target, str):
            raise ConfigurationError(
                "with a Dask or DBOS executor, give the task as a 'module:name' string (workers "
                "load it by that name)"
            )
        self.executor.check(self)
        if self.trace_dir is not None:
            raise ConfigurationError(
                "trace_dir records runs in this process; it cannot follow Dask or DBOS workers"
            )

    def remembered(self) -> dict[str, Any]:
        """The settings the journal keeps, for `--resume` to use again."""
        return {
            "concurrency": self.concurrency, "rpm": self.rpm, "tpm": self.tpm,
            "max_attempts": self.max_attempts, "field": self.field,
            "out": None if self.out is None else str(self.out),
            "executor": None if self.executor is None else self.executor.spec,
        }  # fmt: skip

    def rate_limiter(self) -> RateLimiter | None:
        """The given limiter, else one for `rpm`/`tpm`, else None."""
        if self.limiter is None and (self.rpm is not None or self.tpm is not None):
            return RateLimiter(rpm=self.rpm, tpm=self.tpm)
        return self.limiter


def _budget(budget: Decimal | float | str | None) -> Decimal | None:
    if budget is None:
        return None
    try:
        dollars = Decimal(str(budget))
    except InvalidOperation:
        raise ConfigurationError(f"budget {budget!r} is not a number of US dollars") from None
    if not dollars.is_finite() or dollars <= 0:
        raise ConfigurationError(f"budget {budget!r}: give a positive number of US dollars")
    return dollars
