"""HTTP/1.1 framing for `MockChatServer`: heads, bodies, chunks, faults, and resets.

Written by hand on purpose: the server must be able to send what a broken or hostile server
sends (a cut stream, a TCP reset, an error in the middle of a stream), which a maintained
server library would not.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc

from ._script import Fault, error_body

__all__ = [
    "REASONS",
    "TOO_LONG",
    "chunk",
    "json_or_none",
    "parse_head",
    "reset",
    "response_head",
    "send",
    "send_fault",
    "sleep_for",
    "stream_fault",
]

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 409: "Conflict", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip

TOO_LONG: dict[str, tuple[int, dict[str, Any]]] = {
    "openai": (400, {"error": {
        "message": "This model's maximum context length is {window} tokens. However, your "
        "messages resulted in {tokens} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded",
    }}),
    "vllm": (400, {
        "object": "error", "message": "This model's maximum context length is {window} tokens. "
        "However, you requested {tokens} tokens. Please reduce the length of the messages or "
        "completion.", "type": "BadRequestError", "param": None, "code": 400,
    }),
    "llamacpp": (400, {"error": {
        "code": 400, "message": "the request exceeds the available context size. try "
        "increasing the context size or enable context shift",
        "type": "exceed_context_size_error", "n_prompt_tokens": "{tokens}", "n_ctx": "{window}",
    }}),
}  # fmt: skip
"""Providers' answers to a prompt over the window (tests/data/context_errors.json has more)."""


async def stream_fault(stream: anyio.abc.ByteStream, fault: Fault, keep_alive: bool) -> bool:
    if fault.kind == "cut":
        await reset(stream)
        return False
    if fault.kind == "stream_error":
        error = {"error": {"message": fault.message, "type": "server_error", "code": "overloaded"}}
        await stream.send(chunk(f"data: {json.dumps(error)}\n\n".encode()))
    await stream.send(b"0\r\n\r\n")  # a clean end of the body, with no [DONE]
    return keep_alive


async def sleep_for(seconds: float) -> None:
    if seconds > 0:
        await anyio.sleep(seconds)


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, path, headers


def json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def response_head(
    status: int,
    content_type: str,
    keep_alive: bool,
    *,
    length: int | None = None,
    chunked: bool = False,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"content-type: {content_type}"]
    lines.append("transfer-encoding: chunked" if chunked else f"content-length: {length or 0}")
    lines.append("connection: keep-alive" if keep_alive else "connection: close")
    lines.extend(f"{name}: {value}" for name, value in (extra or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    stream: anyio.abc.ByteStream,
    status: int,
    content_type: str,
    body: bytes,
    keep_alive: bool,
    extra: Mapping[str, str] | None = None,
) -> None:
    framed = response_head(status, content_type, keep_alive, length=len(body), extra=extra)
    await stream.send(framed + body)


async def send_fault(stream: anyio.abc.ByteStream, fault: Fault, keep_alive: bool) -> None:
    request_id = fault.headers.get("x-request-id", "req_mock")
    content_type, body = error_body(fault, request_id)
    await send(stream, fault.status, content_type, body, keep_alive, fault.headers)


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def reset(stream: anyio.abc.ByteStream) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0) instead of a clean close."""
    raw: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()
