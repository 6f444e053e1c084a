"""Layer 3 (model boundary): a lean HTTP/1.1 transport for httpx, fast at high concurrency.

httpx's default transport (httpcore over h11) spends more CPU per request than the request
itself, and its pool's connection assignment grows with the number of waiting requests: with
hundreds of concurrent agent runs it is the bottleneck (benchmarks/README.md). Chat
completions need little of HTTP: a POST with a known length, a response with a length or
chunked, keep-alive. `PooledTransport` does just that on anyio byte streams, so it runs on
asyncio and trio alike, and pools connections in a stack per origin (O(1) in and out).

Not handled (use your own `httpx.AsyncClient` for these): proxies, HTTP/2, `Expect:
100-continue`, request bodies of unknown length. `ChatModel` falls back to httpx's own
transport when proxy variables are set.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["PooledTransport"]

_Origin = tuple[str, str, int]
_MAX_HEAD_BYTES = 256 * 1024
_READ_SIZE = 65536
_MAX_LINE_BYTES = 4096
_NO_BODY_STATUSES = frozenset({204, 304})


class PooledTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` speaking HTTP/1.1 with an O(1) keep-alive pool.

    Args:
        max_idle_per_origin: Idle connections kept per scheme/host/port; more are closed.
        keepalive_expiry: Seconds an idle connection may wait to be reused.
        verify: Verify TLS certificates (default), or the `ssl.SSLContext` to use.
    """

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 512,
        keepalive_expiry: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._max_idle = max_idle_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request over a pooled (or new) connection."""
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (request.url.scheme, request.url.host, request.url.port or _default_port(request))
        payload = _request_head(request) + await request.aread()
        connection, status, headers, reason = await self._exchange(origin, payload, timeouts)
        keep_alive = _keeps_alive(headers)
        no_body = request.method == "HEAD" or status in _NO_BODY_STATUSES or status < 200
        body = _Body(self, connection, origin, headers, timeouts, keep_alive, no_body)
        return httpx.Response(
            status_code=status,
            headers=headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        """Close every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()

    async def _exchange(
        self, origin: _Origin, payload: bytes, timeouts: dict[str, float | None]
    ) -> tuple[_Connection, int, list[tuple[bytes, bytes]], bytes]:
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return (connection, *await connection.send_and_read_head(payload, timeouts))
            except _StaleConnection:
                # The server closed it while it sat idle, before reading anything: a fresh
                # connection is safe, as nothing of this request was processed.
                await connection.aclose()
        connection = await _Connection.open(origin, self._ssl(origin), timeouts)
        try:
            return (connection, *await connection.send_and_read_head(payload, timeouts))
        except _StaleConnection as error:
            await connection.aclose()
            raise httpx.RemoteProtocolError("server disconnected without a response") from error
        except BaseException:
            await connection.aclose()
            raise

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.expires_at > now:
                return connection
            connection.abort()
        return None

    async def _release(self, connection: _Connection, origin: _Origin) -> None:
        idle = self._idle.setdefault(origin, [])
        if self._closed or len(idle) >= self._max_idle:
            await connection.aclose()
            return
        connection.expires_at = time.monotonic() + self._keepalive_expiry
        idle.append(connection)

    def _ssl(self, origin: _Origin) -> ssl.SSLContext | None:
        if origin[0] != "https":
            return None
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(verify=self._verify)
        return self._ssl_context


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the response arrived."""


class _Connection:
    """One HTTP/1.1 connection: writes requests, reads response heads and bodies."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.expires_at = 0.0

    @classmethod
    async def open(
        cls, origin: _Origin, context: ssl.SSLContext | None, timeouts: dict[str, float | None]
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

    async def send_and_read_head(
        self, payload: bytes, timeouts: dict[str, float | None]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            with _errors(timeouts.get("write"), httpx.WriteTimeout, httpx.WriteError):
                await self.stream.send(payload)
            with _errors(timeouts.get("read"), httpx.ReadTimeout, httpx.ReadError):
                head = await self.reader.receive_until(b"\r\n\r\n", _MAX_HEAD_BYTES)
        except (httpx.ReadError, httpx.WriteError) as error:
            if not self.reader.buffer:  # not one byte of a response: the request was not served
                raise _StaleConnection() from error
            raise
        return _parse_head(head)

    # What the buffer already holds is read without a timeout or error mapping: nothing can
    # wait or fail there, and a cancel scope per read costs more than a small SSE chunk.

    async def receive(self, read_timeout: float | None, exactly: int | None = None) -> bytes:
        buffered = len(self.reader.buffer)
        if exactly is not None:
            if buffered >= exactly:
                return await self.reader.receive_exactly(exactly)
            with _errors(read_timeout, httpx.ReadTimeout, httpx.ReadError):
                return await self.reader.receive_exactly(exactly)
        if buffered:
            return await self.reader.receive(_READ_SIZE)
        with _errors(read_timeout, httpx.ReadTimeout, httpx.ReadError):
            return await self.reader.receive(_READ_SIZE)

    async def receive_line(self, read_timeout: float | None) -> bytes:
        if b"\r\n" in self.reader.buffer:
            return await self.reader.receive_until(b"\r\n", _MAX_LINE_BYTES)
        with _errors(read_timeout, httpx.ReadTimeout, httpx.ReadError):
            return await self.reader.receive_until(b"\r\n", _MAX_LINE_BYTES)

    async def aclose(self) -> None:
        closing_errors = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
        with anyio.CancelScope(shield=True), contextlib.suppress(*closing_errors):
            await self.stream.aclose()

    def abort(self) -> None:
        """Drop an expired idle connection without awaiting (its close is best effort)."""
        raw = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if raw is not None:
            raw.close()


class _Body(httpx.AsyncByteStream):
    """A response body read from the connection; when complete, the connection is reused.

    A plain iterator object rather than an async generator: trio warns about generators
    garbage-collected half-read, and a stream closed early is normal for SSE.
    """

    def __init__(
        self,
        pool: PooledTransport,
        connection: _Connection,
        origin: _Origin,
        headers: list[tuple[bytes, bytes]],
        timeouts: dict[str, float | None],
        keep_alive: bool,
        no_body: bool,
    ) -> None:
        self._pool, self._connection, self._origin = pool, connection, origin
        self._timeout = timeouts.get("read")
        self._keep_alive = keep_alive
        self._chunked = _header(headers, b"transfer-encoding").lower().endswith(b"chunked")
        length = _header(headers, b"content-length")
        self._remaining: int | None = 0 if no_body else (int(length) if length else None)
        self._done = no_body
        self._finished = False  # the connection went back to the pool or was closed

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            part = await self._next_part()
            if part:
                return part
        await self._finish(reusable=True)
        raise StopAsyncIteration

    async def _next_part(self) -> bytes:
        if self._chunked:
            return await self._next_chunk()
        if self._remaining is None:  # no length: the body ends when the server closes
            try:
                return await self._connection.receive(self._timeout)
            except httpx.ReadError as error:
                if isinstance(error.__cause__, anyio.EndOfStream):
                    self._done, self._keep_alive = True, False
                    return b""
                raise
        if self._remaining == 0:
            self._done = True
            return b""
        part = await self._connection.receive(self._timeout)
        part = part[: self._remaining]
        self._remaining -= len(part)
        self._done = self._remaining == 0
        return part

    async def _next_chunk(self) -> bytes:
        size_line = await self._connection.receive_line(self._timeout)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise httpx.RemoteProtocolError(f"bad chunk size line {size_line[:40]!r}") from error
        if size == 0:
            while await self._connection.receive_line(self._timeout):  # trailers
                pass
            self._done = True
            return b""
        data = await self._connection.receive(self._timeout, exactly=size + 2)
        return data[:size]

    async def aclose(self) -> None:
        await self._finish(reusable=self._done)

    async def _finish(self, *, reusable: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if reusable and self._keep_alive:
            await self._pool._release(self._connection, self._origin)
        else:
            await self._connection.aclose()


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    lines.extend(name + b": " + value for name, value in request.headers.raw)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    lines = head.split(b"\r\n")  # receive_until leaves the blank line out
    try:
        version, status, *reason = lines[0].split(b" ", 2)
        code = int(status)
    except ValueError as error:
        raise httpx.RemoteProtocolError(f"bad status line {lines[0][:80]!r}") from error
    if not version.startswith(b"HTTP/1."):
        raise httpx.RemoteProtocolError(f"unsupported protocol {version[:20]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return code, headers, reason[0] if reason else b""


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


def _keeps_alive(headers: list[tuple[bytes, bytes]]) -> bool:
    return _header(headers, b"connection").lower() != b"close"


def _default_port(request: httpx.Request) -> int:
    return 443 if request.url.scheme == "https" else 80


@contextmanager
def _errors(
    timeout: float | None, on_timeout: type[httpx.TimeoutException], on_error: type[Any]
) -> Iterator[None]:
    """Bound one network operation by `timeout` and raise httpx's exceptions for failures."""
    try:
        if timeout is None:
            yield
        else:
            with anyio.fail_after(timeout):
                yield
    except TimeoutError as error:
        raise on_timeout(f"timed out after {timeout} s") from error
    except (
        anyio.EndOfStream,
        anyio.IncompleteRead,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        OSError,
    ) as error:
        raise on_error(_describe(error)) from error
    except anyio.DelimiterNotFound as error:
        raise httpx.RemoteProtocolError("response head too large or malformed") from error


def _describe(error: BaseException) -> str:
    if isinstance(error, anyio.EndOfStream | anyio.IncompleteRead):
        return "server disconnected"
    return str(error) or type(error).__name__
