"""`MockChatServer`: a real HTTP/1.1 server on 127.0.0.1 that speaks the chat-completions wire.

It runs its own event loop in a background thread, so sync tests, async tests (on asyncio or
trio) and other processes can all use it. It replays a script of `Reply`/`Fault` items in
order (or asks a responder function), records every request, and can validate each request
body with a function you give it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.tls import TLSListener

from agentkit.models._chat import ChatModel
from agentkit.models._responses import ResponsesModel

from ._responses import SSE, input_messages, response_body, response_events, uses_responses
from ._script import Fault, Renderer, Reply, default_usage
from ._wire import (
    TOO_LONG,
    chunk,
    json_or_none,
    parse_head,
    reset,
    response_head,
    send,
    send_fault,
    sleep_for,
    stream_fault,
)

__all__ = ["MockChatServer", "RecordedRequest", "Responder"]

Responder = Callable[["RecordedRequest"], "Reply | Fault"]
"""A function that answers a request when the script is empty."""

_MAX_HEADER_BYTES = 64 * 1024
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CLIENT_GONE = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.DelimiterNotFound,
    ConnectionError,
)
logger = logging.getLogger("agentkit.testing")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    """The request target as sent, with its query string (Azure's `?api-version=...`)."""
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: Any
    """The parsed JSON body (`None` when it was not JSON)."""
    connection: int = 0
    """Which TCP connection carried it (numbered from 1 in order of arrival)."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's `messages` (empty when absent).

        A Responses request's `input` is read in the same shape, so a responder answers
        both dialects.
        """
        if uses_responses(self.path):
            return input_messages(self.body)
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def client_request_id(self) -> str | None:
        """The `X-Client-Request-Id` as AI/ML API keeps it.

        1-128 characters of `A-Za-z0-9._:-`; any other value is dropped (None), as that
        provider does without a word.
        """
        value = self.headers.get("x-client-request-id")
        return value if value is not None and _CLIENT_ID.fullmatch(value) else None

    @property
    def stream(self) -> bool:
        """Whether the request asked for a stream."""
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


class MockChatServer:
    """A loopback chat-completions server with scripted replies and injected faults.

    ```python
    with MockChatServer([Reply.tool_calls(("add", {"a": 1, "b": 2})), Reply.text("3")]) as server:
        model = server.chat_model()        # a ChatModel pointed at it
        ...
        server.requests[0].body["tools"]
    ```
    """

    def __init__(
        self,
        script: Iterable[Reply | Fault] = (),
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        idle_timeout: float | None = None,
        validate: Callable[[Any], list[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        usd_per_request: str | None = None,
        context_window: int | None = None,
        context_error: str = "openai",
        catalogue: Sequence[Mapping[str, Any]] | None = None,
        billed_models: Iterable[str] | None = None,
    ) -> None:
        """Prepare the server (it starts with `with`, `async with` or `start()`).

        Args:
            script: Replies and faults, used one per request in order.
            responder: Answers requests once the script is used up (default: a 500 error
                saying the script is empty).
            latency: Seconds to wait before every response.
            idle_timeout: Close a kept-alive connection after this many idle seconds (to
                test clients' handling of connections the server dropped).
            validate: Checks each request body; a non-empty list of problems answers 400.
            host: The loopback address to bind.
            port: The port (0 picks a free one).
            ssl_context: Serve HTTPS with this server context (its certificate and key), to
                test clients' TLS; `base_url` then starts with `https://`.
            usd_per_request: Report this charge as AI/ML API does (a decimal string): the
                `x-aimlapi-usd-spent` and `x-aimlapi-credits-used` headers on a Chat
                Completions answer, `meta.usage` in a stream's usage chunk (with the
                `obfuscation` field its chunks carry), and an `x-inference-id`.
            context_window: Refuse a request whose messages pass this many tokens (their
                JSON, four characters a token) as a provider does, without using the script.
            context_error: Whose "too long" answer to give: `openai`, `vllm`, `llamacpp`.
            catalogue: Serve these model entries at `GET /v1/models` (with an ETag), for
                `agentkit models --remote`.
            billed_models: Report charges (`usd_per_request`) only for requests naming one
                of these models: one server for a provider that reports and one that does not.
        """
        self.billed_models: frozenset[str] | None = (
            frozenset(billed_models) if billed_models is not None else None
        )
        self.catalogue = catalogue
        self.usd_per_request = usd_per_request
        self.context_window = context_window
        if context_error not in TOO_LONG:
            raise ValueError(f"context_error is one of {', '.join(TOO_LONG)}")
        self.context_error = context_error
        self.refused_as_too_long: int = 0
        """Requests answered "too long" (they did not use a scripted reply)."""
        self._script: deque[Reply | Fault] = deque(script)
        self._responder = responder
        self.latency = latency
        self._idle_timeout = idle_timeout
        self._connections = 0
        self._validate = validate
        self._host, self._port = host, port
        self._ssl_context = ssl_context
        self.requests: list[RecordedRequest] = []
        self.validation_errors: list[list[str]] = []
        self._renderer = Renderer()
        self._lock = threading.Lock()
        self._exit_stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._stop: anyio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` (`https` with TLS), ready for `ChatModel(base_url=...)`."""
        if self._portal is None:
            raise RuntimeError("the server is not running; use `with MockChatServer() as s:`")
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self._port}/v1"

    def start(self) -> MockChatServer:
        """Start serving in a background thread; returns the server."""
        if self._portal is not None:
            return self
        stack = ExitStack()
        portal = stack.enter_context(start_blocking_portal(backend="asyncio"))
        self._port = portal.start_task(self._serve)[1]
        self._exit_stack, self._portal = stack, portal
        return self

    def stop(self) -> None:
        """Stop serving and join the background thread."""
        portal, stack = self._portal, self._exit_stack
        if portal is None or stack is None:
            return
        portal.call(self._request_stop)
        stack.close()
        self._portal = self._exit_stack = None

    def __enter__(self) -> MockChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> MockChatServer:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await anyio.to_thread.run_sync(self.stop)

    # -- script ------------------------------------------------------------------------

    def add(self, *items: Reply | Fault) -> None:
        """Append replies or faults to the script."""
        with self._lock:
            self._script.extend(items)

    @property
    def remaining(self) -> int:
        """How many scripted items are still unused."""
        with self._lock:
            return len(self._script)

    def chat_model(self, **options: Any) -> ChatModel:
        """A `ChatModel` pointed at this server (with a dummy key), options passed through."""
        options.setdefault("api_key", "mock-key")
        options.setdefault("model", "mock-model")
        return ChatModel(base_url=self.base_url, **options)

    def responses_model(self, **options: Any) -> ResponsesModel:
        """A `ResponsesModel` pointed at this server (`/v1/responses`), as `chat_model`."""
        options.setdefault("api_key", "mock-key")
        options.setdefault("model", "mock-model")
        return ResponsesModel(base_url=self.base_url, **options)

    def _next(self, request: RecordedRequest) -> Reply | Fault:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self._responder is not None:
            return self._responder(request)
        return Fault.http(
            500, message=f"MockChatServer: no scripted reply left for request #{len(self.requests)}"
        )

    # -- serving -----------------------------------------------------------------------

    async def _serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        tcp = await anyio.create_tcp_listener(local_host=self._host, local_port=self._port)
        port = tcp.extra(anyio.abc.SocketAttribute.local_port)
        listener: anyio.abc.Listener[Any] = tcp
        if self._ssl_context is not None:
            # Not standard-compatible: clients may close without a TLS close_notify.
            listener = TLSListener(tcp, self._ssl_context, standard_compatible=False)
        self._stop = anyio.Event()
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, self._connection, group)
            task_status.started(port)
            await self._stop.wait()
            group.cancel_scope.cancel()

    async def _request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _connection(self, stream: anyio.abc.ByteStream) -> None:
        buffered = BufferedByteReceiveStream(stream)
        with self._lock:
            self._connections += 1
            number = self._connections
        async with stream:
            try:
                while await self._exchange(stream, buffered, number):
                    pass
            except _CLIENT_GONE:
                return

    async def _exchange(
        self, stream: anyio.abc.ByteStream, buffered: BufferedByteReceiveStream, number: int
    ) -> bool:
        """Serve one request; return whether the connection stays open."""
        with anyio.move_on_after(self._idle_timeout) as idle:
            head = await buffered.receive_until(b"\r\n\r\n", _MAX_HEADER_BYTES)
        if idle.cancelled_caught:
            return False  # idle too long: close, as real servers do
        method, path, headers = parse_head(head)
        length = int(headers.get("content-length", "0"))
        raw = await buffered.receive_exactly(length) if length else b""
        request = RecordedRequest(method, path, headers, json_or_none(raw), number)
        with self._lock:
            self.requests.append(request)
        keep_alive = headers.get("connection", "").lower() != "close"
        target = path.partition("?")[0]
        if method == "GET" and target.endswith("/models") and self.catalogue is not None:
            await self._catalogue(stream, headers, keep_alive)
            return keep_alive
        if method != "POST" or not target.endswith(("/chat/completions", "/responses")):
            await send_fault(
                stream, Fault.http(404, message=f"no route for {method} {path}"), keep_alive
            )
            return keep_alive
        problems = self._validate(request.body) if self._validate is not None else []
        if problems:
            with self._lock:
                self.validation_errors.append(problems)
            fault = Fault.http(400, message="; ".join(problems)[:2000], code="invalid_request")
            await send_fault(stream, fault, keep_alive)
            return keep_alive
        too_long = self._over_window(request)
        if too_long is not None:  # refused before the script is read, as a provider would
            await send(stream, too_long[0], "application/json", too_long[1], keep_alive)
            return keep_alive
        return await self._answer(stream, request, self._counted(request), keep_alive)

    async def _catalogue(
        self, stream: anyio.abc.ByteStream, headers: Mapping[str, str], keep_alive: bool
    ) -> None:
        """`GET /v1/models`: the catalogue, with an ETag (304 when the client has it)."""
        body = json.dumps({"object": "list", "data": list(self.catalogue or [])}).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if headers.get("if-none-match") == etag:
            await stream.send(
                response_head(304, "application/json", keep_alive, extra={"etag": etag})
            )
            return
        await send(stream, 200, "application/json", body, keep_alive, {"etag": etag})

    def _counted(self, request: RecordedRequest) -> Reply | Fault:
        """The next item; with a context window, a reply's usage counts the prompt.

        By the window's rule, so a client's estimate can be checked against it.
        """
        item = self._next(request)
        if self.context_window is None or not isinstance(item, Reply) or item.usage is not None:
            return item
        usage = dict(default_usage(item))
        usage["prompt_tokens"] = len(json.dumps(request.messages)) // 4
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return dataclasses.replace(item, usage=usage)

    def _over_window(self, request: RecordedRequest) -> tuple[int, bytes] | None:
        """A provider's "too long" answer when the request passes `context_window` tokens.

        Tokens are counted as the JSON of its messages, four characters a token.
        """
        if self.context_window is None:
            return None
        tokens = len(json.dumps(request.messages)) // 4
        if tokens <= self.context_window:
            return None
        with self._lock:
            self.refused_as_too_long += 1
        status, body = TOO_LONG[self.context_error]
        text = json.dumps(body).replace("{window}", str(self.context_window))
        return status, text.replace("{tokens}", str(tokens)).encode()

    async def _answer(
        self,
        stream: anyio.abc.ByteStream,
        request: RecordedRequest,
        item: Reply | Fault,
        keep_alive: bool,
    ) -> bool:
        await sleep_for(self.latency + item.latency)
        body = request.body if isinstance(request.body, dict) else {}
        model, n = str(body.get("model", "")), int(body.get("n") or 1)
        if isinstance(item, Fault) and item.kind in ("status", "reset", "malformed"):
            if item.kind == "reset":
                await reset(stream)
                return False
            if item.kind == "malformed" and not request.stream:
                await send(stream, 200, "application/json", b'{"id": "broken', keep_alive)
                return keep_alive
            if item.kind == "status":
                await send_fault(stream, item, keep_alive)
                return keep_alive
        if uses_responses(request.path):
            return await self._respond(stream, request, item, model, keep_alive)
        if not request.stream:
            assert isinstance(item, Reply)
            payload = json.dumps(self._renderer.completion(item, model, n)).encode()
            await send(stream, 200, "application/json", payload, keep_alive, self._billed(model))
            return keep_alive
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._stream(stream, item, model, n, include_usage, keep_alive)

    def _charges(self, model: str) -> bool:
        billed = self.billed_models
        return self.usd_per_request is not None and (billed is None or model in billed)

    def _billed(self, model: str) -> dict[str, str] | None:
        """AI/ML API's headers of a charged answer (None when not reporting charges)."""
        if not self._charges(model) or self.usd_per_request is None:
            return None
        with self._lock:
            number = len(self.requests)
        return {
            "x-aimlapi-usd-spent": self.usd_per_request,
            "x-aimlapi-credits-used": str(round(float(self.usd_per_request) * 2_000_000)),
            "x-inference-id": f"inf-mock-{number}",
        }

    def _with_meta(self, chunk: dict[str, Any], model: str) -> dict[str, Any]:
        """A stream chunk as AI/ML API sends it: `obfuscation`, and the charge with usage."""
        if not self._charges(model) or self.usd_per_request is None:
            return chunk
        chunk = {**chunk, "obfuscation": "x9Qa"}
        if chunk.get("usage"):
            credits = round(float(self.usd_per_request) * 2_000_000)
            chunk["meta"] = {"usage": {"usd_spent": float(self.usd_per_request),
                                       "credits_used": credits}}  # fmt: skip
        return chunk

    async def _respond(
        self,
        stream: anyio.abc.ByteStream,
        request: RecordedRequest,
        item: Reply | Fault,
        model: str,
        keep_alive: bool,
    ) -> bool:
        """A Responses answer: the Response object, or its events."""
        reply = item if isinstance(item, Reply) else (item.reply or Reply.text(""))
        number, ids = self._renderer.response_number(), self._renderer.call_ids(reply)
        if not request.stream:
            payload = json.dumps(response_body(reply, model, number, ids)).encode()
            await send(stream, 200, "application/json", payload, keep_alive)
            return keep_alive
        fault = item if isinstance(item, Fault) else None
        await stream.send(response_head(200, "text/event-stream", keep_alive, chunked=True))
        if fault is not None and fault.kind == "malformed":
            await stream.send(chunk(b"event: response.created\ndata: {not json\n\n"))
            fault = None
        for position, event in enumerate(response_events(reply, model, number, ids)):
            if fault is not None and position == fault.after_events:
                if fault.kind == "stream_error":  # this dialect's error event
                    error = {"type": "error", "code": "overloaded", "message": fault.message}
                    await stream.send(chunk(SSE(error)) + b"0\r\n\r\n")
                    return keep_alive
                return await stream_fault(stream, fault, keep_alive)
            if position and reply.chunk_delay:
                await anyio.sleep(reply.chunk_delay)
            await stream.send(chunk(SSE(event)))
        await stream.send(b"0\r\n\r\n")
        return keep_alive

    async def _stream(
        self,
        stream: anyio.abc.ByteStream,
        item: Reply | Fault,
        model: str,
        n: int,
        include_usage: bool,
        keep_alive: bool,
    ) -> bool:
        reply = item if isinstance(item, Reply) else (item.reply or Reply.text(""))
        fault = item if isinstance(item, Fault) else None
        await stream.send(response_head(200, "text/event-stream", keep_alive, chunked=True))
        events = [
            json.dumps(self._with_meta(chunk, model))
            for chunk in self._renderer.chunks(reply, model, n, include_usage)
        ]
        if fault is not None and fault.kind == "malformed":
            events = ["{not json", *events]
            fault = None
        for number, data in enumerate(events):
            if fault is not None and number == fault.after_events:
                return await stream_fault(stream, fault, keep_alive)
            if number and reply.chunk_delay:
                await anyio.sleep(reply.chunk_delay)
            await stream.send(chunk(f"data: {data}\n\n".encode()))
        await stream.send(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        return keep_alive
