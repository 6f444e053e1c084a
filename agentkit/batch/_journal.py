"""The batch journal: one SQLite file (WAL) holding every item's state, result and usage.

Only the driver writes it, one transaction per finished item, so a crash loses at most the
items that were in flight. The output file is exported from it: each id once, in input order.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from agentkit._exceptions import AgentkitError
from agentkit._private import private_file, private_folder

__all__ = ["Item", "Journal", "JournalDamaged", "JournalError", "JournalMismatch", "move_aside"]

logger = logging.getLogger("agentkit")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    position INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    input TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    usage TEXT,
    updated REAL
);
CREATE INDEX IF NOT EXISTS items_state ON items (state);
"""


def _dollars(value: Any) -> Decimal | None:
    """A cost the journal holds (written as a string), or None when it is not one."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


class JournalError(AgentkitError):
    """A batch journal cannot be used as asked; the message says why and what to do."""


class JournalMismatch(JournalError):
    """The journal was made by a different job (task, model, instructions or schema)."""


class JournalDamaged(JournalError):
    """The journal file is empty, truncated or corrupt: its progress cannot be trusted."""


_WAY_ON = (
    "To start over, run again with --restart (it moves the file aside first), or restore "
    "the journal from a backup"
)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@contextlib.contextmanager
def _beside(target: Path) -> Iterator[IO[str]]:
    """A new file beside `target` (600, a fresh name, never a link), renamed over it at last.

    Removed when writing fails.
    """
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    out = os.fdopen(os.open(temporary, flags, 0o600), "w", encoding="utf-8")
    try:
        with out:
            yield out
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _hold_lock(path: Path) -> IO[bytes]:
    lock = _lock_path(path)
    private_folder(lock.parent)
    for _ in range(3):  # the holder removes the file when it ends: then take the new one
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | _NOFOLLOW, 0o600)
        except OSError as error:
            raise JournalError(f"cannot make the lock file {lock} ({error.strerror})") from None
        handle = os.fdopen(descriptor, "wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise JournalError(
                f"another run is using {path} right now; wait for it to end, or use another journal"
            ) from None
        if _same_file(handle, lock):  # still the lock file, not one removed meanwhile
            return handle
        handle.close()
    raise JournalError(f"cannot hold {lock}: it keeps being replaced; try again")


def _same_file(handle: IO[bytes], path: Path) -> bool:
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def move_aside(path: Path) -> Path | None:
    """Rename a journal (and its WAL files) to `NAME.<time>.old`; return the new name."""
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.old")
    for suffix in ("", "-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside


@dataclass(frozen=True, slots=True)
class Item:
    """One input record waiting to be processed."""

    position: int
    id: str
    record: Any
    attempts: int


class Journal:
    """The job's state on disk."""

    def __init__(
        self, path: str | Path, fingerprint: str, *, resume: bool, exclusive: bool = True
    ) -> None:
        """Open (or create) the journal at `path`.

        With `exclusive` (a run), the journal's lock file `NAME.lock` is held until `close()`:
        a second run on the same journal is refused, and `batch status` can tell items left
        `running` by a stopped run from items a live run is working on.

        Raises:
            JournalMismatch: It belongs to another job, or exists and `resume` is false.
            JournalDamaged: It is empty or corrupt while `resume` asks to continue it.
        """
        self.path: Path = Path(path)
        self.changed: list[str] = []
        self._spent, self._costed = Decimal(0), 0
        """Ids of done items set to run again because their attachments changed."""
        self._lock: IO[bytes] | None = _hold_lock(self.path) if exclusive else None
        try:
            self._check_and_open(fingerprint, resume)
        except BaseException:
            self.close()
            raise
        # Running totals, read once: progress is shown twice a second, and a scan of a
        # million-row table each time would cost more than the work.
        try:
            self._counts = self._count_states()
            self._tokens = self._sum_tokens()
        except sqlite3.DatabaseError as error:  # a page damaged mid-file: found by reading
            self.close()
            raise JournalDamaged(
                f"{self.path} is damaged (SQLite says: {error}), so it cannot be continued "
                f"or trusted. Nothing was changed. {_WAY_ON}"
            ) from None

    def _check_and_open(self, fingerprint: str, resume: bool) -> None:
        size = self.path.stat().st_size if self.path.exists() else None
        if resume and size == 0:
            raise JournalDamaged(
                f"{self.path} is empty (0 bytes): it was truncated, and what it recorded is "
                f"lost. Nothing was started over. {_WAY_ON}"
            )
        try:
            self._open()
            stored = self._job("fingerprint")
        except sqlite3.DatabaseError as error:
            raise JournalDamaged(
                f"{self.path} is damaged (SQLite says: {error}), so it cannot be continued "
                f"or trusted. Nothing was changed. {_WAY_ON}"
            ) from None
        if size and stored is not None and not resume:
            raise JournalMismatch(
                f"{self.path} already holds a job; pass --resume to continue it, "
                "or choose another journal"
            )
        if stored is not None and stored != fingerprint:
            raise JournalMismatch(
                f"{self.path} was made by a different job (the task, model, instructions or "
                "output schema changed); use a new journal, or restore the original job"
            )
        if stored is None:
            self._set_job("fingerprint", fingerprint)
            self._set_job("created", str(time.time()))

    def _open(self) -> None:
        # One writer at a time, but possibly from a helper thread (the Dask driver waits there).
        self._db = sqlite3.connect(
            private_file(self.path), isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a committed item survives a crash of the process (not of the OS).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open_existing(cls, path: str | Path) -> Journal:
        """Open a journal to inspect or export it, whatever job made it.

        Raises:
            FileNotFoundError: There is no journal at `path`.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such journal")
        expected = "give the journal a `batch run` wrote (by default INPUT.journal)"
        try:
            with closing(sqlite3.connect(path)) as db:
                row = db.execute("SELECT value FROM job WHERE key = 'fingerprint'").fetchone()
        except sqlite3.DatabaseError:
            raise JournalError(f"{path} is not an agentkit batch journal; {expected}") from None
        if row is None:
            raise JournalError(f"{path} is not an agentkit batch journal; {expected}")
        return cls(path, str(row[0]), resume=True, exclusive=False)

    def close(self) -> None:
        """Close the database (and give up the run's lock)."""
        db: sqlite3.Connection | None = getattr(self, "_db", None)  # None if opening failed
        if db is not None:
            db.close()
        if self._lock is not None:
            # Removed while still held (flock): a run waiting to take it then finds it gone
            # and makes its own, so no finished batch leaves a `.journal.lock` behind.
            with contextlib.suppress(OSError):
                _lock_path(self.path).unlink()
            self._lock.close()
            self._lock = None

    def in_use(self) -> bool:
        """Whether a run (in any process) holds this journal right now."""
        if self._lock is not None:
            return True
        lock_path = _lock_path(self.path)
        if not lock_path.exists():
            return False
        with lock_path.open("rb") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        return False

    def remember(self, settings: dict[str, Any]) -> None:
        """Keep the settings a run used (rate limits, concurrency...), for `--resume`."""
        self._set_job("settings", json.dumps(settings, sort_keys=True))

    def remembered(self) -> dict[str, Any]:
        """The settings the last run kept (empty for a journal from before they were kept)."""
        stored = self._job("settings")
        try:
            found = json.loads(stored) if stored else {}
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def _job(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM job WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_job(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO job (key, value) VALUES (?, ?)", (key, value))

    # -- items --------------------------------------------------------------------------

    def add(self, rows: Iterable[tuple[int, str, Any, str | None]]) -> None:
        """Record input items not seen before: (position, id, record, error) per item.

        An item with an error (a malformed input line) is recorded as failed at once.
        """
        with self._transaction():
            for position, item_id, record, error in rows:
                state = "failed" if error is not None else "pending"
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO items (position, id, input, state, error, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (position, item_id, json.dumps(record), state, error, time.time()),
                )
                self._counts[state] += cursor.rowcount  # 0 when the item was already there
                if not cursor.rowcount and error is None and "attachments" in record:
                    self._again_if_changed(item_id, record)
        if self.changed:
            logger.warning(
                "%d items run again: their attachments changed since the journal read them",
                len(self.changed),
            )

    def _again_if_changed(self, item_id: str, record: dict[str, Any]) -> None:
        """A journalled item whose attachments' content changed is to be done again."""
        row = self._db.execute("SELECT input, state FROM items WHERE id = ?", (item_id,))
        stored, state = row.fetchone()
        before = json.loads(stored).get("attachments") if stored else None
        if before == record["attachments"]:
            return
        self._db.execute(
            "UPDATE items SET input = ?, state = 'pending', attempts = 0, result = NULL, "
            "error = NULL, usage = NULL, updated = ? WHERE id = ?",
            (json.dumps(record), time.time(), item_id),
        )
        self._counts[str(state)] -= 1
        self._counts["pending"] += 1
        self.changed.append(item_id)

    def to_do(self, max_attempts: int, page: int = 1000) -> Iterator[Item]:
        """Items not done: pending, left running by a crash, or failed with attempts left.

        Read `page` rows at a time, after the last position handed out: memory stays flat for
        millions of items, and items marked started meanwhile are not handed out again.
        """
        after = -1
        while True:
            rows = self._db.execute(
                "SELECT position, id, input, attempts FROM items WHERE position > ? AND "
                "(state IN ('pending', 'running') "
                "OR (state = 'failed' AND attempts < ? AND attempts > 0)) "
                "ORDER BY position LIMIT ?",
                (after, max_attempts, page),
            ).fetchall()
            for position, item_id, raw, attempts in rows:
                yield Item(position, item_id, json.loads(raw), attempts)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def started(self, item_id: str) -> None:
        """Mark an item as in flight (so a crash shows what may be repeated)."""
        self._move(item_id, "running")
        self._db.execute(
            "UPDATE items SET state = 'running', attempts = attempts + 1, updated = ? WHERE id = ?",
            (time.time(), item_id),
        )

    def done(self, item_id: str, result: Any, usage: dict[str, Any] | None) -> None:
        """Commit a finished item."""
        self._move(item_id, "done")
        self._tokens += int((usage or {}).get("total_tokens", 0))
        self._add_cost(usage)
        self._db.execute(
            "UPDATE items SET state = 'done', result = ?, error = NULL, usage = ?, updated = ? "
            "WHERE id = ?",
            (json.dumps(result), json.dumps(usage) if usage else None, time.time(), item_id),
        )

    def failed(self, item_id: str, error: str) -> None:
        """Commit a failed item with its error (it is retried on --resume while attempts last)."""
        self._move(item_id, "failed")
        self._db.execute(
            "UPDATE items SET state = 'failed', error = ?, updated = ? WHERE id = ?",
            (error, time.time(), item_id),
        )

    def requeue(self, item_id: str) -> None:
        """Put an item back without counting the attempt (it was rate limited)."""
        self._move(item_id, "pending")
        self._db.execute(
            "UPDATE items SET state = 'pending', attempts = attempts - 1, updated = ? WHERE id = ?",
            (time.time(), item_id),
        )

    def counts(self) -> dict[str, int]:
        """Items per state."""
        return dict(self._counts)

    def tokens(self) -> int:
        """Total tokens recorded so far."""
        return self._tokens

    def model_requests(self) -> dict[str, int]:
        """Requests per model that answered, over every item done.

        Several with a fallback chain; read from each item's usage, so a resumed batch
        counts its earlier runs too.
        """
        totals: dict[str, int] = {}
        for (raw,) in self._db.execute("SELECT usage FROM items WHERE usage IS NOT NULL"):
            models = json.loads(raw).get("models")
            for name, requests in models.items() if isinstance(models, dict) else ():
                if isinstance(requests, int):
                    totals[str(name)] = totals.get(str(name), 0) + requests
        return totals

    def _count_states(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
        counts.update({str(state): int(number) for state, number in rows})
        return counts

    def spent(self) -> tuple[Decimal | None, int]:
        """US dollars the done items cost (None when none is known), and how many have one."""
        return (self._spent if self._costed else None), self._costed

    def _add_cost(self, usage: dict[str, Any] | None) -> None:
        cost = _dollars((usage or {}).get("cost"))
        if cost is not None:
            self._spent += cost
            self._costed += 1

    def _sum_tokens(self) -> int:
        total = 0
        for (raw,) in self._db.execute("SELECT usage FROM items WHERE usage IS NOT NULL"):
            usage = json.loads(raw)
            total += int(usage.get("total_tokens", 0))
            self._add_cost(usage)
        return total

    def _move(self, item_id: str, state: str) -> None:
        row = self._db.execute("SELECT state FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is not None:
            self._counts[str(row[0])] -= 1
            self._counts[state] += 1

    def export(self, path: str | Path) -> int:
        """Write every item, in input order, once: `{"id", "result"}` or `{"id", "error"}`.

        `-` writes to standard output. A regular file (or a new one) appears whole or not at
        all: written beside it under a fresh name (never through a link there), then renamed
        over it. Anything else the user named (a device such as /dev/stdout, a pipe, a link
        they gave) is written to directly, never replaced.
        """
        if str(path) == "-":
            return self._write_rows(sys.stdout)
        target = Path(path)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            with target.open("w", encoding="utf-8") as out:
                return self._write_rows(out)
        with _beside(target) as out:
            return self._write_rows(out)

    def _write_rows(self, out: IO[str]) -> int:
        written = 0
        for item_id, state, result, error in self._db.execute(
            "SELECT id, state, result, error FROM items ORDER BY position"
        ):
            row: dict[str, Any] = {"id": item_id}
            if state == "done":
                row["result"] = json.loads(result)
            else:
                row["error"] = error or f"not processed ({state})"
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
        out.flush()
        return written

    class _Transaction:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN")

        def __exit__(self, kind: object, error: object, traceback: object) -> None:
            self.db.execute("COMMIT" if error is None else "ROLLBACK")

    def _transaction(self) -> Journal._Transaction:
        return Journal._Transaction(self._db)
