"""Layer 3 (model boundary): a connection pool for httpx that stays fast at high concurrency.

httpx's default transport hands requests to httpcore's `AsyncConnectionPool`, whose
connection assignment rescans every queued request on each change. With hundreds of
concurrent agent runs that costs more CPU than the requests themselves (measured in
benchmarks/README.md). `PooledTransport` keeps httpcore's HTTP/1.1 connections, which do the
protocol work, but pools them simply: a stack of idle connections per origin, taken and
returned in O(1). It runs on asyncio and trio alike.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore
import httpx

__all__ = ["PooledTransport"]

_Origin = tuple[bytes, bytes, int]
_STALE_RETRIES = 3


class PooledTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` with an O(1) keep-alive pool (HTTP/1.1).

    Args:
        max_idle_per_origin: Idle connections kept per scheme/host/port; more are closed.
        keepalive_expiry: Seconds an idle connection may be reused.
        verify: Verify TLS certificates (default), or an `ssl.SSLContext` to use.
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
        self._ssl_context = httpx.create_ssl_context(verify=verify)
        self._idle: dict[_Origin, list[httpcore.AsyncHTTPConnection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request over a pooled connection."""
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response, connection = await self._send(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ReleasingStream(self, response, connection, _key(core_request.url.origin)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()

    async def _send(
        self, request: httpcore.Request
    ) -> tuple[httpcore.Response, httpcore.AsyncHTTPConnection]:
        origin = request.url.origin
        for _ in range(_STALE_RETRIES):
            connection = await self._checkout(origin)
            try:
                return await connection.handle_async_request(request), connection
            except httpcore.ConnectionNotAvailable:  # closed by the server while idle
                await connection.aclose()
        connection = self._new_connection(origin)
        return await connection.handle_async_request(request), connection

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get(_key(origin))
        while idle:
            connection = idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return self._new_connection(origin)

    def _new_connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
        )

    async def _release(self, connection: httpcore.AsyncHTTPConnection, origin: _Origin) -> None:
        if self._closed or not connection.is_idle():
            await connection.aclose()
            return
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle:
            await connection.aclose()
        else:
            idle.append(connection)


class _ReleasingStream(httpx.AsyncByteStream):
    """The response body; closing it hands the connection back to the pool."""

    def __init__(
        self,
        pool: PooledTransport,
        response: httpcore.Response,
        connection: httpcore.AsyncHTTPConnection,
        origin: _Origin,
    ) -> None:
        self._pool, self._response, self._connection = pool, response, connection
        self._origin = origin
        self._released = False

    # A plain iterator object, not an async generator: trio warns about generators that are
    # garbage collected half-read, and a body closed early is normal here.
    def __aiter__(self) -> AsyncIterator[bytes]:
        self._parts = self._response.aiter_stream()
        return self

    async def __anext__(self) -> bytes:
        with _httpx_errors():
            return await self._parts.__anext__()

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        parts = getattr(self, "_parts", None)
        with _httpx_errors():
            if isinstance(parts, AsyncGenerator):
                await parts.aclose()
            await self._response.aclose()
        await self._pool._release(self._connection, self._origin)


def _key(origin: httpcore.Origin) -> _Origin:
    return (origin.scheme, origin.host, origin.port)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as httpx's namesakes, as httpx's own transport does."""
    try:
        yield
    except httpcore.TimeoutException as error:
        raise getattr(httpx, type(error).__name__, httpx.TimeoutException)(str(error)) from error
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        raise getattr(httpx, type(error).__name__, httpx.TransportError)(str(error)) from error
