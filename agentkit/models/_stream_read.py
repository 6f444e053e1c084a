"""Layer 3 (model boundary): a streamed answer read: its events as deltas, breaks as errors.

Shared by both dialects (`ChatModel`, `ResponsesModel`): the bytes go through the SSE parser
to the dialect's accumulator; the answer's cost is read when it completes; the few bytes after
the end are drained briefly so the connection can be reused.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from pydantic_core import from_json

from agentkit._exceptions import (
    ModelConfigurationError,
    ModelConnectionError,
    ModelResponseError,
    ModelTimeoutError,
    StreamInterrupted,
)

from ._base import ResponseCompleted, StreamDelta
from ._chat_sse import SSEParser
from ._cost import priced
from ._endpoint import certificate_problem

__all__ = ["OpenStream", "next_deltas", "read_deltas", "transport_errors"]

_DRAIN_SECONDS = 0.1


@dataclass(slots=True)
class OpenStream:
    url: str
    response: httpx.Response
    chunks: AsyncGenerator[bytes]
    accumulator: Any
    """The dialect's: Chat Completions' chunks, or the Responses events."""
    parser: SSEParser = field(default_factory=SSEParser)
    pending: list[StreamDelta] = field(default_factory=list)
    done: bool = False

    async def aclose(self) -> None:
        # Close the byte iterator explicitly: left to the garbage collector, trio warns.
        await self.chunks.aclose()
        await self.response.aclose()


async def read_deltas(opened: OpenStream, who: tuple[str, str, str]) -> AsyncGenerator[StreamDelta]:
    for delta in opened.pending:
        yield _costed(delta, opened, who)
    while not opened.done:
        for delta in await next_deltas(opened, mid_stream=True):
            yield _costed(delta, opened, who)


def _costed(delta: StreamDelta, opened: OpenStream, who: tuple[str, str, str]) -> StreamDelta:
    if delta.kind != "response_completed":
        return delta
    provider, model, base_url = who
    completion = priced(delta.completion, provider, model, opened.response.headers, base_url)
    return delta if completion is delta.completion else ResponseCompleted(completion)


async def next_deltas(opened: OpenStream, *, mid_stream: bool) -> list[StreamDelta]:
    """Read until at least one delta is ready (or the stream is done)."""
    deltas: list[StreamDelta] = []
    while not deltas and not opened.done:
        with transport_errors(opened.url, mid_stream, opened.accumulator):
            chunk = await anext(opened.chunks, None)
        if chunk is None:
            opened.parser.close()
            if not mid_stream:  # nothing reached the caller: as retryable as a dropped stream
                raise ModelConnectionError(
                    f"the stream from {opened.url} ended before any event arrived"
                )
            raise StreamInterrupted(
                "the stream ended before [DONE]; the response is incomplete",
                received=opened.accumulator.completion(),
            )
        for event in opened.parser.feed(chunk):
            if event.data == "[DONE]":
                opened.done = True
                deltas.extend(opened.accumulator.finish())
                await _drain(opened)
                break
            deltas.extend(opened.accumulator.feed(_parse_event(event.data)))
            if opened.accumulator.done:  # a dialect that ends at an event, not at [DONE]
                opened.done = True
                await _drain(opened)
                break
    return deltas


async def _drain(opened: OpenStream) -> None:
    """Read the few bytes after [DONE], so the body ends and the connection is reused.

    Only briefly: a server that keeps the body open (keep-alive pings after [DONE]) would
    otherwise hold the run forever. Whatever is not read by then closes the connection.
    """
    with anyio.move_on_after(_DRAIN_SECONDS):
        try:
            async for _ in opened.chunks:
                pass
        except httpx.TransportError:  # the response is already complete; a late break is fine
            pass


class transport_errors:  # lower case: it reads like a function in `with` statements
    """Turn httpx's transport exceptions into agentkit's typed errors.

    Once a stream has handed deltas to the caller (`mid_stream`), any break is a
    `StreamInterrupted` carrying what arrived; before that, it is a retryable
    connection or timeout error.
    """

    def __init__(self, url: str, mid_stream: bool, accumulator: Any = None) -> None:
        self.url, self.mid_stream, self.accumulator = url, mid_stream, accumulator

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if error is None or not isinstance(error, httpx.TransportError):
            return
        if self.mid_stream and self.accumulator is not None:
            raise StreamInterrupted(
                f"the stream from {self.url} broke before [DONE] ({_describe(error)})",
                received=self.accumulator.completion(),
            ) from error
        if isinstance(error, httpx.TimeoutException):
            raise ModelTimeoutError(
                f"no answer from {self.url} in time ({_describe(error)})"
            ) from error
        if (problem := certificate_problem(error)) is not None:  # no retry will change that
            raise ModelConfigurationError(
                f"the TLS certificate of {self.url} did not verify: {problem} ({_describe(error)})"
            ) from error
        raise ModelConnectionError(
            f"connection to {self.url} failed ({_describe(error)})"
        ) from error


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _parse_event(data: str) -> Any:
    try:
        return from_json(data)
    except ValueError:
        raise ModelResponseError("a stream event is not valid JSON", body=data[:500]) from None
