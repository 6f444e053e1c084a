"""The model boundary against a raw-socket server's edge cases, on asyncio and trio.

Each case misbehaves for the prompt "first" only; then a second request on the same model
must be answered correctly (the echo shows that no answer crossed over to it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio
import pytest

from agentkit import (
    Agent,
    ChatModel,
    ModelConnectionError,
    ModelError,
    ModelResponseError,
    RetryPolicy,
    StreamInterrupted,
)
from tests.agents import run_agent
from tests.edge_server import (
    CLOSE,
    RESET,
    Action,
    EdgeServer,
    Seen,
    chunk_event,
    chunked,
    completion_json,
    deflated,
    echo_answer,
    gzipped,
    head,
    json_answer,
    pause,
    sse_head,
    text_events,
    with_length,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, params=["llhttp", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case against both response parsers: llhttp (the default) and h11 (the fallback)."""
    monkeypatch.setenv("AGENTKIT_HTTP_PARSER", request.param)
    return str(request.param)


HANG_GUARD = 20  # seconds: a case that hangs fails instead of stalling the suite


async def no_sleep(_: float) -> None:
    pass


def model_for(server: EdgeServer, retries: int = 1) -> ChatModel:
    return ChatModel(
        base_url=server.base_url,
        api_key="sk-edge",
        model="edge",
        retry=RetryPolicy(max_retries=retries, sleep=no_sleep),
    )


async def ask(model: ChatModel, prompt: str, stream: bool) -> str:
    with anyio.fail_after(HANG_GUARD):
        result, _ = await run_agent(Agent(model), prompt, streamed=stream)
    return str(result.output)


def first_only(bad: Callable[[Seen], list[Action]]) -> Callable[[Seen], list[Action]]:
    """Misbehave for the prompt 'first'; answer everything else well."""
    return lambda seen: bad(seen) if seen.prompt == "first" else [echo_answer(seen)]


@dataclass(frozen=True)
class Expect:
    output: str | None = None
    error: type[ModelError] | None = None
    match: str = ""


def sse_text(text: str, *headers: str, **chunking: str) -> bytes:
    return sse_head(*headers) + chunked(*text_events(text), **chunking)


