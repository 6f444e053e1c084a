"""An endpoint's secrets stay secret, and its set-up fails with words.

The key, a URL's userinfo and secret query values never reach an error, a log line or a span,
whatever a server echoes back and whatever the capture mode; plain HTTP beyond this machine,
redirects, a query inside `base_url`, an upper-case scheme, a missing CA file, a SOCKS proxy
without its extra, and each kind of certificate failure say what to do.
"""

from __future__ import annotations

import datetime
import logging
import ssl
import warnings
from collections.abc import Iterator

import pytest
import trustme
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentkit
from agentkit import (
    Agent,
    BadRequestError,
    ChatModel,
    ModelConfigurationError,
    ModelError,
    ModelRequest,
    RetryPolicy,
    UserMessage,
    tool,
)
from agentkit.models._chat import _PROXY_VARIABLES
from agentkit.models._endpoint import Endpoint, PlainHTTPKeyWarning
from agentkit.otel import uninstrument
from agentkit.testing import Fault, MockChatServer, Reply
from tests.peers import free_port

pytestmark = pytest.mark.anyio
KEY = "sk-live-7f3a9c2e1b4d"
HELLO = ModelRequest(messages=[UserMessage(content="Hi")])


async def _no_wait(_: float) -> None:
    return None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agentkit.instrument(provider, None)
    yield exporter
    uninstrument()


def _everything(error: BaseException, exporter: InMemorySpanExporter, log: str) -> str:
    texts = [str(error), repr(error), str(getattr(error, "body", "")), log]
    for span in exporter.get_finished_spans():
        texts += [str(span.status.description), str(dict(span.attributes or {}))]
        texts += [str(event.attributes) for event in span.events]
    return "\n".join(texts)


