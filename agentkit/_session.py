"""Layer 1 (conversation data): conversations that persist, in a SQLite file.

```python
from agentkit import Agent, SQLiteSession

session = SQLiteSession(session_id="support-42")  # the default store, or SQLiteSession(path, id)
await agent.run("My order is late.", session=session)
await agent.run("It was order 1234.", session=session)  # tomorrow, in another process
```

Each run's new messages are one row, in the JSON form of `messages_to_json`, written in one
transaction when the run ends (a run that raised writes what it had, marked partial). A run
holds its session: a second run on the same session, in this process or another, waits for
it (up to `wait` seconds) and then sees its messages; it never interleaves with it.

Where the default store lives: `$AGENTKIT_DATA_DIR/sessions.sqlite3` if that variable is set;
else the platform's place for user data (`$XDG_DATA_HOME` or `~/.local/share` on Linux,
`~/Library/Application Support` on macOS, `%APPDATA%` on Windows) under `agentkit/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ._exceptions import AgentkitError, ConfigurationError
from ._messages import (
    Message,
    Usage,
    messages_from_json,
    messages_to_json,
)
from ._private import data_dir, private_file
from ._session_store import (
    BLOB,
    BLOB_AT,
    SCHEMA,
    SESSION_FORMAT,
    alive,
    first_prompt,
    media_parts,
    transaction,
)

__all__ = [
    "SESSION_FORMAT",
    "SQLiteSession",
    "SessionBusy",
    "SessionInfo",
    "SessionStoreError",
    "default_store",
]

_POLL = 0.05


class SessionBusy(AgentkitError):
    """Another run holds the session, and did not let go in time."""


class SessionStoreError(AgentkitError):
    """The session store cannot be used: damaged, or not a session store at all."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One stored conversation, as `SQLiteSession.list()` shows it."""

    id: str
    messages: int
    runs: int
    created: float
    updated: float
    partial: bool
    """Its last run raised: what it had was kept, marked partial."""
    first_prompt: str = ""
    """The first thing the user said in it (cut to 80 characters), to tell it apart."""


def default_store() -> Path:
    """Where sessions live unless told otherwise (see the module docs)."""
    return data_dir() / "sessions.sqlite3"


class Recording:
    """A run's view of its stored conversation (see `SQLiteSession.recording`)."""

    def __init__(self, history: list[Message], memo: dict[str, Any] | None = None) -> None:
        self.history = history
        """The conversation before the run."""
        self.memo: dict[str, Any] = dict(memo or {})
        """What history processors keep with the conversation (a compaction's summary and
        how far it reaches), read before the run and stored after it when changed."""
        self.messages: list[Message] = []
        """Filled by the run: the history, then what the run adds."""
        self.complete = True
        """Whether the run finished; False stores its messages marked partial."""
        self.usage: Usage | None = None
        """What the run spent (tokens, cost), stored with its messages when set."""


