"""Scripted replies and faults for `MockChatServer`, and their rendering as wire JSON and SSE."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "Reply", "ScriptedCall"]

ErrorStyle = Literal["openai", "aimlapi", "problem", "html", "empty"]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One tool call in a scripted reply."""

    name: str
    arguments: str = "{}"
    """The raw JSON arguments, exactly as the model will "send" them."""
    id: str | None = None
    """Defaults to `call_<n>` numbered across the server's replies."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted model answer: text, tool calls or a refusal, with streaming knobs.

    Build with `Reply.text(...)` or `Reply.tool_calls(...)`. When streamed, text is cut into
    `chunk_size`-character deltas and each call's arguments into `chunk_size`-character
    fragments, with `chunk_delay` seconds between events.
    """

    content: str | None = None
    calls: tuple[ScriptedCall, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    """Defaults to `"tool_calls"` with calls, else `"stop"`."""
    usage: Mapping[str, Any] | None = None
    """The `usage` object; defaults to small made-up token counts."""
    meta: Mapping[str, Any] | None = None
    """AI/ML API's extra `meta` object, sent as is when given."""
    alternatives: tuple[Reply, ...] = ()
    """Further choices for `n > 1` (choice 0 is this reply itself)."""
    reasoning: str | None = None
    """The model's reasoning: on Chat Completions as `reasoning_content` (as DeepSeek and
    vLLM send it), on Responses as a reasoning item with a summary and an opaque
    `encrypted_content` the next request should send back."""
    latency: float = 0.0
    chunk_size: int = 16
    chunk_delay: float = 0.0

    @classmethod
    def text(cls, content: str, **options: Any) -> Reply:
        """A plain text answer."""
        return cls(content=content, **options)

    @classmethod
    def tool_calls(
        cls, *calls: ScriptedCall | tuple[str, Mapping[str, Any] | str], **options: Any
    ) -> Reply:
        """An answer that calls tools: `Reply.tool_calls(("get_weather", {"city": "Paris"}))`."""
        return cls(calls=tuple(_scripted(call) for call in calls), **options)

    def choices(self, n: int) -> list[Reply]:
        """The replies for `n` choices; the last one repeats if fewer were scripted."""
        everything = [self, *self.alternatives]
        return [everything[min(i, len(everything) - 1)] for i in range(max(n, 1))]


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure. Build with the class methods."""

    kind: Literal["status", "reset", "cut", "truncate", "stream_error", "malformed"]
    status: int = 500
    style: ErrorStyle = "openai"
    message: str = "scripted failure"
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    reply: Reply | None = None
    after_events: int = 0
    latency: float = 0.0

    @classmethod
    def http(
        cls,
        status: int,
        *,
        style: ErrorStyle = "openai",
        message: str | None = None,
        code: str | None = None,
        retry_after: str | float | None = None,
        retry_after_ms: int | None = None,
        request_id: str | None = None,
    ) -> Fault:
        """An error status with a body in the given style and optional retry headers."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        if request_id is not None:
            headers["x-request-id"] = request_id
        return cls(
            "status",
            status=status,
            style=style,
            message=message or f"scripted {status} error",
            code=code,
            headers=headers,
        )

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection (TCP RST) after reading the request, before any response."""
        return cls("reset")

    @classmethod
    def cut_stream(cls, reply: Reply, *, after_events: int) -> Fault:
        """Stream `reply`, then drop the connection after `after_events` events."""
        return cls("cut", reply=reply, after_events=after_events)

    @classmethod
    def truncate_stream(cls, reply: Reply, *, after_events: int) -> Fault:
        """Stream `reply`, then end the body cleanly after `after_events` events, no [DONE]."""
        return cls("truncate", reply=reply, after_events=after_events)

    @classmethod
    def stream_error(
        cls, reply: Reply, *, after_events: int, message: str = "upstream overloaded"
    ) -> Fault:
        """Stream `reply`, then send an `{"error": ...}` payload after `after_events` events."""
        return cls("stream_error", reply=reply, after_events=after_events, message=message)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with a body (or, streaming, an event) that is not valid JSON."""
        return cls("malformed")


def _scripted(call: ScriptedCall | tuple[str, Mapping[str, Any] | str]) -> ScriptedCall:
    if isinstance(call, ScriptedCall):
        return call
    name, arguments = call
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ScriptedCall(name=name, arguments=raw)


def default_usage(reply: Reply) -> dict[str, Any]:
    """Made-up but consistent token counts for a reply."""
    completion = 5 + len(reply.content or "") // 4 + sum(len(c.arguments) // 4 for c in reply.calls)
    return {"prompt_tokens": 20, "completion_tokens": completion, "total_tokens": 20 + completion}


class Renderer:
    """Turns replies into wire JSON; numbers ids across one server's lifetime."""

    def __init__(self) -> None:
        self._completions = 0
        self._calls = 0

    def response_number(self) -> int:
        """The next response's number (Responses ids are made from it)."""
        self._completions += 1
        return self._completions

    def call_ids(self, reply: Reply) -> list[str]:
        """The ids of a reply's calls (`call_<n>`, numbered across the server's replies)."""
        return self._call_ids(reply)

    def _call_ids(self, reply: Reply) -> list[str]:
        ids = []
        for call in reply.calls:
            self._calls += 1
            ids.append(call.id or f"call_{self._calls}")
        return ids

    def completion(self, reply: Reply, model: str, n: int) -> dict[str, Any]:
        """A non-streamed `chat.completion` body."""
        self._completions += 1
        choices = reply.choices(n)
        body: dict[str, Any] = {
            "id": f"chatcmpl-mock-{self._completions}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [self._choice(index, each) for index, each in enumerate(choices)],
            "usage": dict(reply.usage or default_usage(reply)),
            "system_fingerprint": None,
        }
        if reply.meta is not None:
            body["meta"] = dict(reply.meta)
        return body

    def _choice(self, index: int, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content,
            "refusal": reply.refusal,
        }
        if reply.reasoning is not None:  # as DeepSeek, vLLM, Kimi and GLM send it
            message["reasoning_content"] = reply.reasoning
        if reply.calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for call_id, c in zip(self._call_ids(reply), reply.calls, strict=True)
            ]
        return {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": _finish(reply),
        }

    def chunks(
        self, reply: Reply, model: str, n: int, include_usage: bool
    ) -> Iterator[dict[str, Any]]:
        """The `chat.completion.chunk` payloads of a streamed reply, choices interleaved."""
        self._completions += 1
        header = {
            "id": f"chatcmpl-mock-{self._completions}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        per_choice = [list(self._choice_deltas(i, each)) for i, each in enumerate(reply.choices(n))]
        for step in range(max(len(deltas) for deltas in per_choice)):
            for deltas in per_choice:
                if step < len(deltas):
                    yield {**header, "choices": [deltas[step]], "usage": None}
        if include_usage:
            yield {**header, "choices": [], "usage": dict(reply.usage or default_usage(reply))}

    def _choice_deltas(self, index: int, reply: Reply) -> Iterator[dict[str, Any]]:
        def delta(content: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": index, "delta": content, "logprobs": None, "finish_reason": finish}

        yield delta({"role": "assistant", "content": ""})
        for piece in _pieces(reply.reasoning or "", reply.chunk_size):
            yield delta({"reasoning_content": piece})
        for piece in _pieces(reply.content or "", reply.chunk_size):
            yield delta({"content": piece})
        for piece in _pieces(reply.refusal or "", reply.chunk_size):
            yield delta({"refusal": piece})
        for position, (call_id, call) in enumerate(
            zip(self._call_ids(reply), reply.calls, strict=True)
        ):
            start = {"name": call.name, "arguments": ""}
            yield delta(
                {
                    "tool_calls": [
                        {"index": position, "id": call_id, "type": "function", "function": start}
                    ]
                }
            )
            for piece in _pieces(call.arguments, reply.chunk_size):
                yield delta({"tool_calls": [{"index": position, "function": {"arguments": piece}}]})
        yield delta({}, _finish(reply))


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.calls else "stop")


def _pieces(text: str, size: int) -> Sequence[str]:
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def error_body(fault: Fault, request_id: str) -> tuple[str, bytes]:
    """The content type and body of an error response in the fault's style."""
    if fault.style == "openai":
        error = {"message": fault.message, "type": "mock_error", "param": None, "code": fault.code}
        return "application/json", json.dumps({"error": error}).encode()
    if fault.style == "aimlapi":
        flat = {
            "message": fault.message,
            "path": "/v1/chat/completions",
            "requestId": request_id,
            "statusCode": str(fault.status),
            "timestamp": "2026-11-26T00:00:00.000Z",
        }
        if fault.code:
            flat["code"] = fault.code
        return "application/json", json.dumps(flat).encode()
    if fault.style == "problem":
        problem = {
            "title": "Unauthorized" if fault.status == 401 else "Error",
            "status": fault.status,
            "message": fault.message,
            "instance": "/v1/chat/completions",
            "requestId": request_id,
            "timestamp": "2026-11-26T00:00:00.000Z",
            "error": {"name": "MockError", "message": fault.message},
        }
        return "application/problem+json", json.dumps(problem).encode()
    if fault.style == "html":
        title = f"{fault.status} {fault.message}"
        page = f"<html><head><title>{title}</title></head><body>proxy</body></html>"
        return "text/html", page.encode()
    return "text/plain", b""
