"""Shared fixtures: both anyio backends, and a guard that keeps every test off the network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from agentkit.testing import MockChatServer

from .spec import request_problems

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: Any) -> bool:
    if host is None or host in _LOCAL_NAMES:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def server() -> Iterator[MockChatServer]:
    """A MockChatServer that answers 400 to any request breaking either wire schema; the
    test fails afterwards if one did."""
    with MockChatServer(validate=request_problems) as running:
        yield running
    assert running.validation_errors == []


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects, or resolves a name, outside the loopback range."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"test tried to reach {address[0]!r}: tests stay on loopback")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise OSError(f"test tried to resolve {host!r}: tests stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _own_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Sessions a test stores (`agentkit run` stores each run) go to a folder of its own."""
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real Postgres server on loopback for the session (tests/postgres.py), as its URL."""
    from .postgres import postgres_server

    with postgres_server() as url:
        yield url
