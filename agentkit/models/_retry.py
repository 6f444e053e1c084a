"""Layer 3 (model boundary): when and how long to wait before repeating a failed request.

Retried: 408, 409, 429, 500, 502, 503, 504, 529 (overloaded), connection errors and timeouts
(a stream that ended before anything reached the caller is a connection error). Never retried:
other statuses (400, 401, 403, 404, 422...) and a 429 whose code is `insufficient_quota`
(waiting does not buy quota). The wait grows exponentially with jitter; a server's
`Retry-After` / `retry-after-ms` is honoured up to `max_retry_after` seconds.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio

from agentkit._exceptions import (
    ConfigurationError,
    ContextWindowExceeded,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
)

if TYPE_CHECKING:  # tenacity is imported on first use: it costs ~50 ms of `import agentkit`
    from tenacity import AsyncRetrying, RetryCallState

__all__ = ["RETRYABLE_STATUS_CODES", "RetryPolicy"]


RETRYABLE_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
logger = logging.getLogger("agentkit")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How a model client retries failed requests.

    The wait before retry `k` (1-based) is `min(max_delay, initial_delay * 2**(k-1))`, less a
    random part of up to `jitter` of it, unless the server said how long to wait.
    """

    max_retries: int = 2
    """Retries after the first attempt (0 turns retrying off)."""
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    """The longest server-requested wait honoured; longer requests wait this long."""
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep, repr=False)
    """How to wait; tests inject a recorder so they never really sleep."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter must be between 0 and 1")

    def is_retryable(self, error: BaseException) -> bool:
        """Whether `error` is worth another attempt."""
        if isinstance(error, ModelTimeoutError | ModelConnectionError):
            return True
        if isinstance(error, RateLimitError) and error.code == "insufficient_quota":
            return False
        if isinstance(error, ContextWindowExceeded):  # llama.cpp says so with a 500
            return False
        return isinstance(error, ModelHTTPError) and error.status_code in RETRYABLE_STATUS_CODES

    def delay(self, retry_number: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number `retry_number` (1-based) after `error`."""
        requested = getattr(error, "retry_after", None)
        if requested is not None:
            return float(min(requested, self.max_retry_after))
        base = min(self.max_delay, self.initial_delay * 2.0 ** (retry_number - 1))
        return float(base * (1 - self.jitter * random.random()))

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        on_retry: Callable[[int, BaseException, float], Awaitable[None]] | None = None,
    ) -> T:
        """Await `send()`, repeating it per this policy; the last error propagates.

        `on_retry(failed, error, waited)` is awaited before each retry is sent, with the number
        of the attempt that failed (the request's `ModelRequest.on_retry`): a run's observer
        and a rate limit hear of it there.

        Attempt 1 runs bare: most requests succeed, and tenacity's controller (a dozen objects
        per request) is only built once an attempt has failed in a way worth retrying. It
        then takes over from attempt 2, with attempt 1's error recorded as its first outcome.
        """
        try:
            return await send()
        except Exception as error:
            if not (self.max_retries and self.is_retryable(error)):
                raise
            last_error: BaseException = error
        async for attempt in self.retrying():
            with attempt:
                number = attempt.retry_state.attempt_number
                if number == 1:
                    raise last_error  # attempt 1 already ran above: tenacity only records it
                if on_retry is not None:
                    await on_retry(number - 1, last_error, self.delay(number - 1, last_error))
                try:
                    return await send()
                except Exception as error:
                    last_error = error
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def retrying(self) -> AsyncRetrying:
        """A tenacity controller that applies this policy: `async for attempt in ...`."""
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception(self.is_retryable),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number, error)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.info(
        "retrying request (attempt %d failed: %s); waiting %.2fs",
        state.attempt_number,
        error,
        wait,
    )
