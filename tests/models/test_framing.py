"""HTTP/1.1 framing: llhttp (the default) and h11 (the fallback) agree on every response."""

from __future__ import annotations

import anyio
import httpx
import pytest

from agentkit import ConfigurationError
from agentkit.models._framing import (
    END,
    NEED_DATA,
    H11Framer,
    Head,
    LLHttpFramer,
    parser_choice,
)
from agentkit.models._transport import PooledTransport

from .test_transport import CannedServer

HEADERS = [(b"Host", b"example.test"), (b"Content-Type", b"application/json")]

RESPONSES = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "chunked-trailers": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n"
    ),
    "interim-then-final": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    ),
    "no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "connection-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "http-1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "read-to-close": b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
    "answer-twice": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"
    ),
    "garbage-after": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneXYZ",
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
}

MALFORMED = {
    "no-status": b"garbage\r\n\r\n",
    "wrong-protocol": b"SPDY/3 200 OK\r\n\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "length-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok"
    ),
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    "cut-short": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly part",
    "head-cut-short": b"HTTP/1.1 200 OK\r\nContent-Le",
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    "huge-head": b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 300_000 + b"\r\n\r\n",
}


def frame(framer: H11Framer | LLHttpFramer, raw: bytes, step: int) -> tuple[object, ...]:
    """Feed `raw` in pieces of `step` bytes, then the end of the stream; what was framed."""
    framer.request(b"POST", b"/v1/x", [*HEADERS, (b"Content-Length", b"2")], [b"{}"])
    head: Head | None = None
    body, ended = b"", False
    pieces = [raw[i : i + step] for i in range(0, len(raw), step)] + [b""]
    for piece in pieces:
        framer.receive(piece)
        while not ended and (event := framer.next_event()) is not NEED_DATA:
            if isinstance(event, Head):
                head = event
            elif event is END:
                ended = True  # the transport reads no further either
            else:
                body += event  # type: ignore[operator]
        if ended:
            break
    assert head is not None
    assert ended
    headers = [(name.lower(), value) for name, value in head.headers]
    return head.status_code, head.reason, headers, body, framer.reusable()


@pytest.mark.parametrize("name", list(RESPONSES))
@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_both_parsers_frame_every_response_alike(name: str, step: int) -> None:
    raw = RESPONSES[name]
    assert frame(LLHttpFramer(), raw, step) == frame(H11Framer(), raw, step)
    status, _, _, body, reusable = frame(LLHttpFramer(), raw, step)
    if name in ("answer-twice", "garbage-after") and step < len(raw):
        return  # the extra bytes come in a later read: the pool's idle check finds those
    reuse = ("length", "chunked-trailers", "interim-then-final", "no-content", "no-reason")
    assert reusable == (name in reuse), name
    if name == "interim-then-final":
        assert (status, body) == (201, b"ok")


@pytest.mark.parametrize("name", list(MALFORMED))
@pytest.mark.parametrize("framer", [LLHttpFramer, H11Framer])
def test_malformed_responses_are_refused_by_both(name: str, framer: type) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="malformed response"):
        frame(framer(), MALFORMED[name], 4096)


@pytest.mark.parametrize("framer", [LLHttpFramer, H11Framer])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X-Ok", b"a\r\nX-Injected: 1"),
        (b"X-Ok", b"a\nb"),
        (b"X-Ok", b"a\x00b"),
        (b"X Bad", b"v"),
        (b"X-Bad:", b"v"),
        (b"", b"v"),
    ],
)
def test_headers_that_could_split_the_request_are_refused(
    framer: type, name: bytes, value: bytes
) -> None:
    with pytest.raises(httpx.LocalProtocolError, match="cannot send this request"):
        framer().request(b"POST", b"/x", [*HEADERS, (name, value)], [b""])


def test_both_write_the_same_request_bytes() -> None:
    headers = [*HEADERS, (b"X-Tab", b"a\tb c"), (b"X-Empty", b""), (b"Content-Length", b"7")]
    ours = LLHttpFramer().request(b"POST", b"/v1/chat?q=1", headers, [b"payload"])
    h11s = H11Framer().request(b"POST", b"/v1/chat?q=1", headers, [b"payload"])
    assert b"".join(ours) == b"".join(h11s)
    with pytest.raises(httpx.LocalProtocolError):
        LLHttpFramer().request(b"POST", b"/x y", HEADERS, [b""])


def test_the_parser_is_chosen_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTKIT_HTTP_PARSER", raising=False)
    assert parser_choice() == "llhttp"  # httptools is installed with agentkit on CPython
    monkeypatch.setenv("AGENTKIT_HTTP_PARSER", "h11")
    assert parser_choice() == "h11"
    assert PooledTransport().parser == "h11"
    assert PooledTransport(parser="llhttp").parser == "llhttp"
    with pytest.raises(ConfigurationError, match="use 'llhttp', 'h11' or 'auto'"):
        parser_choice("picohttp")  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("parser", ["llhttp", "h11"])
async def test_a_head_request_reads_no_body_and_keeps_its_connection(parser: str) -> None:
    """llhttp cannot know a HEAD answer has no body: HEAD goes through h11."""
    server = CannedServer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    try:
        transport = PooledTransport(parser=parser)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                with anyio.fail_after(5):
                    response = await client.head(server.url)
                assert (response.status_code, response.content) == (200, b"")
        assert transport.opened == 1
    finally:
        server.close()
