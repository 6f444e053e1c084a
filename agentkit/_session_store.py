"""Layer 1 (conversation data): the session store's format, below `SQLiteSession`.

The schema and its version, how large attachments are held apart by hash, and the row-level
helpers the session's methods share (a write transaction, the media parts of stored
messages, a run's first prompt, whether a holder's process still runs).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from ._messages import TextPart, UserMessage, messages_from_json

__all__ = [
    "BLOB",
    "BLOB_AT",
    "SCHEMA",
    "SESSION_FORMAT",
    "alive",
    "first_prompt",
    "media_parts",
    "transaction",
]

SESSION_FORMAT = 1
"""The store's format version; a later agentkit reads every earlier one."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,
    holder TEXT, held_by_pid INTEGER, held_since REAL
);
CREATE TABLE IF NOT EXISTS runs (
    session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, messages TEXT NOT NULL, partial INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL, PRIMARY KEY (session, seq)
);
CREATE TABLE IF NOT EXISTS blobs (
    session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session, sha256)
);
CREATE TABLE IF NOT EXISTS run_usage (
    session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, usage TEXT NOT NULL, PRIMARY KEY (session, seq)
);
CREATE TABLE IF NOT EXISTS appended (
    session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (session, key)
);
CREATE TABLE IF NOT EXISTS compactions (
    session TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    memo TEXT NOT NULL, at REAL NOT NULL
);
"""
BLOB = "blob:sha256:"
"""Where a stored message holds an attachment by hash (never valid base64: it has colons)."""
BLOB_AT = 64 * 1024
"""Attachments with this much base64 or more are stored once per session, by hash."""


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")  # the write lock first: two writers never interleave
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def media_parts(messages: Any, at: int = 0) -> list[dict[str, Any]]:
    """The image, document and audio parts of stored messages, by their data.

    With `at`, those whose base64 is that long or more; without, those held apart by hash.
    """
    found = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        parts = [*(content if isinstance(content, list) else []), *message.get("parts", [])]
        for part in parts:
            data = part.get("data") if isinstance(part, dict) else None
            if not isinstance(data, str) or part.get("type") not in KINDS:
                continue
            if (at and len(data) >= at) or (not at and data.startswith(BLOB)):
                found.append(part)
    return found


KINDS = frozenset({"image", "document", "audio"})


def first_prompt(text: str | None) -> str:
    """The first user message's text in a run's stored messages (empty when there is none)."""
    if not text:
        return ""
    try:
        messages = messages_from_json(text)
    except ValueError:
        return ""
    for message in messages:
        if isinstance(message, UserMessage):
            content = message.content
            said = (
                content
                if isinstance(content, str)
                else " ".join(part.text for part in content if isinstance(part, TextPart))
            )
            said = " ".join(said.split())
            return said if len(said) <= 80 else said[:79] + "…"
    return ""


def alive(pid: int | None) -> bool:
    """Whether the process that holds a session still runs (a crashed one lets go)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
