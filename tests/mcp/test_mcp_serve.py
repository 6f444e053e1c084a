"""`agentkit mcp serve` attacked: unapproved calls, foreign hosts, open binds, hung sync tools.

The server runs as a subprocess (`python -m agentkit mcp serve ...`); the client is the
official MCP SDK's, over stdio and streamable HTTP, or raw HTTP where a client would refuse.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from agentkit.mcp._callbacks import elicitation_callback
from tests.peers import free_port

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
_INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}},
}  # fmt: skip


def serve(target: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agentkit", "mcp", "serve", f"tests.mcp_servers.served:{target}",
            *extra]  # fmt: skip


def stdio(target: str, *extra: str) -> StdioServerParameters:
    command = serve(target, *extra)
    return StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))


def started(
    command: list[str], port: int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1])
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def stopping() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.communicate(timeout=10)


# -- approvals --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", [[], ["--http", "127.0.0.1:0"]])
def test_tools_that_need_approval_are_refused_with_nobody_to_ask(transport: list[str]) -> None:
    done = subprocess.run(serve("guarded", *transport), cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "delete_file need approval" in done.stderr
    assert "--allow-unapproved" in done.stderr


def test_the_ready_made_shell_tool_is_refused_too() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "mcp", "serve", "shell:run_command"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "need approval" in done.stderr


async def test_allow_unapproved_names_each_tool_that_may_run() -> None:
    async with Client(stdio("guarded", "--allow-unapproved", "delete_file")) as client:
        answer = await client.call_tool("delete_file", {"path": "/tmp/x"})
    assert not answer.is_error
    assert answer.content[0].text == "deleted /tmp/x"


@pytest.mark.parametrize("approve", [True, False])
async def test_the_clients_user_decides_through_elicitation(approve: bool) -> None:
    asked: list[str] = []

    def person(message: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        asked.append(message)
        return {"approve": approve}

    callback = elicitation_callback(person)
    async with Client(stdio("guarded", "--approve-with", "elicit"), mode="legacy",
                      elicitation_callback=callback) as client:  # fmt: skip
        answer = await client.call_tool("delete_file", {"path": "/home/me/thesis"})
        plain = await client.call_tool("multiply", {"a": 6, "b": 7})
    assert len(asked) == 1
    assert 'path = "/home/me/thesis"' in asked[0]
    assert plain.content[0].text == "42"
    if approve:
        assert answer.content[0].text == "deleted /home/me/thesis"
    else:
        assert answer.is_error
        assert "denied" in answer.content[0].text


async def test_a_client_that_cannot_be_asked_is_denied() -> None:
    async with Client(stdio("guarded", "--approve-with", "elicit")) as client:
        answer = await client.call_tool("delete_file", {"path": "/tmp/x"})
    assert answer.is_error
    assert "denied" in answer.content[0].text


# -- HTTP: hosts, binds, tokens ---------------------------------------------------------


def _post(
    port: int, host: str | None = None, token: str | None = None, origin: str | None = None
) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if origin:
        headers["Origin"] = origin
    return httpx.post(f"http://127.0.0.1:{port}/mcp", json=_INITIALIZE, headers=headers, timeout=10)


def test_a_loopback_server_refuses_other_hosts_and_origins(
    stopping: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    stopping.append(started(serve("tools", "--http", f"127.0.0.1:{port}"), port))
    assert _post(port).status_code == 200
    assert _post(port, host="evil.example").status_code in (400, 421)
    assert _post(port, origin="http://evil.example").status_code in (400, 403)


def test_a_server_beyond_loopback_needs_its_token(stopping: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    process = started(serve("tools", "--http", f"0.0.0.0:{port}"), port)
    stopping.append(process)
    assert _post(port).status_code == 401
    assert _post(port, token="guess").status_code == 401
    process.terminate()
    stderr = process.communicate(timeout=10)[1]
    assert "warning: serving on 0.0.0.0" in stderr
    token = stderr.split("Authorization: Bearer ", 1)[1].split()[0]
    again = free_port()
    stopping.append(started(serve("tools", "--http", f"0.0.0.0:{again}", "--token-env", "T"),
                            again, {"T": token}))  # fmt: skip
    assert _post(again, token=token).status_code == 200
    assert _post(again, token=token, host="evil.example").status_code in (400, 421)


def test_ipv6_loopback_is_served(stopping: list[subprocess.Popen[str]]) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    port = free_port()
    process = subprocess.Popen(serve("tools", "--http", f"[::1]:{port}"), cwd=ROOT,
                               stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    stopping.append(process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET6) as probe:
            if probe.connect_ex(("::1", port)) == 0:
                break
        time.sleep(0.05)
    headers = {"Accept": "application/json, text/event-stream"}
    answer = httpx.post(f"http://[::1]:{port}/mcp", json=_INITIALIZE, headers=headers, timeout=10)
    assert answer.status_code == 200


# -- hung sync tools ----------------------------------------------------------------------


async def test_a_hung_sync_tool_times_out_and_never_starves_the_others() -> None:
    async with Client(stdio("hanging")) as client:
        results: list[Any] = []

        async def call_stuck() -> None:
            results.append(await client.call_tool("stuck", {}))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for _ in range(46):
                    group.start_soon(call_stuck)
            product = await client.call_tool("multiply", {"a": 1, "b": 2})
    assert all(r.is_error and "timed out after 1 s" in r.content[0].text for r in results)
    assert product.content[0].text == "2"


def test_the_server_exits_when_its_client_goes() -> None:
    process = subprocess.Popen(serve("hanging"), cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    messages = [
        _INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "stuck", "arguments": {}},
        },
    ]
    for message in messages:
        process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.flush()
        if message.get("id") == 1:
            process.stdout.readline()
    time.sleep(0.3)  # the call is running now
    process.stdin.close()
    try:
        assert process.wait(timeout=15) is not None
    finally:
        process.kill()
        process.stdout.close()
