"""Parsing workloads that need no server: HTTP/1.1 framing by h11 and by httptools, and SSE.

`http-parse`: one unit is what the transport parses for one plain and one streamed exchange
(a JSON completion with Content-Length, and a chunked SSE answer of 24 events), fed as it
arrives in 4 KiB reads: h11 and httptools (llhttp, the parser behind uvicorn) bare, and
agentkit's two framers over them (`models/_framing.py`: the request written, neutral events,
the reuse verdict), llhttp being the default since #26. `sse-long-line`: one streamed `data:` line of 64 MB,
read through agentkit's SSE parser in 64 KiB pieces (linear, whatever the line length).
`request-build`: one unit is the JSON body of the tool loop's second request (system, user,
assistant with two calls, two tool results, one strict tool, max_tokens and temperature set),
built and serialised with no profile, and through OpenAI's reasoning-model profile, which
renames `max_tokens`, rewrites the system role and drops `temperature` with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

READ = 4096
LONG_LINE_MB = 64


def _responses() -> list[bytes]:
    completion = json.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "mock-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hello " * 40},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 40, "total_tokens": 50},
        }
    ).encode()
    plain = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: r1\r\n"
        b"date: Fri, 04 Dec 2026 00:00:00 GMT\r\nserver: mock\r\n"
        + f"content-length: {len(completion)}\r\n\r\n".encode()
        + completion
    )
    event = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"word "}}]}\n\n'
    body = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for _ in range(24)) + b"0\r\n\r\n"
    streamed = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nx-request-id: r2\r\n\r\n" + body
    )
    return [plain, streamed]


REQUEST_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"authorization", b"Bearer mock-key"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/json"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"user-agent", b"agentkit/bench"),
    (b"content-length", b"64"),
]


def h11_parse() -> Callable[[str], Awaitable[None]]:
    import h11

    responses = _responses()
    connection = h11.Connection(h11.CLIENT)

    async def work(_: str) -> None:
        for raw in responses:
            connection.send(
                h11.Request(method=b"POST", target=b"/v1/chat/completions", headers=REQUEST_HEADERS)
            )
            connection.send(h11.Data(data=b"x" * 64))
            connection.send(h11.EndOfMessage())
            for start in range(0, len(raw), READ):
                connection.receive_data(raw[start : start + READ])
                while True:
                    event = connection.next_event()
                    if event is h11.NEED_DATA or type(event) is h11.EndOfMessage:
                        break
            connection.start_next_cycle()

    return work


def httptools_parse() -> Callable[[str], Awaitable[None]]:
    import httptools

    responses = _responses()

    class Events:
        def __init__(self) -> None:
            self.headers: list[tuple[bytes, bytes]] = []
            self.body: list[bytes] = []
            self.done = False

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            self.done = True

    async def work(_: str) -> None:
        for raw in responses:
            head = b"POST /v1/chat/completions HTTP/1.1\r\n"
            head += b"".join(name + b": " + value + b"\r\n" for name, value in REQUEST_HEADERS)
            events = Events()
            parser = httptools.HttpResponseParser(events)
            for start in range(0, len(raw), READ):
                parser.feed_data(raw[start : start + READ])
            assert events.done

    return work


def framer_parse(parser: str) -> Callable[[], Callable[[str], Awaitable[None]]]:
    """agentkit's own framer (what the transport runs): the request written, the response read."""

    def build() -> Callable[[str], Awaitable[None]]:
        from agentkit.models._framing import END, NEED_DATA, framer_for

        responses = _responses()

        async def work(_: str) -> None:
            for raw in responses:
                framer = framer_for(parser, b"POST")  # type: ignore[arg-type]
                framer.request(b"POST", b"/v1/chat/completions", REQUEST_HEADERS, [b"x" * 64])
                done = False
                for start in range(0, len(raw), READ):
                    framer.receive(raw[start : start + READ])
                    while (event := framer.next_event()) is not NEED_DATA:
                        done = done or event is END
                assert done
                assert framer.reusable()

        return work

    return build


def sse_long_line() -> Callable[[str], Awaitable[None]]:
    from agentkit.models._chat_sse import SSEParser

    raw = b"data: " + b"x" * (LONG_LINE_MB * 1024 * 1024) + b"\n\n"
    step = 65536

    async def work(_: str) -> None:
        parser = SSEParser()
        events = []
        for start in range(0, len(raw), step):
            events += parser.feed(raw[start : start + step])
        assert len(events) == 1

    return work


def request_build(profiled: bool) -> Callable[[], Callable[[str], Awaitable[None]]]:
    def make() -> Callable[[str], Awaitable[None]]:
        import warnings

        from pydantic_core import to_json

        from agentkit import (
            AssistantMessage,
            ModelRequest,
            ModelSettings,
            SystemMessage,
            ToolCall,
            ToolMessage,
            UserMessage,
            tool,
        )
        from agentkit.models import PROVIDERS
        from agentkit.models._chat_wire import OPEN_PROFILE, encode_request

        @tool(strict=True)
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

        calls = (ToolCall(id="c1", name="add", arguments='{"a":1,"b":2}'),
                 ToolCall(id="c2", name="add", arguments='{"a":3,"b":4}'))  # fmt: skip
        request = ModelRequest(
            messages=(
                SystemMessage(content="Be brief."),
                UserMessage(content="Add"),
                AssistantMessage(tool_calls=calls),
                ToolMessage(tool_call_id="c1", content="3"),
                ToolMessage(tool_call_id="c2", content="7"),
            ),
            tools=(add.definition(),),
            settings=ModelSettings(max_tokens=200, temperature=0.2, tool_choice="auto"),
        )
        profile = PROVIDERS["openai"].profile_for("gpt-5") if profiled else OPEN_PROFILE
        warnings.simplefilter("ignore")  # shown once per place to users; not the cost here

        async def work(_: str) -> None:
            to_json(encode_request(request, model="gpt-5", profile=profile))

        return work

    return make


PARSERS = {
    "h11": h11_parse,
    "httptools": httptools_parse,
    "agentkit-h11": framer_parse("h11"),
    "agentkit-llhttp": framer_parse("llhttp"),
}
BUILDS = {"no-profile": request_build(False), "agentkit": request_build(True)}
LONG_LINE = {"agentkit": sse_long_line}
