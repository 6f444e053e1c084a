"""Layer 3 (model boundary): a lean HTTP/1.1 transport for httpx, fast at high concurrency.

httpx's default transport (httpcore) spends more CPU per request than the request itself,
and its pool's connection assignment grows with the number of waiting requests: with hundreds
of concurrent agent runs it is the bottleneck (benchmarks/README.md). `PooledTransport` keeps
what makes it fast, a stack of idle connections per origin (O(1) in and out) on anyio byte
streams, so it runs on asyncio and trio alike, and leaves the framing of every response to a
maintained parser: llhttp (httptools, C) where installed, else h11 (`_framing`):

- interim `1xx` replies (`100 Continue`, `103 Early Hints`) are skipped; `101` is an error;
- a connection goes back to the pool only when the parser says its response was completely and
  correctly framed and both sides may go on (`Connection: close`, HTTP/1.0 and read-to-close
  bodies are closed); a broken or half-read response closes it;
- an idle connection that expired, or that the server closed or wrote to while it sat in the
  pool, is closed instead of reused.

Not handled (use your own `httpx.AsyncClient` for these): proxies, HTTP/2, `Expect:
100-continue`, request bodies of unknown length. `ChatModel` falls back to httpx's own
transport when proxy variables are set.
"""

from __future__ import annotations

import contextlib
import math
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import httpx

from ._framing import END, NEED_DATA, Framer, Head, ParserName, framer_for, parser_choice

__all__ = ["Origin", "PooledTransport", "origin_of"]

Origin = tuple[str, str, int]
"""Scheme, host and port: connections are pooled per origin."""


def origin_of(url: httpx.URL) -> Origin:
    """A URL's origin, with the scheme's default port when it names none."""
    return (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))


_READ_SIZE = 65536
_CLOSING_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
_MIN_IDLE = 64
"""Idle connections an origin may keep before its demand is known."""
MAX_IDLE_CEILING = 8192
"""The most idle connections kept per origin when the limit follows demand."""

_ONE_WRITE = 256 * 1024
"""Bodies up to this size go out with their head in one write; larger ones in slices of it
(the event loop buffers what a write cannot send at once: a whole body would be copied)."""


class PooledTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` speaking HTTP/1.1 with an O(1) pool.

    Args:
        max_idle_per_origin: Idle connections kept per scheme/host/port, at most; more are
            closed. By default the limit follows demand: as many as were ever busy at once
            for that origin (so 1,000 concurrent runs reuse 1,000 connections instead of
            closing and reopening the ones past a fixed limit), up to `MAX_IDLE_CEILING`.
        keepalive_expiry: Seconds an idle connection may wait to be reused.
        verify: Verify TLS certificates (default), or the `ssl.SSLContext` to use.
        parser: `"llhttp"` (httptools), `"h11"`, or None: `AGENTKIT_HTTP_PARSER`, else
            llhttp where httptools is installed, else h11.
    """

    def __init__(
        self,
        *,
        max_idle_per_origin: int | None = None,
        keepalive_expiry: float = 30.0,
        verify: bool | ssl.SSLContext = True,
        parser: ParserName | None = None,
    ) -> None:
        self.parser: ParserName = parser_choice(parser)
        self._max_idle = max_idle_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._busy: dict[Origin, int] = {}
        self._peak: dict[Origin, int] = {}
        self._closed = False
        self.opened = 0
        """Connections opened so far (for tests and benchmarks: reuse shows as few)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request over a pooled (or new) connection."""
        url = request.url
        response = await self.send(
            origin_of(url),
            request.method.encode(),
            url.raw_path,
            request.headers.raw,
            await request.aread(),
            request.extensions.get("timeout", {}),
        )
        response.request = request
        return response

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | list[bytes],
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        """Send a request given as its parts (the fast path `ChatModel` uses).

        `headers` must include `Host` and, with a body, `Content-Length`.
        """
        request = _Request(self.parser, method, target, headers, body)
        connection, response = await self._exchange(origin, request, timeouts)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Body(self, connection, origin, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
        )

    async def aclose(self) -> None:
        """Close every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()

    async def _exchange(
        self,
        origin: Origin,
        request: _Request,
        timeouts: dict[str, float | None],
    ) -> tuple[_Connection, Head]:
        busy = self._busy[origin] = self._busy.get(origin, 0) + 1
        if busy > self._peak.get(origin, 0):
            self._peak[origin] = busy
        try:
            return await self._exchange_on(origin, request, timeouts)
        except BaseException:
            self._done_with(origin)
            raise

    async def _exchange_on(
        self,
        origin: Origin,
        request: _Request,
        timeouts: dict[str, float | None],
    ) -> tuple[_Connection, Head]:
        connection = await self._take_idle(origin)
        if connection is not None:
            try:
                return connection, await connection.exchange(request, timeouts)
            except _StaleConnection:
                # The server closed it while it sat idle, before answering anything: a fresh
                # connection is safe, as nothing of this request was processed.
                await connection.aclose()
                request.renew()
            except BaseException:
                await connection.aclose()
                raise
        connection = await _Connection.open(origin, self._ssl(origin), timeouts)
        self.opened += 1
        try:
            return connection, await connection.exchange(request, timeouts)
        except _StaleConnection as error:
            await connection.aclose()
            raise httpx.RemoteProtocolError("server disconnected without a response") from error
        except BaseException:
            await connection.aclose()
            raise

    async def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.expires_at > now and not connection.readable_while_idle():
                return connection
            await connection.aclose()
        return None

    def _done_with(self, origin: Origin) -> None:
        """A connection of `origin` is no longer busy (released, or closed)."""
        self._busy[origin] = max(self._busy.get(origin, 1) - 1, 0)

    async def _release(self, connection: _Connection, origin: Origin) -> None:
        self._done_with(origin)
        idle = self._idle.setdefault(origin, [])
        limit = self._max_idle
        if limit is None:
            limit = min(max(_MIN_IDLE, self._peak.get(origin, 0)), MAX_IDLE_CEILING)
        if self._closed or len(idle) >= limit:
            await connection.aclose()
            return
        connection.expires_at = time.monotonic() + self._keepalive_expiry
        idle.append(connection)

    def _ssl(self, origin: Origin) -> ssl.SSLContext | None:
        if origin[0] != "https":
            return None
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(verify=self._verify)
        return self._ssl_context


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the response arrived."""


class _Request:
    """One request ready to send: its bytes, and the framer that reads its response."""

    __slots__ = ("_head", "_parts", "framer", "large", "pieces")

    def __init__(
        self,
        parser: ParserName,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | list[bytes],
    ) -> None:
        parts = [body] if isinstance(body, bytes) else body
        self._head, self._parts = (parser, method, target, headers), parts
        self.pieces = self.renew()
        self.large = len(parts) != 1 or len(parts[0]) > _ONE_WRITE

    def renew(self) -> list[bytes]:
        """A fresh framer (made first, and again to send on a new connection); the bytes."""
        parser, method, target, headers = self._head
        self.framer = framer_for(parser, method)
        return self.framer.request(method, target, headers, self._parts)


class _Connection:
    """One HTTP/1.1 connection: an anyio byte stream and the framer of its current exchange."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.framer: Framer | None = None
        self.expires_at = 0.0
        self.received = 0  # bytes of the current response so far
        # Looked up once: anyio builds its attribute table on every `extra()` call.
        self.raw_socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    @classmethod
    async def open(
        cls, origin: Origin, context: ssl.SSLContext | None, timeouts: dict[str, float | None]
    ) -> _Connection:
        _, host, port = origin
        with _errors(timeouts.get("connect"), httpx.ConnectTimeout, httpx.ConnectError):
            if context is None:
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
            else:
                stream = await anyio.connect_tcp(
                    host, port, ssl_context=context, tls_standard_compatible=False
                )
        return cls(stream)

    async def exchange(self, request: _Request, timeouts: dict[str, float | None]) -> Head:
        """Send a request; return its final response head (interim `1xx` ones are skipped).

        One cancel scope for the write and the head's reads (its deadline moved on at each
        step): on asyncio a scope costs more than a small request's write.
        """
        self.framer, self.received = request.framer, 0
        bound = _errors(timeouts.get("write"), httpx.WriteTimeout, httpx.WriteError, always=True)
        try:
            with bound:
                if not request.large:  # one segment
                    await self.stream.send(b"".join(request.pieces))
                else:  # a large body (an attached file): in slices, never copied whole
                    for piece in request.pieces:
                        view = memoryview(piece)
                        for start in range(0, len(view), _ONE_WRITE):
                            await self.stream.send(view[start : start + _ONE_WRITE])  # type: ignore[arg-type]
                bound.rearm(timeouts.get("read"), httpx.ReadTimeout, httpx.ReadError)
                event = self.framer.next_event()
                while event is NEED_DATA:
                    await self._read()
                    event = self.framer.next_event()
                    bound.rearm(timeouts.get("read"), httpx.ReadTimeout, httpx.ReadError)
            if type(event) is not Head:  # a framer yields the head first
                raise httpx.RemoteProtocolError("malformed response: no status line")
            return event
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as error:
            if not self.received:  # not one byte of a response: the request was not served
                raise _StaleConnection() from error
            raise

    async def next_event(self, read_timeout: float | None) -> Head | bytes | str:
        """The next event of the response, reading from the network when the framer needs it."""
        framer = self.framer
        assert framer is not None
        while True:
            event = framer.next_event()
            if event is not NEED_DATA:
                return event
            with _errors(read_timeout, httpx.ReadTimeout, httpx.ReadError):
                await self._read()

    async def _read(self) -> None:
        """Read once from the network into the framer (`b""` at the end of the stream)."""
        try:
            data = await self.stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        self.received += len(data)
        self.framer.receive(data)  # type: ignore[union-attr]

    def reusable(self) -> bool:
        """Whether the response just read left the connection fit for another request."""
        return self.framer is not None and self.framer.reusable()

    def readable_while_idle(self) -> bool:
        """Whether the server closed the idle connection or wrote to it unasked.

        poll, not select: select.select refuses descriptors above 1023 (a busy process has
        them), and a good connection must not be thrown away as stale for its number.
        """
        if self.raw_socket is None:
            return False
        try:
            poller = select.poll()
            poller.register(self.raw_socket, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), contextlib.suppress(*_CLOSING_ERRORS):
            await self.stream.aclose()


class _Body(httpx.AsyncByteStream):
    """A response body read from the connection; when complete, the connection is reused.

    A plain iterator object rather than an async generator: trio warns about generators
    garbage-collected half-read, and a stream closed early is normal for SSE.
    """

    def __init__(
        self,
        pool: PooledTransport,
        connection: _Connection,
        origin: Origin,
        read_timeout: float | None,
    ) -> None:
        self._pool, self._connection, self._origin = pool, connection, origin
        self._timeout = read_timeout
        self._done = False
        self._finished = False  # the connection went back to the pool or was closed

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            event = await self._connection.next_event(self._timeout)
            data = self._take(event)
            if data:
                return data
        await self._finish()
        raise StopAsyncIteration

    def _take(self, event: Head | bytes | str) -> bytes:
        if type(event) is bytes:
            return event
        if event is END:
            self._done = True
        return b""

    async def aclose(self) -> None:
        await self._finish()

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._done and self._connection.reusable():
            await self._pool._release(self._connection, self._origin)
        else:
            self._pool._done_with(self._origin)
            await self._connection.aclose()


class _errors:
    """Bound one network operation by `timeout` and raise httpx's exceptions for failures.

    A class rather than `anyio.fail_after` in a generator: this runs for every read and write,
    and two generator context managers cost more than the operation they guard.
    """

    __slots__ = ("_always", "_on_error", "_on_timeout", "_scope", "_timeout")

    def __init__(
        self,
        timeout: float | None,
        on_timeout: type[httpx.TimeoutException],
        on_error: type[httpx.TransportError],
        *,
        always: bool = False,
    ) -> None:
        self._timeout, self._on_timeout, self._on_error = timeout, on_timeout, on_error
        self._always = always  # a scope even without a timeout, for `rearm` to give one later
        self._scope: anyio.CancelScope | None = None

    def __enter__(self) -> None:
        if self._timeout is not None or self._always:
            self._scope = anyio.CancelScope(deadline=self._deadline())
            self._scope.__enter__()

    def _deadline(self) -> float:
        return math.inf if self._timeout is None else anyio.current_time() + self._timeout

    def rearm(
        self,
        timeout: float | None,
        on_timeout: type[httpx.TimeoutException],
        on_error: type[httpx.TransportError],
    ) -> None:
        """Bound the next operation instead: a new timeout from now, and its exceptions."""
        self._timeout, self._on_timeout, self._on_error = timeout, on_timeout, on_error
        assert self._scope is not None
        self._scope.deadline = self._deadline()

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool:
        scope = self._scope
        if scope is not None:
            swallowed = scope.__exit__(kind, error, traceback)
            if scope.cancelled_caught:
                raise self._on_timeout(f"timed out after {self._timeout} s") from error
            if swallowed:
                return True
        if isinstance(error, _FAILURES):
            raise self._on_error(_describe(error)) from error
        return False


_FAILURES = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _describe(error: BaseException) -> str:
    if isinstance(error, anyio.EndOfStream):
        return "server disconnected"
    return str(error) or type(error).__name__