class SQLiteSession:
    """One conversation in a SQLite store, continued by every run given it."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        session_id: str = "default",
        *,
        wait: float = 60.0,
    ) -> None:
        """Name a conversation; the file and the session are made at first use.

        Args:
            path: The store (a SQLite file); default: `default_store()`.
            session_id: Which conversation in it.
            wait: Seconds a run waits for another run on this session to end.
        """
        if not session_id or len(session_id) > 200:
            raise ConfigurationError("session_id: give 1 to 200 characters")
        self.path: Path = Path(path) if path is not None else default_store()
        self.session_id = session_id
        self.wait = wait

    def __repr__(self) -> str:
        return f"SQLiteSession({str(self.path)!r}, {self.session_id!r})"

    # -- reading ------------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Every message of the conversation so far, in order."""
        with self._db() as db:
            rows = db.execute(
                "SELECT messages FROM runs WHERE session = ? ORDER BY seq", (self.session_id,)
            ).fetchall()
            return [m for (text,) in rows for m in self._read(db, text)]

    def _read(self, db: sqlite3.Connection, text: str) -> list[Message]:
        if BLOB not in text:
            return messages_from_json(text)
        data = json.loads(text)
        for part in media_parts(data):
            sha = str(part["data"])[len(BLOB) :]
            row = db.execute(
                "SELECT data FROM blobs WHERE session = ? AND sha256 = ?", (self.session_id, sha)
            ).fetchone()
            if row is None:
                raise SessionStoreError(
                    f"session {self.session_id!r} names an attachment its store does not hold "
                    f"(sha256 {sha[:12]}...): the store is damaged"
                )
            part["data"] = row[0]
        return messages_from_json(json.dumps(data))

    @classmethod
    def list(cls, path: str | os.PathLike[str] | None = None) -> list[SessionInfo]:
        """The conversations of a store, the most recently used first."""
        store = cls(path)
        if not store.path.exists():
            return []
        with store._db() as db:
            rows = db.execute(
                "SELECT s.id, s.created, s.updated, COUNT(r.seq), "
                "COALESCE(SUM(json_array_length(r.messages)), 0), "
                "COALESCE((SELECT partial FROM runs WHERE session = s.id "
                "ORDER BY seq DESC LIMIT 1), 0), "
                "(SELECT messages FROM runs WHERE session = s.id ORDER BY seq LIMIT 1) "
                "FROM sessions s LEFT JOIN runs r ON r.session = s.id "
                "GROUP BY s.id ORDER BY s.updated DESC"
            ).fetchall()
        return [
            SessionInfo(id=r[0], created=r[1], updated=r[2], runs=r[3], messages=r[4],
                        partial=bool(r[5]), first_prompt=first_prompt(r[6]))
            for r in rows
        ]  # fmt: skip

    # -- writing ------------------------------------------------------------------------

    def append(
        self,
        messages: Sequence[Message],
        *,
        partial: bool = False,
        usage: Usage | None = None,
        key: str | None = None,
    ) -> None:
        """Add one run's messages and what it spent, in one transaction.

        Nothing is added when there are no messages. With `key` (a durable run's id), the
        messages are added once: appending again under the same key does nothing.
        """
        if not messages:
            return
        text = messages_to_json(messages).decode()
        with self._db() as db, transaction(db):
            self._ensure(db)
            if (
                key is not None
                and db.execute(
                    "SELECT 1 FROM appended WHERE session = ? AND key = ?", (self.session_id, key)
                ).fetchone()
            ):
                return
            text = self._held_apart(db, text)
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM runs WHERE session = ?", (self.session_id,)
            ).fetchone()
            if key is not None:
                db.execute(
                    "INSERT INTO appended (session, key, seq) VALUES (?, ?, ?)",
                    (self.session_id, key, last + 1),
                )
            db.execute(
                "INSERT INTO runs (session, seq, messages, partial, at) VALUES (?, ?, ?, ?, ?)",
                (self.session_id, last + 1, text, int(partial), time.time()),
            )
            if usage is not None:
                db.execute(
                    "INSERT INTO run_usage (session, seq, usage) VALUES (?, ?, ?)",
                    (self.session_id, last + 1, usage.model_dump_json()),
                )
            db.execute(
                "UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), self.session_id)
            )

    def _held_apart(self, db: sqlite3.Connection, text: str) -> str:
        """`text` with each large attachment stored once, by its hash, beside the messages."""
        if len(text) < BLOB_AT:
            return text
        data = json.loads(text)
        held = False
        for part in media_parts(data, BLOB_AT):
            sha = hashlib.sha256(part["data"].encode("ascii")).hexdigest()
            db.execute(
                "INSERT OR IGNORE INTO blobs (session, sha256, data) VALUES (?, ?, ?)",
                (self.session_id, sha, part["data"]),
            )
            part["data"], held = BLOB + sha, True
        return json.dumps(data) if held else text

    def clear(self) -> None:
        """Forget the conversation's messages (the session stays, empty)."""
        with self._db() as db, transaction(db):
            db.execute("DELETE FROM runs WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM compactions WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM blobs WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM run_usage WHERE session = ?", (self.session_id,))

    def delete(self) -> bool:
        """Remove the conversation; whether there was one."""
        if not self.path.exists():
            return False
        with self._db() as db, transaction(db):
            db.execute("DELETE FROM runs WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM compactions WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM blobs WHERE session = ?", (self.session_id,))
            db.execute("DELETE FROM run_usage WHERE session = ?", (self.session_id,))
            gone = db.execute("DELETE FROM sessions WHERE id = ?", (self.session_id,))
            return gone.rowcount > 0

    @contextlib.asynccontextmanager
    async def recording(self) -> AsyncIterator[Recording]:
        """One run on this conversation: held, its history loaded, its messages appended.

        The run adds its messages to `recording.messages` (which starts as the history);
        when the block ends they are appended in one transaction, marked partial when the
        block raised or `recording.complete` was set to False.
        """
        async with self.hold():
            loaded = self.compaction()
            record = Recording(self.messages(), loaded)
            try:
                yield record
            except BaseException:
                record.complete = False
                raise
            finally:
                self.append(
                    record.messages[len(record.history) :],
                    partial=not record.complete,
                    usage=record.usage,
                )
                if record.memo and record.memo != loaded:
                    self._save_compaction(record.memo)

    def usage(self) -> Usage:
        """What every run of the conversation spent, summed (tokens, and cost where known)."""
        if not self.path.exists():
            return Usage()
        with self._db() as db:
            rows = db.execute(
                "SELECT usage FROM run_usage WHERE session = ? ORDER BY seq", (self.session_id,)
            ).fetchall()
        total = Usage()
        for (text,) in rows:
            try:
                total = total + Usage.model_validate_json(text)
            except ValueError:
                continue  # a damaged row: counted as nothing rather than failing the read
        return total

    def compaction(self) -> dict[str, Any] | None:
        """The stored compaction of this conversation, or None.

        `covered` messages summarised in `summary` (and `anchor`, the last one covered).
        """
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(
                "SELECT memo FROM compactions WHERE session = ?", (self.session_id,)
            ).fetchone()
        if row is None:
            return None
        try:
            memo = json.loads(row[0])
        except ValueError:
            return None  # a damaged row: compact again rather than trust it
        return memo if isinstance(memo, dict) else None

    def _save_compaction(self, memo: dict[str, Any]) -> None:
        with self._db() as db, transaction(db):
            self._ensure(db)
            db.execute(
                "INSERT INTO compactions (session, memo, at) VALUES (?, ?, ?) ON CONFLICT "
                "(session) DO UPDATE SET memo = excluded.memo, at = excluded.at",
                (self.session_id, json.dumps(memo), time.time()),
            )

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the session for one run: another run on it waits until this one ends.

        Raises:
            SessionBusy: Another run held it for longer than `wait` seconds.
        """
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait
        while not self._take(token):
            if time.monotonic() > deadline:
                raise SessionBusy(
                    f"session {self.session_id!r} in {self.path} is held by another run "
                    f"for more than {self.wait:g} s; try again when it has ended"
                )
            await anyio.sleep(_POLL)
        try:
            yield
        finally:
            with self._db() as db, transaction(db):  # no await: cancellation cannot stop it
                db.execute(
                    "UPDATE sessions SET holder = NULL, held_by_pid = NULL "
                    "WHERE id = ? AND holder = ?",
                    (self.session_id, token),
                )

    # -- internals ----------------------------------------------------------------------

    def _take(self, token: str) -> bool:
        with self._db() as db, transaction(db):
            self._ensure(db)
            holder, pid = db.execute(
                "SELECT holder, held_by_pid FROM sessions WHERE id = ?", (self.session_id,)
            ).fetchone()
            if holder is not None and alive(pid):
                return False
            db.execute(
                "UPDATE sessions SET holder = ?, held_by_pid = ?, held_since = ? WHERE id = ?",
                (token, os.getpid(), time.time(), self.session_id),
            )
            return True

    def _ensure(self, db: sqlite3.Connection) -> None:
        now = time.time()
        db.execute(
            "INSERT OR IGNORE INTO sessions (id, created, updated) VALUES (?, ?, ?)",
            (self.session_id, now, now),
        )

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._opened() as db:
                yield db
        except sqlite3.OperationalError as error:
            raise SessionStoreError(f"cannot use the session store {self.path}: {error}") from None
        except sqlite3.DatabaseError as error:
            raise SessionStoreError(
                f"the session store {self.path} is damaged ({error}); its conversations "
                "cannot be read. Run without it (--no-session, or no session=), or move the "
                "file away to start a new store"
            ) from None

    @contextlib.contextmanager
    def _opened(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(private_file(self.path), timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.executescript(SCHEMA)
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None:
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(SESSION_FORMAT),)
                )
            elif int(found[0]) > SESSION_FORMAT:
                raise AgentkitError(
                    f"{self.path} was written by a newer agentkit (format {found[0]}, this "
                    f"one reads up to {SESSION_FORMAT}); upgrade agentkit to use it"
                )
            yield db
        finally:
            db.close()
