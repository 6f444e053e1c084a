"""Layer 3 (model boundary): a response cache on SQLite, opt-in, in front of any model.

```python
from agentkit import Agent, ResponseCache

cache = ResponseCache("answers.sqlite3")
agent = Agent(cache.wrap("openai:gpt-4.1"))     # or cache.wrap(any_model)
```

The key is a SHA-256 of what decides the answer: the model's name, its endpoint (the whole
URL with its query, the headers that are not secrets, the profile), the messages, the tool
definitions and the settings (never the key or another secret). A hit skips the network:
`complete()` returns the stored completion, `stream()` replays it as the same deltas. Only
complete answers are stored: not errors, refusals, `content_filter` or `length` endings, or
empty answers; and, unless `cache_random=True`, not answers to requests that ask for several
samples (`n > 1`) without a `seed`: those want different answers. A damaged file or row is
a miss (said once in the log), never a failed run.
Entries expire after `ttl` seconds; past `max_entries`, the least recently used go.
A hit's usage is `Usage(cache_hits=1)` (no request, no tokens); a miss adds `cache_misses=1`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from agentkit._exceptions import ConfigurationError
from agentkit._messages import Completion, Usage, messages_to_json
from agentkit._private import private_file
from agentkit._tool import ToolDefinition

from ._base import (
    Model,
    ModelInfo,
    ModelRequest,
    ModelSettings,
    ResponseCompleted,
    StreamDelta,
    completion_deltas,
    model_info,
)

if TYPE_CHECKING:
    from ._fallback import FallbackModel

__all__ = ["CachedModel", "ResponseCache", "complete"]
logger = logging.getLogger("agentkit")
_BUSY_SECONDS = 0.02
_DIGESTS_KEPT = 100_000
"""Messages whose digests are remembered (a long conversation hashes only its new ones)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL, used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_used ON answers (used);
"""


class ResponseCache:
    """Model answers stored in a SQLite file, reused for identical requests."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | None = 30 * 86400,
        max_entries: int = 100_000,
        cache_random: bool = False,
    ) -> None:
        """Open (or make) the cache file.

        Args:
            path: The SQLite file.
            ttl: Seconds an answer stays valid (None: forever).
            max_entries: Answers kept at most; the least recently used go first.
            cache_random: Also store answers of `n > 1` requests without a `seed`.
        """
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self.path: Path = Path(path)
        self.ttl: float | None = ttl
        self.max_entries: int = max_entries
        self.cache_random: bool = cache_random
        self.hits = 0
        self.misses = 0
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._reported = False
        self._digests: dict[int, tuple[Any, bytes]] = {}
        self._identity: tuple[Any, Any, bytes] = (None, None, b"")
        self._touched: set[str] = set()
        """Keys whose `used` time this process already wrote (once per process is enough)."""

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    @overload
    def wrap(self, model: FallbackModel) -> FallbackModel: ...  # type: ignore[overload-overlap]
    @overload
    def wrap(self, model: Model | str) -> CachedModel: ...
    def wrap(self, model: Model | str) -> CachedModel | FallbackModel:
        """`model` (a `Model` or a model string) answering from this cache first.

        A `FallbackModel` comes back as the same chain with each of its models cached, so an
        answer is keyed by the model that gave it.
        """
        from ._fallback import FallbackModel
        from ._infer import infer_model

        if isinstance(model, str):
            model = infer_model(model)
        if isinstance(model, FallbackModel):
            return model.map_models(lambda each: CachedModel(each, self))
        return CachedModel(model, self)

    def key(self, model: Model, request: ModelRequest) -> str | None:
        """The request's key, or None when its answer must not be stored (see the rule)."""
        settings = request.settings
        if (settings.n or 1) > 1 and settings.seed is None and not self.cache_random:
            return None
        # Who answers and how, then every tool definition and message, each by its digest.
        digest = hashlib.sha256(self._identity_digest(model, settings))
        remembered, parts = self._digests, []
        for part in (*request.tools, *request.messages):  # each serialized once, remembered
            found = remembered.get(id(part))
            parts.append(found[1] if found is not None and found[0] is part else self._digest(part))
        digest.update(b"".join(parts))
        return digest.hexdigest()

    def _identity_digest(self, model: Model, settings: ModelSettings) -> bytes:
        """The digest of who answers and how: the model, its endpoint, the settings.

        A run sends one model and one settings object request after request: the last
        pair's digest is kept, by the identity of the model's `info` (remade when the model
        is changed) and of the settings (an immutable record).
        """
        info = model_info(model)
        last_info, last_settings, found = self._identity
        if info is last_info and settings is last_settings:
            return found
        # A model that knows more of its endpoint (ChatModel: URL with query, headers that
        # are not secrets, profile) says so; other models are known by their name.
        identity = {
            "model": info.name,
            "endpoint": info.endpoint if info.endpoint is not None else (info.base_url or ""),
            "settings": settings.model_dump(mode="json", exclude_defaults=True),
        }
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
        found = hashlib.sha256(text.encode()).digest()
        self._identity = (info, settings, found)
        return found

    def _digest(self, part: Any) -> bytes:
        """A tool definition's or a message's own digest, remembered by identity."""
        if len(self._digests) >= _DIGESTS_KEPT:
            self._digests.clear()
        if isinstance(part, ToolDefinition):
            text = json.dumps(dataclasses.asdict(part), sort_keys=True, default=str).encode()
            made = hashlib.sha256(b"tool:" + text).digest()
        else:
            made = hashlib.sha256(messages_to_json([part])).digest()
        self._digests[id(part)] = (part, made)
        return made

    def get(self, key: str) -> Completion | None:
        """The stored answer for `key`, if there is a fresh one (a damaged one is a miss)."""
        try:
            return self._get(key)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                self._damaged(error)
            return None  # another process is writing: ask the model, do not wait for it
        except (sqlite3.DatabaseError, ValueError) as error:
            self._damaged(error)
            return None

    def _get(self, key: str) -> Completion | None:
        now = time.time()
        with self._db() as db:
            row = db.execute("SELECT completion, created FROM answers WHERE key = ?", (key,))
            found = row.fetchone()
            if found is None:
                return None
            if self.ttl is not None and now - found[1] > self.ttl:
                db.execute("DELETE FROM answers WHERE key = ?", (key,))
                return None
            if key not in self._touched:  # recency to the process: a write per hit costs more
                self._touched.add(key)
                db.execute("UPDATE answers SET used = ? WHERE key = ?", (now, key))
        return Completion.model_validate_json(found[0])

    def put(self, key: str, completion: Completion) -> None:
        """Store a complete answer (and let the least recently used go past `max_entries`)."""
        if not complete(completion):
            return
        try:
            self._put(key, completion)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                self._damaged(error)
        except sqlite3.DatabaseError as error:
            self._damaged(error)

    def _damaged(self, error: Exception) -> None:
        if not self._reported:
            self._reported = True
            logger.warning(
                "response cache %s is damaged (%s); its answers count as misses: delete the "
                "file to start it again",
                self.path,
                type(error).__name__,
            )

    def _put(self, key: str, completion: Completion) -> None:
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                (key, completion.model_dump_json(), now, now),
            )
            (count,) = db.execute("SELECT COUNT(*) FROM answers").fetchone()
            if count > self.max_entries:
                db.execute(
                    "DELETE FROM answers WHERE key IN "
                    "(SELECT key FROM answers ORDER BY used LIMIT ?)",
                    (count - self.max_entries,),
                )

    def close(self) -> None:
        """Close the file (the next use opens it again)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The cache's one connection, in one transaction; opened (and set up) once."""
        with self._lock:
            if self._connection is None:
                # A short busy wait: the cache is read on the event loop, and every run of the
                # process would stall while another process holds the file; a locked file is
                # a miss instead (the answer is asked again), never a wait of seconds.
                db = sqlite3.connect(
                    private_file(self.path), timeout=_BUSY_SECONDS, check_same_thread=False
                )
                db.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
                db.execute("PRAGMA synchronous = NORMAL")  # a lost answer is asked again
                db.executescript(_SCHEMA)
                self._connection = db
            with self._connection as db:  # one transaction
                yield db

    def __del__(self) -> None:
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()


