"""A raw-socket HTTP server for edge cases no well-behaved server produces on purpose.

Each request is answered by a `Case`: a function of the request (its number, its connection's
number, its JSON body) returning the exact actions to take on the socket: bytes to write,
pauses, a close or a reset. It runs in a thread with blocking sockets, so it serves tests on
asyncio and trio alike, and it answers with the last user message so that an answer given
to the wrong request is visible.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Seen:
    """One request the server read."""

    number: int
    connection: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def prompt(self) -> str:
        return str(self.body["messages"][-1]["content"])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


CLOSE = ("close",)
RESET = ("reset",)
UNTIL_CLIENT_CLOSES = ("until-client-closes",)
"""Answer nothing; wait until the client closes the connection (recorded in `closed_connections`)."""
Action = bytes | tuple[str] | tuple[str, float]
Case = Callable[[Seen], list[Action]]


def pause(seconds: float) -> tuple[str, float]:
    return ("sleep", seconds)


@dataclass
class EdgeServer:
    """Serve `case` on 127.0.0.1 until closed; `seen` records every request."""

    case: Case
    seen: list[Seen] = field(default_factory=list)
    closed_connections: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.a_connection_closed = threading.Event()
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def __enter__(self) -> EdgeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def _accept(self) -> None:
        connection_number = 0
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            connection_number += 1
            thread = threading.Thread(
                target=self._serve, args=(connection, connection_number), daemon=True
            )
            thread.start()

    def _serve(self, connection: socket.socket, number: int) -> None:
        with connection:
            for seen in _requests(connection, number, self):
                if not self._answer(connection, seen):
                    break
        with self._lock:
            self.closed_connections.append(number)
        self.a_connection_closed.set()

    def _answer(self, connection: socket.socket, seen: Seen) -> bool:
        for action in self.case(seen):
            try:
                if isinstance(action, bytes):
                    connection.sendall(action)
                elif action[0] == "sleep":
                    time.sleep(float(action[1]))  # type: ignore[misc]
                elif action[0] == "close":
                    connection.shutdown(socket.SHUT_RDWR)
                    return False
                elif action[0] == "until-client-closes":
                    while connection.recv(4096):
                        pass
                    return False
                elif action[0] == "reset":
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    return False
            except OSError:  # the client went away: fine, it may have closed on purpose
                return False
        return True

    def record(self, connection: int, body: dict[str, Any], headers: dict[str, str]) -> Seen:
        with self._lock:
            seen = Seen(len(self.seen) + 1, connection, body, headers)
            self.seen.append(seen)
        return seen


def _requests(connection: socket.socket, number: int, server: EdgeServer) -> Iterator[Seen]:
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            data = _recv(connection)
            if not data:
                return
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            data = _recv(connection)
            if not data:
                return
            buffer += data
        body, buffer = buffer[:length], buffer[length:]
        yield server.record(number, json.loads(body or b"{}"), headers)


def _recv(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except OSError:
        return b""


# -- answers -------------------------------------------------------------------------------


def completion_json(text: str, **extra: Any) -> bytes:
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "edge",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            **extra,
        }
    ).encode()


def chunk_event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    payload = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "edge",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def text_events(text: str) -> list[bytes]:
    """A streamed answer of `text` in three deltas, then `[DONE]`."""
    third = max(1, len(text) // 3)
    pieces = [text[:third], text[third : 2 * third], text[2 * third :]]
    return [
        chunk_event({"role": "assistant", "content": ""}),
        *(chunk_event({"content": piece}) for piece in pieces if piece),
        chunk_event({}, "stop"),
        b"data: [DONE]\n\n",
    ]


def head(
    status: str = "200 OK",
    *headers: str,
    version: str = "HTTP/1.1",
) -> bytes:
    return ("\r\n".join([f"{version} {status}", *headers]) + "\r\n\r\n").encode()


def with_length(body: bytes, *headers: str, status: str = "200 OK", **kw: Any) -> bytes:
    return head(status, *headers, f"Content-Length: {len(body)}", **kw) + body


def json_answer(text: str, *headers: str, **kw: Any) -> bytes:
    return with_length(completion_json(text), "Content-Type: application/json", *headers, **kw)


def chunked(*parts: bytes, extension: str = "", trailers: str = "") -> bytes:
    out = b"".join(f"{len(part):x}{extension}\r\n".encode() + part + b"\r\n" for part in parts)
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


def sse_head(*headers: str) -> bytes:
    return head("200 OK", "Content-Type: text/event-stream", "Transfer-Encoding: chunked", *headers)


def sse_answer(text: str) -> bytes:
    return sse_head() + chunked(*text_events(text))


def echo_answer(seen: Seen) -> bytes:
    """The well-behaved answer to a request: its prompt echoed, streamed if asked."""
    text = f"echo: {seen.prompt}"
    return sse_answer(text) if seen.stream else json_answer(text)


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def deflated(data: bytes) -> bytes:
    return zlib.compress(data)