def open_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body, without the terminator that would end the body."""
    return chunked(data).removesuffix(b"0\r\n\r\n")


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


ODD_SSE = (
    ": a comment\r\nid: 7\r\n"
    + 'data:{"choices":[{"index":0,"delta":{"role":"assistant","content":"é"}}]}\r\n\r\n'
    + 'data: {"choices":[{"index":0,"delta":{"content":"👍 ok"}}]}\r\r'
    + 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    + "data: [DONE]\n\n"
).encode()
USAGE_LAST = [
    *text_events("counted")[:-1],
    chunk_event({}).replace(
        b'"choices": [{"index": 0, "delta": {}, "finish_reason": null}]',
        b'"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}',
    ),
    b"data: [DONE]\n\n",
]

CASES: dict[str, tuple[bool, Callable[[Seen], list[Action]], Expect]] = {
    "interim-100-plain": (
        False,
        lambda seen: [head("100 Continue"), echo_answer(seen)],
        Expect("echo: first"),
    ),
    "interim-103-streamed": (
        True,
        lambda seen: [head("103 Early Hints", "Link: </s.css>; rel=preload"), echo_answer(seen)],
        Expect("echo: first"),
    ),
    "switching-protocols-101": (
        False,
        first_only(lambda _: [head("101 Switching Protocols", "Upgrade: websocket"), CLOSE]),
        Expect(error=ModelConnectionError, match="malformed response.*(101|SWITCH_UPGRADE)"),
    ),
    "linger-after-done": (
        True,
        first_only(
            lambda _: [
                sse_head() + b"".join(open_chunk(e) for e in text_events("lingered")),
                *[open_chunk(b": ping\n\n"), pause(0.05)] * 400,
            ]
        ),
        Expect("lingered"),
    ),
    "idle-close-after-answer": (
        False,
        lambda seen: [echo_answer(seen), pause(0.05), CLOSE],
        Expect("echo: first"),
    ),
    "reset-after-answer": (
        True,
        lambda seen: [echo_answer(seen), RESET],
        Expect("echo: first"),
    ),
    "close-racing-the-next-request": (
        False,
        lambda seen: [CLOSE] if seen.number == 2 else [echo_answer(seen)],
        Expect("echo: first"),
    ),
    "connection-close": (
        False,
        lambda seen: [json_answer(f"echo: {seen.prompt}", "Connection: close"), CLOSE],
        Expect("echo: first"),
    ),
    "http-1.0-with-length": (
        False,
        lambda seen: [json_answer(f"echo: {seen.prompt}", version="HTTP/1.0"), CLOSE],
        Expect("echo: first"),
    ),
    "http-1.0-read-to-close": (
        True,
        first_only(
            lambda seen: [
                head("200 OK", "Content-Type: text/event-stream", version="HTTP/1.0"),
                *text_events(f"echo: {seen.prompt}"),
                CLOSE,
            ]
        ),
        Expect("echo: first"),
    ),
    "gzip-plain": (
        False,
        first_only(
            lambda _: [
                with_length(
                    gzipped(completion_json("zipped")),
                    "Content-Type: application/json",
                    "Content-Encoding: gzip",
                )
            ]
        ),
        Expect("zipped"),
    ),
    "deflate-plain": (
        False,
        first_only(
            lambda _: [
                with_length(
                    deflated(completion_json("deflated")),
                    "Content-Type: application/json",
                    "Content-Encoding: deflate",
                )
            ]
        ),
        Expect("deflated"),
    ),
    "gzip-sse": (
        True,
        first_only(
            lambda _: [
                sse_head("Content-Encoding: gzip")
                + chunked(*split_every(gzipped(b"".join(text_events("zipped stream"))), 40))
            ]
        ),
        Expect("zipped stream"),
    ),
    "deflate-sse": (
        True,
        first_only(
            lambda _: [
                sse_head("Content-Encoding: deflate")
                + chunked(*split_every(deflated(b"".join(text_events("deflated stream"))), 40))
            ]
        ),
        Expect("deflated stream"),
    ),
    "chunk-extensions-and-trailers": (
        True,
        lambda seen: [
            sse_text(f"echo: {seen.prompt}", extension=";name=value", trailers="X-Done: 1\r\n")
            if seen.stream
            else echo_answer(seen)
        ],
        Expect("echo: first"),
    ),
    "sse-comments-ids-crlf-cr-no-space-split-utf8": (
        True,
        first_only(lambda _: [sse_head() + chunked(*split_every(ODD_SSE, 1))]),
        Expect("é👍 ok"),
    ),
    "missing-done": (
        True,
        first_only(lambda _: [sse_head() + chunked(*text_events("cut short")[:-1])]),
        Expect(error=StreamInterrupted, match="before \\[DONE\\]"),
    ),
    "usage-only-in-the-last-chunk": (
        True,
        first_only(lambda _: [sse_head() + chunked(*USAGE_LAST)]),
        Expect("counted"),
    ),
    "first-chunk-with-no-choices": (
        True,
        first_only(
            lambda _: [
                sse_head()
                + chunked(
                    b'data: {"choices": [], "prompt_filter_results": []}\n\n',
                    *text_events("filtered"),
                )
            ]
        ),
        Expect("filtered"),
    ),
    "html-200-to-a-stream": (
        True,
        first_only(
            lambda _: [
                with_length(b"<html><title>Sign in</title></html>", "Content-Type: text/html")
            ]
        ),
        Expect(error=ModelResponseError, match="text/html"),
    ),
    "plain-json-to-a-stream": (
        True,
        lambda seen: [json_answer(f"echo: {seen.prompt}")],
        Expect("echo: first"),
    ),
    "bad-content-length": (
        False,
        first_only(
            lambda _: [
                head("200 OK", "Content-Type: application/json", "Content-Length: abc")
                + completion_json("never")
            ]
        ),
        Expect(error=ModelConnectionError, match="malformed response"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_edge_case_then_a_second_request(name: str) -> None:
    stream, case, expect = CASES[name]
    with EdgeServer(case) as server:
        async with model_for(server) as model:
            if expect.error is None:
                assert await ask(model, "first", stream) == expect.output
            else:
                with pytest.raises(expect.error, match=expect.match):
                    await ask(model, "first", stream)
            if name == "idle-close-after-answer":
                await anyio.sleep(0.2)  # the server closes the idle connection meanwhile
            assert await ask(model, "second", stream) == "echo: second"
            assert await ask(model, "third", not stream) == "echo: third"
    prompts = [seen.prompt for seen in server.seen]
    assert prompts[-2:] == ["second", "third"]


@pytest.mark.parametrize("interim", ["100 Continue", "103 Early Hints"])
async def test_interim_replies_never_cross_answers_between_runs(interim: str) -> None:
    """The issue's repro: three runs on one model, one kept-alive connection."""
    with EdgeServer(lambda seen: [head(interim), echo_answer(seen)]) as server:
        async with model_for(server, retries=0) as model:
            outputs = [await ask(model, prompt, False) for prompt in ("one", "two", "three")]
    assert outputs == ["echo: one", "echo: two", "echo: three"]
    assert {seen.connection for seen in server.seen} == {1}


async def test_a_kept_alive_connection_is_reused_after_a_complete_response() -> None:
    with EdgeServer(lambda seen: [echo_answer(seen)]) as server:
        async with model_for(server, retries=0) as model:
            for prompt in ("a", "b"):
                await ask(model, prompt, True)
                await ask(model, prompt, False)
    assert {seen.connection for seen in server.seen} == {1}


async def test_every_request_says_who_it_is_and_what_it_accepts() -> None:
    with EdgeServer(lambda seen: [echo_answer(seen)]) as server:
        async with model_for(server, retries=0) as model:
            await ask(model, "plain", False)
            await ask(model, "streamed", True)
    plain, streamed = (seen.headers for seen in server.seen)
    assert plain["user-agent"].startswith("agentkit/")
    assert plain["accept"] == "application/json"
    assert streamed["accept"] == "text/event-stream"
    assert plain["accept-encoding"] == streamed["accept-encoding"] == "gzip, deflate"
