"""The retry policy: what is retried, and how long it waits."""

from __future__ import annotations

import pytest

from agentkit import (
    AuthenticationError,
    BadRequestError,
    ModelConnectionError,
    ModelHTTPError,
    ModelResponseError,
    ModelStreamError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    StreamInterrupted,
)


def http(cls: type[ModelHTTPError], status: int, **kwargs: object) -> ModelHTTPError:
    return cls("x", status_code=status, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        http(ModelHTTPError, 408),
        http(ModelHTTPError, 409),
        http(RateLimitError, 429),
        http(ServerError, 500),
        http(ServerError, 502),
        http(ServerError, 503),
        http(ServerError, 504),
        http(ServerError, 529),
        ModelConnectionError("reset"),
        ModelTimeoutError("slow"),
    ],
    ids=repr,
)
def test_retryable(error: Exception) -> None:
    assert RetryPolicy().is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        http(BadRequestError, 400),
        http(AuthenticationError, 401),
        http(PermissionDeniedError, 403),
        http(NotFoundError, 404),
        http(BadRequestError, 422),
        http(RateLimitError, 429, code="insufficient_quota"),
        http(ServerError, 501),
        StreamInterrupted("cut"),
        ModelStreamError("mid-stream"),
        ModelResponseError("garbage"),
        ValueError("not ours"),
    ],
    ids=repr,
)
def test_not_retryable(error: Exception) -> None:
    assert not RetryPolicy().is_retryable(error)


def test_exponential_backoff_with_jitter_within_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, jitter=0.25)
    for retry_number, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = {policy.delay(retry_number) for _ in range(50)}
        assert all(ceiling * 0.75 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # jittered


def test_no_jitter_is_exact() -> None:
    assert RetryPolicy(initial_delay=0.5, jitter=0).delay(3) == 2.0


def test_server_requested_wait_wins_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retry_after=30)
    assert policy.delay(1, http(RateLimitError, 429, retry_after=7.0)) == 7.0
    assert policy.delay(1, http(RateLimitError, 429, retry_after=3600.0)) == 30


@pytest.mark.parametrize(("field", "value"), [("max_retries", -1), ("jitter", 2)])
def test_bad_policy_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