def complete(completion: Completion) -> bool:
    """Whether an answer is whole and worth giving again: no refusal, no filter, not cut."""
    for choice in completion.choices:
        message = choice.message
        if choice.finish_reason in ("length", "content_filter") or message.refusal:
            return False
        if not message.content and not message.tool_calls:
            return False
    return bool(completion.choices)


class CachedModel:
    """A `Model` that answers from a `ResponseCache` first (made by `ResponseCache.wrap`)."""

    def __init__(self, model: Model, cache: ResponseCache) -> None:
        self.inner: Model = model
        self.cache: ResponseCache = cache

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's."""
        return model_info(self.inner)

    def __repr__(self) -> str:
        return f"CachedModel({self.inner!r}, {self.cache!r})"

    async def complete(self, request: ModelRequest) -> Completion:
        """The stored answer, or the model's (then stored)."""
        key = self.cache.key(self.inner, request)
        found = self.cache.get(key) if key is not None else None
        if found is not None:
            self.cache.hits += 1
            return found.model_copy(update={"usage": Usage(cache_hits=1)})
        completion = await self.inner.complete(request)
        return self._stored(key, completion)

    @asynccontextmanager
    async def stream(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[StreamDelta]]:
        """The stored answer replayed as deltas, or the model's stream (stored at its end)."""
        key = self.cache.key(self.inner, request)
        found = self.cache.get(key) if key is not None else None
        if found is not None:
            self.cache.hits += 1
            yield _replay(found.model_copy(update={"usage": Usage(cache_hits=1)}))
            return
        async with self.inner.stream(request) as deltas:
            yield self._passing(key, deltas)

    async def aclose(self) -> None:
        """Close the model behind the cache."""
        await self.inner.aclose()

    async def _passing(
        self, key: str | None, deltas: AsyncIterator[StreamDelta]
    ) -> AsyncIterator[StreamDelta]:
        async for delta in deltas:
            if isinstance(delta, ResponseCompleted):
                delta = ResponseCompleted(self._stored(key, delta.completion))
            yield delta

    def _stored(self, key: str | None, completion: Completion) -> Completion:
        self.cache.misses += 1
        if key is not None:
            self.cache.put(key, completion)
        return completion.model_copy(update={"usage": completion.usage + Usage(cache_misses=1)})


async def _replay(completion: Completion) -> AsyncIterator[StreamDelta]:
    for delta in completion_deltas(completion):
        yield delta
