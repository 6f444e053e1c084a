"""Layer 3 (model boundary): HTTP/1.1 framing for the transport, by llhttp or by h11.

`PooledTransport` asks a framer to write one request and to read its response back as
neutral events: a `Head` (the final response's status and headers; interim `1xx` replies are
skipped), body `bytes`, then `END`. Two framers answer the same questions:

- `LLHttpFramer`: responses parsed by llhttp, the C parser behind Node.js and uvicorn (the
  `httptools` wheel), about 15x cheaper per response than h11; the default where it is
  installed (CPython; PyPy falls back).
- `H11Framer`: h11, the pure-Python state machine httpcore is built on; the fallback where no
  httptools wheel exists, for `HEAD` requests (whose answers carry no body llhttp would know
  to skip), and on request with `AGENTKIT_HTTP_PARSER=h11`.

Either way a connection is reused only after a completely framed response that both sides
may follow with another request (HTTP/1.1, no `Connection: close`, not read-to-close, nothing
after it). llhttp writes no requests: `LLHttpFramer` writes the request line and headers
itself after checking every name and value against RFC 9110's grammar (no CR, LF or NUL can
slip into the head), with a `Content-Length` body, which is the only kind the transport sends.
"""

from __future__ import annotations

import os
import re
from collections import deque
from typing import Any, Final, Literal, Protocol

import h11
import httpx

__all__ = ["END", "NEED_DATA", "Framer", "Head", "ParserName", "framer_for", "parser_choice"]

ParserName = Literal["llhttp", "h11"]
Headers = list[tuple[bytes, bytes]]

MAX_HEAD_BYTES = 256 * 1024
"""A response head (status line and headers) larger than this is refused."""

END: Final = "end"
"""The response's body is complete."""
NEED_DATA: Final = "need-data"
"""The framer needs more bytes from the network (or `b""` for the end of the stream)."""


class Head:
    """A final response's status line and headers."""

    __slots__ = ("headers", "reason", "status_code")

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], reason: bytes):
        self.status_code, self.headers, self.reason = status_code, headers, reason


class Framer(Protocol):
    """Writes one request and frames its response; made afresh for every exchange."""

    def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        parts: list[bytes],
    ) -> list[bytes]:
        """The bytes to send (head, then the body's parts); `httpx.LocalProtocolError` if bad."""
        ...

    def receive(self, data: bytes) -> None:
        """Bytes read from the network; `b""` when the server closed its side."""
        ...

    def next_event(self) -> Head | bytes | str:
        """The next `Head`, body bytes, `END`, or `NEED_DATA`."""
        ...

    def reusable(self) -> bool:
        """Whether the connection may carry another request (call after `END`)."""
        ...


def parser_choice(requested: str | None = None) -> ParserName:
    """The parser to use: `requested`, else `AGENTKIT_HTTP_PARSER`, else llhttp if installed."""
    name = requested or os.environ.get("AGENTKIT_HTTP_PARSER") or "auto"
    if name not in ("auto", "llhttp", "h11"):
        from agentkit._exceptions import ConfigurationError

        raise ConfigurationError(
            f"unknown HTTP parser {name!r} (AGENTKIT_HTTP_PARSER or parser=): "
            "use 'llhttp', 'h11' or 'auto'"
        )
    if name == "h11":
        return "h11"
    if _httptools() is not None:
        return "llhttp"
    if name == "llhttp":
        from agentkit._exceptions import ConfigurationError

        raise ConfigurationError(
            "the llhttp parser needs httptools: `pip install httptools`, or use parser='h11'"
        )
    return "h11"


def framer_for(parser: ParserName, method: bytes) -> Framer:
    """A framer for one exchange; `HEAD` always goes through h11 (llhttp would wait for a body)."""
    if parser == "llhttp" and method != b"HEAD":
        return LLHttpFramer()
    return H11Framer()


_HTTPTOOLS: Any = None


def _httptools() -> Any:
    """httptools, imported on first use (12 ms: not at `import agentkit`); None if missing."""
    global _HTTPTOOLS
    if _HTTPTOOLS is None:
        try:
            import httptools
        except ImportError:
            _HTTPTOOLS = False
        else:
            _HTTPTOOLS = httptools
    return _HTTPTOOLS or None


# RFC 9110 5.1 (token) and 5.5 (field-value: visible characters, spaces and tabs inside).
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_METHOD = _NAME


