"""HTTPS through agentkit's own transport: real TLS on loopback, with a throwaway CA.

The default endpoint is HTTPS, and `ChatModel` talks to it through `PooledTransport`, not
httpx's stack: these tests run that path against `MockChatServer` serving TLS.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from agentkit import (
    Agent,
    ChatModel,
    ModelConfigurationError,
    ModelRequest,
    RetryPolicy,
    TextDelta,
    UserMessage,
    tool,
)
from agentkit.models._chat import _PROXY_VARIABLES
from agentkit.testing import MockChatServer, Reply

pytestmark = pytest.mark.anyio

HELLO = ModelRequest(messages=[UserMessage(content="Hi")])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockChatServer]:
    for name in _PROXY_VARIABLES:  # with a proxy set, ChatModel would use httpx's stack
        monkeypatch.delenv(name, raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with MockChatServer(ssl_context=context) as server:
        yield server


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the throwaway CA the way a user trusts a private one: SSL_CERT_FILE."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.mark.usefixtures("trusted")
async def test_plain_and_streamed_requests_over_one_kept_alive_tls_connection(
    tls_server: MockChatServer,
) -> None:
    tls_server.add(Reply.text("one"), Reply(content="two, streamed", chunk_size=3), Reply.text("3"))
    assert tls_server.base_url.startswith("https://")
    async with ChatModel(base_url=tls_server.base_url, api_key="k", model="m") as model:
        first = await model.complete(HELLO)
        async with model.stream(HELLO) as deltas:
            streamed = "".join([d.text async for d in deltas if isinstance(d, TextDelta)])
        third = await model.complete(HELLO)
    assert (first.message.content, streamed, third.message.content) == ("one", "two, streamed", "3")
    assert [r.connection for r in tls_server.requests] == [1, 1, 1]


@pytest.mark.usefixtures("trusted")
async def test_an_agent_runs_its_tools_over_https(tls_server: MockChatServer) -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    tls_server.add(Reply.tool_calls(("add", {"a": 2, "b": 3})), Reply.text("5"))
    model = ChatModel(base_url=tls_server.base_url, api_key="k", model="m")
    async with model:
        result = await Agent(model, tools=[add]).run("2 + 3?")
    assert result.output == "5"
    assert tls_server.requests[1].messages[-1]["content"] == "5"


async def test_an_untrusted_certificate_is_refused_at_once_with_the_reason(
    tls_server: MockChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the public roots only
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls_server.add(Reply.text("never sent"))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    model = ChatModel(
        base_url=tls_server.base_url, api_key="k", model="m", retry=RetryPolicy(sleep=record)
    )
    async with model:
        with pytest.raises(
            ModelConfigurationError,
            match=r"not signed by a CA.*SSL_CERT_FILE.*certificate verify failed",
        ):
            await model.complete(HELLO)
    assert waits == []  # not retried: no retry changes a certificate
    assert tls_server.requests == []
