"""A rate limiter for requests and tokens per minute, shared by every worker of a batch.

A sliding log: any window of `window` seconds holds at most `rpm` requests and `tpm` tokens.
Tokens are estimated before a request and corrected with the real usage after. A 429 pauses
everyone, not just the item that met it. For agents and extractions it is charged per model
request, retries included (`LimiterGate`); a plain function task is charged per item.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from agentkit._exceptions import ConfigurationError

__all__ = ["MAX_RATE_LIMIT_ROUNDS", "LimiterGate", "RateLimiter", "estimate_tokens", "limited_eta"]

_ANSWER_ESTIMATE = 256
MAX_RATE_LIMIT_ROUNDS = 5
"""Times an item may meet a 429 in one run before it is recorded as failed."""


class RateLimiter:
    """Requests-per-minute and tokens-per-minute budget.

    Args:
        rpm: Requests per window (None: unlimited).
        tpm: Tokens per window (None: unlimited).
        window: The window in seconds (60; shorter in tests).
        clock: Returns the current time in seconds.
        sleep: Waits; injectable so tests can run a scaled-down clock.
    """

    def __init__(
        self,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        window: float = 60.0,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise ConfigurationError(
                    f"{name} must be at least 1 (got {value}); use None for no limit"
                )
        self.rpm: int | None = rpm
        self.tpm: int | None = tpm
        self.window: float = window
        self._clock, self._sleep = clock, sleep
        self._log: deque[list[float]] = deque()  # [time, tokens] per request
        self._tokens = 0.0
        self._paused_until = 0.0
        self._lock = anyio.Lock()
        self.requests: int = 0
        """Requests admitted so far (for progress: how many an item takes)."""

    async def acquire(self, estimated_tokens: int = 0) -> list[float]:
        """Wait for budget; return a handle for `correct()`."""
        async with self._lock:  # first come, first served
            while True:
                now = self._clock()
                self._forget(now)
                wait = self._wait_time(now, estimated_tokens)
                if wait <= 0:
                    self.requests += 1
                    entry = [now, float(estimated_tokens)]
                    self._log.append(entry)
                    self._tokens += estimated_tokens
                    return entry
                await self._sleep(wait)

    def correct(self, entry: list[float], actual_tokens: int) -> None:
        """Replace a request's estimate with the tokens it really used."""
        if entry in self._log:
            self._tokens += actual_tokens - entry[1]
        entry[1] = float(actual_tokens)

    def pause(self, seconds: float) -> None:
        """Hold every worker back for `seconds` (after a 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.window:
            self._tokens -= self._log.popleft()[1]

    def _wait_time(self, now: float, tokens: int) -> float:
        waits = [self._paused_until - now]
        if self.rpm is not None and len(self._log) >= self.rpm:
            waits.append(self._log[0][0] + self.window - now)
        if self.tpm is not None and self._log and self._tokens + tokens > self.tpm:
            waits.append(self._log[0][0] + self.window - now)
        return max(waits)


class LimiterGate:
    """A `RateLimiter` as the gate every model request of a batch passes (see `_gate`).

    Each request, retries included, takes one request of the budget and an estimate of its
    tokens, corrected with the tokens it really used; a 429 pauses every worker.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def enter(self, payload_bytes: int) -> list[float]:
        return await self.limiter.acquire(payload_bytes // 4 + _ANSWER_ESTIMATE)

    def leave(self, ticket: list[float], tokens: int, retry_after: float | None) -> None:
        self.limiter.correct(ticket, tokens)
        if retry_after is not None:
            self.limiter.pause(retry_after)


def limited_eta(limiter: RateLimiter, remaining: int, done: int, tokens: int) -> float:
    """Seconds the rate limits alone need for `remaining` items, judged by the items done."""
    if not done:
        return 0.0
    seconds = 0.0
    if limiter.rpm is not None:
        seconds = max(seconds, remaining * limiter.requests / done * limiter.window / limiter.rpm)
    if limiter.tpm is not None:
        seconds = max(seconds, remaining * tokens / done * limiter.window / limiter.tpm)
    return seconds


def estimate_tokens(record: Any) -> int:
    """A rough token estimate before a request: a quarter of the characters, plus the answer."""
    return len(json.dumps(record)) // 4 + _ANSWER_ESTIMATE
