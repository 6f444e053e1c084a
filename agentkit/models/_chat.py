"""Layer 3 (model boundary): `ChatModel`, the OpenAI-compatible HTTP model.

It posts to `{base_url}/chat/completions` over an `httpx.AsyncClient` (yours, or one it owns),
retries what is worth retrying (see `_retry`), maps errors to the typed tree in `_exceptions`,
and streams with SSE. The API key lives only in the `Authorization` header it builds for each
request: it is not in `repr()`, logs or errors.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from pydantic_core import from_json, to_json

from agentkit._exceptions import (
    ConfigurationError,
    ModelConfigurationError,
    ModelResponseError,
)
from agentkit._messages import Completion
from agentkit._redact import shown_url
from agentkit._version import __version__

from ._base import ModelInfo, ModelRequest, StreamDelta, completion_deltas
from ._chat_sse import StreamAccumulator
from ._chat_wire import OPEN_PROFILE, decode_completion, encode_request
from ._cost import priced
from ._endpoint import Endpoint, check_environment, is_loopback
from ._media_wire import Spliced
from ._profile import ModelProfile
from ._providers import PROVIDERS
from ._retry import RetryPolicy
from ._stream_read import OpenStream, next_deltas, read_deltas, transport_errors
from ._transport import PooledTransport, origin_of
from ._wire_read import decode_error

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "ChatModel",
]

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "openai/gpt-5-2-chat-latest"
# Connecting should be quick; generating a long answer may take minutes.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
_PROXY_VARIABLES = tuple(
    name for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY") for name in (base, base.lower())
)
USER_AGENT = f"agentkit/{__version__}"
# After [DONE], the rest of the body (the chunked terminator) is read for at most this long so
# the connection can be reused; a server that keeps the body open gets its connection closed.
_STREAM_TYPES = ("text/event-stream", "application/json", "text/plain", "")

logger = logging.getLogger("agentkit")


class ChatModel:
    """An OpenAI-compatible `/chat/completions` endpoint (AI/ML API by default).

    ```python
    model = ChatModel.from_env()                    # AIMLAPI_API_KEY, AIMLAPI_BASE_URL
    model = ChatModel(base_url="http://localhost:8000/v1", api_key="...", model="llama3")
    ```

    Without `http_client`, the model owns its connections (one pool per event loop, on
    agentkit's lean HTTP/1.1 transport, or httpx's default stack when proxy variables are
    set); close them with `await model.aclose()` or `async with model: ...`.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        profile: ModelProfile | None = None,
        query: Mapping[str, str] | None = None,
        api_key_header: str = "Authorization",
        key_required: bool = True,
        provider: str = "openai",
    ) -> None:
        """Configure the endpoint; nothing is sent and no key is checked until a request.

        Args:
            model: The model name sent in every request.
            base_url: The API root, ending in `/v1` for most providers.
            api_key: Sent as `Authorization: Bearer <key>`.
            http_client: Your own client (its timeout and limits apply; you close it).
            max_retries: Retries after a retryable failure (ignored when `retry` is given).
            timeout: Seconds, or an `httpx.Timeout`, for the client the model owns.
            retry: The full retry policy (backoff, caps, injectable sleep).
            headers: Extra headers for every request.
            profile: What the endpoint accepts (see `ModelProfile`); by default everything
                is sent as it is set.
            query: Query parameters of every request (Azure's `api-version`).
            api_key_header: The header that carries the key: `Authorization` (as
                `Bearer <key>`) or another name (the bare key, as Azure's `api-key`).
            key_required: Refuse to send without a key to a server off this machine (a
                server on it never needs one).
            provider: The provider's name, for traces (`gen_ai.provider.name`).
        """
        self._endpoint = Endpoint(
            base_url, self._PATH, query=query, api_key=api_key, headers=headers
        )
        self.model = model
        self.provider = provider
        self.base_url: str = self._endpoint.base_url
        self.retry: RetryPolicy = (
            retry if retry is not None else RetryPolicy(max_retries=max_retries)
        )
        self.profile: ModelProfile = profile if profile is not None else OPEN_PROFILE
        self._url = self._endpoint.url
        self._shown = self._endpoint.shown  # what errors and logs say: no secrets in it
        self._parsed_url = httpx.URL(self._url)  # parsed once, not per request
        self._origin = origin_of(self._parsed_url)
        self._host_header, self._target = self._parsed_url.netloc, self._parsed_url.raw_path
        self._api_key = api_key
        self._api_key_header = api_key_header
        self._key_required = key_required
        self._missing_key_hint = "pass api_key=... to ChatModel"
        self._extra_headers = dict(headers or {})
        self._header_cache: dict[bool, httpx.Headers | None] = {False: None, True: None}
        self._timeout = timeout
        self._timeouts = httpx.Timeout(timeout).as_dict()
        self._http_client = http_client
        self._owned: httpx.AsyncClient | PooledTransport | None = None
        self._owned_loop: object = None
        self._info: ModelInfo | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> ChatModel:
        """AI/ML API, configured from `AIMLAPI_API_KEY` (or `AIML_API_KEY`), `AIMLAPI_BASE_URL`.

        The same as `infer_model("aimlapi:<model>")`. A missing key is reported when the first
        request is made, not here, naming the variable. `options` are passed to the
        constructor and win over the environment.
        """
        provider = PROVIDERS["aimlapi"]
        env = os.environ if environ is None else environ
        settings = provider.chat_options(options.get("model", DEFAULT_MODEL), env)
        model = cls(**{**settings, **options})
        model._missing_key_hint = provider.key_hint()
        return model

    def cache_identity(self) -> dict[str, Any]:
        """What of this endpoint changes an answer, for a cache key: no secret in it."""
        return self._endpoint.identity(dataclasses.asdict(self.profile))

    @property
    def info(self) -> ModelInfo:
        """Who this model is, for traces, cache keys and agents.

        Made once (traces read it for every run), and again after `model`, `provider`,
        `base_url` or `profile` was changed.
        """
        info = self._info
        if (
            info is None
            or info.profile is not self.profile
            or (info.name, info.provider, info.base_url)
            != (self.model, self.provider, self.base_url)
        ):
            identity = self.cache_identity()
            info = ModelInfo(self.model, self.provider, self.base_url, self.profile, identity)
            self._info = info
        return info

    @property
    def sends_key_in_clear(self) -> bool:
        """Whether a key goes over plain http:// to a host that is not this machine."""
        return bool(self._api_key) and self._endpoint.plain_http

    def __repr__(self) -> str:
        return f"ChatModel(model={self.model!r}, base_url={shown_url(self.base_url)!r})"

    async def __aenter__(self) -> ChatModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client this model owns (a client you passed in stays open)."""
        owned, self._owned, self._owned_loop = self._owned, None, None
        if owned is not None:
            await owned.aclose()

    async def complete(self, request: ModelRequest) -> Completion:
        """Send `request` and return the whole completion, retrying per the policy."""
        payload = self._payload(request, stream=False)
        named = _client_request_id(request)
        return await self.retry.call(lambda: self._complete_once(payload, named), request.on_retry)

    @asynccontextmanager
    async def stream(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[StreamDelta]]:
        """Send `request` with `stream: true`; iterate the deltas inside the context.

        Failures before the first delta is handed over are retried per the policy; after it,
        a broken stream raises `StreamInterrupted` carrying what arrived.
        """
        payload = self._payload(request, stream=True)
        named = _client_request_id(request)
        opened = await self.retry.call(lambda: self._start_stream(payload, named), request.on_retry)
        deltas = read_deltas(opened, (self.provider, self.model, self.base_url))
        try:
            with self._endpoint.redacting():  # errors from the middle of the stream too
                yield deltas
        finally:
            # Shielded: when the caller is cancelled (a run left early, a timeout), an
            # unshielded await here would raise at once and leave the connection unclosed.
            with anyio.CancelScope(shield=True):
                await deltas.aclose()
                await opened.aclose()

    # -- internals --------------------------------------------------------------------

    # The dialect: what a subclass speaking another one (ResponsesModel) changes.
    _PATH = "/chat/completions"

    def _encode(
        self, request: ModelRequest, *, stream: bool, spliced: Spliced | None = None
    ) -> dict[str, Any]:
        return encode_request(
            request, model=self.model, stream=stream, profile=self.profile, spliced=spliced
        )

    def _decode(self, data: Any) -> Completion:
        return decode_completion(data)

    def _accumulator(self) -> Any:
        return StreamAccumulator()

    def _payload(self, request: ModelRequest, *, stream: bool) -> Payload:
        """The body: JSON bytes, or pieces with large attachments between (never copied in)."""
        spliced = Spliced()
        return spliced.payload(to_json(self._encode(request, stream=stream, spliced=spliced)))

    def _headers(self, *, stream: bool) -> httpx.Headers:
        """The request headers, without `Host` and `Content-Length`; built once per kind."""
        cached = self._header_cache[stream]
        if cached is not None:
            return cached
        if not self._api_key and self._key_required and not is_loopback(self._parsed_url.host):
            raise ModelConfigurationError(
                f"no API key for {shown_url(self.base_url)}: {self._missing_key_hint}"
            )
        self._endpoint.warn_plain_http(bool(self._api_key))
        # A server on this machine (Ollama, vLLM, llama.cpp, a LiteLLM proxy) needs no key.
        authorization = {}
        if self._api_key:
            bearer = self._api_key_header.lower() == "authorization"
            value = f"Bearer {self._api_key}" if bearer else self._api_key
            authorization[self._api_key_header] = value
        headers = httpx.Headers(
            {
                **authorization,
                "Content-Type": "application/json",
                "Accept": "text/event-stream" if stream else "application/json",
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": USER_AGENT,
                **self._extra_headers,
            }
        )
        self._header_cache[stream] = headers
        return headers

    def _sender(self) -> httpx.AsyncClient | PooledTransport:
        if self._http_client is not None:
            return self._http_client
        # Connections belong to the event loop that opened them, and run_sync starts a new
        # loop per call: keep what the model owns per loop.
        loop = anyio.lowlevel.current_token()
        if self._owned is None or self._owned_loop != loop:
            # PooledTransport, used without an httpx client around it: httpx's default pool
            # and client layers cost more CPU than the requests (benchmarks/README.md).
            # Proxies need httpx's own stack.
            check_environment()
            use_httpx = any(os.environ.get(name) for name in _PROXY_VARIABLES)
            self._owned = (
                httpx.AsyncClient(timeout=self._timeout) if use_httpx else PooledTransport()
            )
            self._owned_loop = loop
        return self._owned

    async def _send(
        self, payload: Payload, headers: httpx.Headers, named: bytes, *, stream: bool
    ) -> httpx.Response:
        sender = self._sender()
        started = time.perf_counter()
        with transport_errors(self._shown, mid_stream=False):
            if isinstance(sender, httpx.AsyncClient):
                headers = headers.copy()
                headers["X-Client-Request-Id"] = named.decode()
                content = payload if isinstance(payload, bytes) else b"".join(payload)
                request = sender.build_request(
                    "POST", self._parsed_url, content=content, headers=headers
                )
                response = await sender.send(request, stream=stream)
            else:  # the transport's fast path: no httpx.Request to build and take apart
                raw = [
                    (b"Host", self._host_header),
                    *headers.raw,
                    (b"Content-Length", str(_length(payload)).encode()),
                    (b"X-Client-Request-Id", named),
                ]
                response = await sender.send(
                    self._origin, b"POST", self._target, raw, payload, self._timeouts
                )
                if not stream:
                    try:
                        await response.aread()
                    finally:
                        with anyio.CancelScope(shield=True):  # closed even when cancelled
                            await response.aclose()
        _log_response(response, started, self._shown)
        return response

    async def _complete_once(self, payload: Payload, named: bytes) -> Completion:
        with self._endpoint.redacting():
            response = await self._post(payload, named)
            completion = self._decode(_json_body(response.content, self._shown))
            return priced(completion, self.provider, self.model, response.headers, self.base_url)

    async def _post(self, payload: Payload, named: bytes) -> httpx.Response:
        response = await self._send(payload, self._headers(stream=False), named, stream=False)
        self._endpoint.refuse_redirect(response.status_code, response.headers.get("location"))
        if response.status_code >= 400:
            raise decode_error(
                response.status_code, response.headers, response.content, _content_type(response)
            )
        return response

    async def _start_stream(self, payload: Payload, named: bytes) -> OpenStream:
        with self._endpoint.redacting():
            response = await self._send(payload, self._headers(stream=True), named, stream=True)
            opened = OpenStream(self._shown, response, response.aiter_bytes(), self._accumulator())  # type: ignore[arg-type]
            try:
                await self._first_deltas(opened)
            except BaseException:
                with anyio.CancelScope(shield=True):  # closed even when cancelled
                    await opened.aclose()
                raise
            return opened

    async def _first_deltas(self, opened: OpenStream) -> None:
        """Check the answer is a stream (or a whole completion) and read its first deltas."""
        response = opened.response
        self._endpoint.refuse_redirect(response.status_code, response.headers.get("location"))
        if response.status_code >= 400:
            body = await response.aread()
            raise decode_error(
                response.status_code, response.headers, body, _content_type(response)
            )
        content_type = _content_type(response)
        if "application/json" in content_type:
            body = _json_body(await response.aread(), self._shown)
            opened.pending = completion_deltas(self._decode(body))
            opened.done = True
        elif content_type.split(";")[0].strip() not in _STREAM_TYPES:
            raise ModelResponseError(
                f"{self._shown} answered a streamed request with {content_type!r}, "
                "not text/event-stream; check base_url (a proxy or login page?)",
                body=(await response.aread())[:500].decode("utf-8", "replace"),
            )
        else:
            opened.pending = await next_deltas(opened, mid_stream=False)


Payload = bytes | list[bytes]
"""A request body: bytes, or pieces written one after another (large attachments)."""


def _length(payload: Payload) -> int:
    return len(payload) if isinstance(payload, bytes) else sum(map(len, payload))


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _client_request_id(request: ModelRequest) -> bytes:
    """The request's `X-Client-Request-Id` (made up when it has none), checked."""
    named = request.client_request_id
    if named is None:
        return f"ak-{secrets.token_hex(8)}".encode()
    if not _REQUEST_ID.fullmatch(named):
        raise ConfigurationError(
            f"client_request_id {named[:40]!r} is not 1-128 characters of A-Za-z0-9._:- "
            "(a provider drops any other id without a word)"
        )
    return named.encode()


def _json_body(raw: bytes, url: str) -> Any:
    try:
        return from_json(raw)
    except ValueError:
        raise ModelResponseError(
            f"the response of {url} is not valid JSON",
            body=raw[:500].decode("utf-8", "replace"),
        ) from None


def _content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).lower()


def _log_response(response: httpx.Response, started: float, url: str) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "POST %s -> %d in %.1f ms (request id %s)",
            url,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            response.headers.get("x-request-id", "-"),
        )