async def test_a_key_echoed_by_the_server_is_redacted_everywhere(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentkit")
    with MockChatServer() as server:
        echoed = f"invalid key {KEY} for prompt 'my diagnosis'"
        server.add(Fault.http(500, message=echoed), Fault.http(400, message=echoed))
        model = ChatModel(base_url=server.base_url, api_key=KEY, model="m",
                          retry=RetryPolicy(max_retries=1, sleep=_no_wait))  # fmt: skip
        async with model:
            with pytest.raises(BadRequestError) as raised:
                await Agent(model).run("my diagnosis")
    seen = _everything(raised.value, spans, caplog.text)
    assert KEY not in seen
    assert "[redacted]" in str(raised.value)
    statuses = [s.status.description or "" for s in spans.get_finished_spans()]
    assert all("my diagnosis" not in text for text in statuses)  # content is off
    assert any("HTTP 400" in text for text in statuses)


async def test_a_failed_tool_s_text_stays_out_of_spans_without_content(
    spans: InMemorySpanExporter,
) -> None:
    @tool
    def lookup(record: str) -> str:
        """Look a record up."""
        raise KeyError(f"no record for {record}")

    with MockChatServer() as server:
        server.add(Reply.tool_calls(("lookup", {"record": "PRIVATE-ARG"})), Reply.text("sorry"))
        async with server.chat_model() as model:
            await Agent(model, tools=[lookup]).run("find it")
    texts = [str(s.status.description) for s in spans.get_finished_spans()]
    assert "PRIVATE-ARG" not in "".join(texts)
    assert "tool_error" in texts


async def test_userinfo_and_secret_query_values_never_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentkit")
    port = free_port()  # nothing listens: the connection fails
    url = f"http://me:pa55w0rd-xyz@127.0.0.1:{port}/v1?key=sk-query-secret9&api-version=2024"
    model = ChatModel(base_url=url, model="m", retry=RetryPolicy(max_retries=1, sleep=_no_wait))
    async with model:
        with pytest.raises(ModelError) as raised:
            await model.complete(HELLO)
    shown = "\n".join([str(raised.value), repr(model), caplog.text])
    for secret in ("pa55w0rd-xyz", "sk-query-secret9", "me:"):
        assert secret not in shown
    assert f"127.0.0.1:{port}/v1/chat/completions?key=[redacted]" in str(raised.value)


async def test_a_query_inside_base_url_goes_after_the_path() -> None:
    with MockChatServer() as server:
        server.add(Reply.text("ok"))
        upper = server.base_url.replace("http://", "HTTP://")
        async with ChatModel(base_url=f"{upper}?api-version=2024-10-21", model="m") as model:
            answer = await model.complete(HELLO)
    assert answer.message.content == "ok"
    assert server.requests[0].path == "/v1/chat/completions?api-version=2024-10-21"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_is_refused_and_never_followed(stream: bool) -> None:
    with MockChatServer() as server:
        elsewhere = "https://evil.example/v1/chat/completions?token=abcdef123456"
        server.add(Fault("status", status=307, headers={"location": elsewhere}))
        model = ChatModel(base_url=server.base_url, api_key=KEY, model="m",
                          retry=RetryPolicy(sleep=_no_wait))  # fmt: skip
        async with model:
            with pytest.raises(ModelConfigurationError, match="answered 307, redirecting to "
                               r"https://evil\.example/v1/chat/completions\?token=\[redacted\]"):  # fmt: skip
                await (_streamed(model) if stream else model.complete(HELLO))
    assert len(server.requests) == 1  # not retried, not followed


async def _streamed(model: ChatModel) -> None:
    async with model.stream(HELLO) as deltas:
        async for _ in deltas:
            pass


def test_a_key_over_plain_http_beyond_this_machine_is_warned_once() -> None:
    endpoint = Endpoint("http://10.1.2.3/v1", "/chat/completions", api_key="k")
    with pytest.warns(PlainHTTPKeyWarning, match="unencrypted to 10.1.2.3"):
        endpoint.warn_plain_http(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        endpoint.warn_plain_http(True)  # once only
        Endpoint("http://127.0.0.1/v1", "/x", api_key="k").warn_plain_http(True)
        Endpoint("https://10.1.2.3/v1", "/x", api_key="k").warn_plain_http(True)


def test_the_command_refuses_a_key_over_plain_http_unless_allowed() -> None:
    from tests.cli.test_cli import in_process

    env = {"AIMLAPI_API_KEY": KEY, "PATH": "/usr/bin"}
    refused = in_process(["run", "hi", "--base-url", "http://10.1.2.3/v1", "--no-session"], env, "")
    assert refused.returncode == 2
    assert "--allow-http" in refused.stderr
    assert KEY not in refused.stderr


async def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nowhere/ca.pem")
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    async with ChatModel(base_url="https://127.0.0.1:9/v1", api_key="k", model="m") as model:
        with pytest.raises(ModelConfigurationError, match=r"SSL_CERT_FILE names /nowhere/ca\.pem"):
            await model.complete(HELLO)


async def test_a_socks_proxy_without_its_extra_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("anyio")  # always there; socksio is what must be missing
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    async with ChatModel(base_url="https://127.0.0.1:9/v1", api_key="k", model="m") as model:
        with pytest.raises(ModelConfigurationError, match=r'pip install "httpx\[socks\]"'):
            await model.complete(HELLO)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize(
    ("names", "expired", "said"),
    [
        (("127.0.0.1",), True, "has expired"),
        (("other.example",), False, "for another host name"),
    ],
)
async def test_each_certificate_failure_says_what_it_was(
    ca: trustme.CA, tmp_path: object, monkeypatch: pytest.MonkeyPatch,
    names: tuple[str, ...], expired: bool, said: str,
) -> None:  # fmt: skip
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = f"{tmp_path}/ca.pem"
    ca.cert_pem.write_to_path(path)
    monkeypatch.setenv("SSL_CERT_FILE", path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    past = datetime.datetime(2020, 1, 2, tzinfo=datetime.UTC)
    options = (
        {"not_before": past - datetime.timedelta(days=2), "not_after": past} if expired else {}
    )
    ca.issue_cert(*names, **options).configure_cert(context)
    with MockChatServer(ssl_context=context) as server:
        async with ChatModel(base_url=server.base_url, api_key="k", model="m") as model:
            with pytest.raises(ModelConfigurationError, match=said):
                await model.complete(HELLO)
