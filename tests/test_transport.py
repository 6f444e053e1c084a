"""PooledTransport: connections are reused, dropped ones are replaced, errors are httpx's."""

from __future__ import annotations

import anyio
import httpx
import pytest

from agentkit._transport import PooledTransport
from agentkit.testing import Fault, MockChatServer, Reply, echo

pytestmark = pytest.mark.anyio

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
