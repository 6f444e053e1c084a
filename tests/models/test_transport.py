"""PooledTransport: connections are reused, dropped ones are replaced, errors are httpx's."""

from __future__ import annotations

import anyio
import httpx
import pytest

from agentkit.models._transport import PooledTransport
from agentkit.testing import Fault, MockChatServer, Reply, echo

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, params=["llhttp", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test against both response parsers: llhttp (the default) and h11 (the fallback)."""
    monkeypatch.setenv("AGENTKIT_HTTP_PARSER", request.param)
    return str(request.param)


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def post(client: httpx.AsyncClient, server: MockChatServer) -> httpx.Response:
    return await client.post(f"{server.base_url}/chat/completions", json=BODY)


async def test_sequential_requests_share_one_connection() -> None:
    with MockChatServer(responder=echo) as server:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            for _ in range(20):
                assert (await post(client, server)).json()["choices"][0]["message"][
                    "content"
                ] == "hi"
    assert {request.connection for request in server.requests} == {1}


async def test_concurrent_requests_open_connections_then_reuse_them() -> None:
    with MockChatServer(responder=echo, latency=0.05) as server:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(post, client, server)
            for _ in range(10):
                await post(client, server)
    connections = [request.connection for request in server.requests]
    assert len(set(connections[:10])) == 10
    assert set(connections[10:]) <= set(connections[:10])


async def test_a_connection_the_server_dropped_is_replaced() -> None:
    with MockChatServer(responder=echo, idle_timeout=0.05) as server:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            await post(client, server)
            await anyio.sleep(0.3)
            assert (await post(client, server)).status_code == 200
    assert [request.connection for request in server.requests] == [1, 2]


async def test_idle_connections_beyond_the_cap_are_closed() -> None:
    with MockChatServer(responder=echo, latency=0.05) as server:
        async with httpx.AsyncClient(transport=PooledTransport(max_idle_per_origin=2)) as client:
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(post, client, server)
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(post, client, server)
    first, second = (
        {r.connection for r in server.requests[:5]},
        {r.connection for r in server.requests[5:]},
    )
    assert len(first & second) == 2


async def test_transport_errors_are_httpx_errors() -> None:
    with MockChatServer([Fault.reset(), Reply.text("ok")]) as server:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            with pytest.raises(httpx.TransportError):
                await post(client, server)
            assert (await post(client, server)).status_code == 200


async def test_read_timeout_is_an_httpx_timeout() -> None:
    with MockChatServer([Reply.text("late")], latency=1.0) as server:
        async with httpx.AsyncClient(transport=PooledTransport(), timeout=0.1) as client:
            with pytest.raises(httpx.ReadTimeout):
                await post(client, server)


class SlowServer:
    """Accepts one connection; reads nothing (`head=None`) or answers a byte at a time."""

    def __init__(self, head: bytes | None, every: float = 0.0) -> None:
        import socket
        import threading

        self.head, self.every = head, every
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        import time

        connection, _ = self.sock.accept()
        with connection:
            if self.head is None:  # never read: the client's write fills the buffers
                time.sleep(3)
                return
            connection.recv(65536)
            for byte in self.head:
                connection.sendall(bytes([byte]))
                time.sleep(self.every)
            time.sleep(1)


async def test_a_write_that_cannot_finish_is_a_write_timeout() -> None:
    server = SlowServer(head=None)
    timeout = httpx.Timeout(5.0, write=0.2)
    async with httpx.AsyncClient(transport=PooledTransport(), timeout=timeout) as client:
        with anyio.fail_after(5), pytest.raises(httpx.WriteTimeout):
            await client.post(server.url, content=b"x" * (64 << 20))
    server.sock.close()


async def test_the_read_timeout_bounds_each_read_not_the_whole_head() -> None:
    """A head trickling in a byte every 20 ms, a 0.2 s read timeout: each read is in time."""
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = SlowServer(head, every=0.02)
    async with httpx.AsyncClient(transport=PooledTransport(), timeout=0.2) as client:
        response = await client.post(server.url, content=b"{}")
        assert response.content == b"ok"  # 0.8 s in all, more than the read timeout
    server.sock.close()


async def test_streamed_bodies_closed_early_release_cleanly() -> None:
    with MockChatServer(responder=echo) as server:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            for _ in range(3):
                request = client.build_request(
                    "POST", f"{server.base_url}/chat/completions", json={**BODY, "stream": True}
                )
                response = await client.send(request, stream=True)
                async for _ in response.aiter_bytes():
                    break
                await response.aclose()
            assert (await post(client, server)).status_code == 200


class CannedServer:
    """A one-connection-at-a-time server that answers every request with fixed bytes."""

    def __init__(self, response: bytes, close_after: bool = False) -> None:
        import socket
        import threading

        self.response, self.close_after = response, close_after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                while True:
                    data = connection.recv(65536)
                    if not data:
                        break
                    connection.sendall(self.response)
                    if self.close_after:
                        break

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\ntrailer: x\r\n\r\n",
            b"hello",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nuntil close", b"until close"),
    ],
    ids=["length", "chunked-with-extensions-and-trailers", "no-content", "read-to-close"],
)
async def test_body_framings(raw: bytes, body: bytes) -> None:
    server = CannedServer(raw, close_after=b"close" in raw)
    try:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            for _ in range(2):  # the second request shows the connection state stayed right
                response = await client.post(server.url, content=b"{}")
                assert response.content == body
    finally:
        server.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["no-status", "wrong-protocol", "bad-chunk-size"],
)
async def test_malformed_responses_are_protocol_errors(raw: bytes) -> None:
    server = CannedServer(raw)
    try:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(server.url, content=b"{}")
    finally:
        server.close()


async def test_an_expired_idle_connection_is_closed_and_replaced() -> None:
    """Past keepalive_expiry the next request opens a new connection (asyncio crashed here)."""
    with MockChatServer(responder=echo) as server:
        async with httpx.AsyncClient(transport=PooledTransport(keepalive_expiry=0.05)) as client:
            await post(client, server)
            await anyio.sleep(0.15)
            assert (await post(client, server)).status_code == 200
            assert (await post(client, server)).status_code == 200
    assert [request.connection for request in server.requests] == [1, 2, 2]


async def test_a_response_cut_short_closes_its_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nonly part"
    server = CannedServer(raw, close_after=True)
    try:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            with pytest.raises(httpx.RemoteProtocolError, match="malformed response"):
                await client.post(server.url, content=b"{}")
    finally:
        server.close()


async def test_bytes_after_a_complete_response_keep_its_connection_out_of_the_pool() -> None:
    """A server that answers twice to one request: the extra answer is never read as the next."""
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none"
        + b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo"
    )
    server = CannedServer(raw)
    try:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            assert (await client.post(server.url, content=b"{}")).content == b"one"
            await anyio.sleep(0.05)
            assert (await client.post(server.url, content=b"{}")).content == b"one"
    finally:
        server.close()


async def test_the_idle_limit_follows_demand() -> None:
    """Before: at most 512 idle connections per origin, so 1,000 concurrent runs closed and
    reopened ~800 connections for ~4,000 requests. Now every wave past the first reuses them."""
    wave = 600  # above the old fixed limit of 512
    with MockChatServer(responder=echo, latency=0.2) as server:
        transport = PooledTransport()
        async with httpx.AsyncClient(transport=transport, timeout=60) as client:
            for _ in range(2):
                async with anyio.create_task_group() as group:
                    for _ in range(wave):
                        group.start_soon(post, client, server)
    assert transport.opened == wave
    assert len({r.connection for r in server.requests}) == wave


async def test_an_idle_connection_with_a_high_descriptor_is_kept() -> None:
    """select.select refuses descriptors above 1023: a busy process's good connection was
    thrown away as stale for its number."""
    import os

    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # push descriptors up
    try:
        with MockChatServer(responder=echo) as server:
            transport = PooledTransport()
            async with httpx.AsyncClient(transport=transport) as client:
                for _ in range(3):
                    assert (await post(client, server)).status_code == 200
        assert {r.connection for r in server.requests} == {1}
    finally:
        for descriptor in spare:
            os.close(descriptor)
