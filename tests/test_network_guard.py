"""The autouse guard in conftest.py keeps tests on loopback; prove it can fail."""

from __future__ import annotations

import socket

import pytest


def test_connecting_to_a_public_address_fails_the_test() -> None:
    with socket.socket() as sock, pytest.raises(OSError, match="tests stay on loopback"):
        sock.connect(("93.184.216.34", 80))


def test_resolving_a_public_name_fails_the_test() -> None:
    with pytest.raises(OSError, match="tests stay on loopback"):
        socket.getaddrinfo("example.com", 443)


def test_private_ranges_are_not_loopback() -> None:
    with socket.socket() as sock, pytest.raises(OSError, match="tests stay on loopback"):
        sock.connect(("10.0.0.1", 80))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