def _request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    if not _METHOD.fullmatch(method) or not _TARGET.fullmatch(target):
        raise httpx.LocalProtocolError(f"cannot send this request: bad request line {method!r}")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _NAME.fullmatch(name) or not _VALUE.fullmatch(value):
            raise httpx.LocalProtocolError(
                f"cannot send this request: header {name[:40]!r} has a character HTTP forbids"
            )
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class LLHttpFramer:
    """Responses framed by llhttp (httptools), requests written by `_request_head`."""

    def __init__(self) -> None:
        self._parser = _httptools().HttpResponseParser(self)
        self._events: deque[Head | bytes | str] = deque()
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self._head_done = False  # the final response's head was read
        self._head_bytes = 0
        self._complete = False
        self._keep_alive = False
        self._until_eof = False  # the body ends when the server closes the connection
        self._after = False  # bytes arrived after the complete response
        self._error: httpx.RemoteProtocolError | None = None

    def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        parts: list[bytes],
    ) -> list[bytes]:
        return [_request_head(method, target, headers), *parts]

    def receive(self, data: bytes) -> None:
        if self._complete:
            self._after = self._after or bool(data)
            return
        if not data:
            self._closed()
            return
        try:
            self._parser.feed_data(data)
        except Exception as error:  # httptools' errors and our own raised inside a callback
            if self._complete:  # garbage after a complete response: never read as an answer
                self._after = True
                return
            raise self._error or _malformed(error) from error
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError("malformed response: its head is over 256 KiB")

    def _closed(self) -> None:
        if self._head_done and self._until_eof:  # a read-to-close body ends here
            self._complete, self._keep_alive = True, False
            self._events.append(END)
            return
        raise httpx.RemoteProtocolError(
            "malformed response: the server closed the connection before it was complete"
            if self._head_done or self._head_bytes
            else "server disconnected"
        )

    def next_event(self) -> Head | bytes | str:
        return self._events.popleft() if self._events else NEED_DATA

    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self._after

    # llhttp's callbacks, in the order it calls them.
    def on_message_begin(self) -> None:
        if self._complete:
            self._after = True

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._head_done:  # later ones are a chunked body's trailers
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                self._error = httpx.RemoteProtocolError(
                    "malformed response: 101 Switching Protocols, which was not asked for"
                )
                raise self._error
            return  # an interim reply: skipped, its headers with it
        self._head_done = True
        self._until_eof = status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )
        self._events.append(Head(status, self._headers, self._reason))

    def on_body(self, data: bytes) -> None:
        self._events.append(data)

    def on_message_complete(self) -> None:
        if not self._head_done:  # the end of an interim reply: the final one follows
            self._headers, self._reason = [], b""
            return
        self._complete = True
        self._keep_alive = (
            self._parser.should_keep_alive() and self._parser.get_http_version() == "1.1"
        )
        self._events.append(END)


class H11Framer:
    """Requests and responses framed by h11."""

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        parts: list[bytes],
    ) -> list[bytes]:
        connection = self._h11
        try:
            head = h11.Request(method=method, target=target, headers=headers)
            pieces = [connection.send(head) or b""]
            for part in parts:
                if part:
                    pieces += connection.send_with_data_passthrough(h11.Data(data=part)) or []
            pieces.append(connection.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as error:
            raise httpx.LocalProtocolError(f"cannot send this request: {error}") from error
        return pieces

    def receive(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except h11.RemoteProtocolError as error:
            raise _malformed(error) from error

    def next_event(self) -> Head | bytes | str:
        while True:  # h11 refuses a 101 we did not ask for; other 1xx are skipped
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                raise _malformed(error) from error
            kind = type(event)
            if kind is h11.Data:
                return bytes(event.data)  # type: ignore[union-attr]
            if kind is h11.EndOfMessage:
                return END
            if kind is h11.Response:
                return Head(event.status_code, event.headers.raw_items(), event.reason)  # type: ignore[union-attr]
            if event is h11.NEED_DATA:
                return NEED_DATA
            if kind is h11.ConnectionClosed:
                raise httpx.RemoteProtocolError("server disconnected")

    def reusable(self) -> bool:
        connection = self._h11
        if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
            return False
        connection.start_next_cycle()
        # Bytes after a complete response are not an answer to anything we asked; a body
        # read to the end of the stream left nothing to reuse.
        data, closed = connection.trailing_data
        return not data and not closed


def _malformed(error: BaseException) -> httpx.RemoteProtocolError:
    """The parser's verdict on a malformed response, as httpx's exception."""
    return httpx.RemoteProtocolError(f"malformed response: {error}")
