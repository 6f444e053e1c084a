"""Layer 4 (run loop): a run's timeline, recorded as JSON lines for `agentkit trace view`.

One line per event, written as it happens (a crashed run keeps what it recorded), each with
`t`, seconds since the run started, and `at`, the wall-clock time of the run's start:

    {"event": "run_started", "run": "...", "agent": "...", "model": "...", "stream": true, ...}
    {"event": "request_started", "request": 1, "t": 0.0012, "messages": [...]}
    {"event": "request_streaming", "request": 1, "t": 0.18}
    {"event": "request_retried", "request": 1, "attempt": 1, "error": "...", "wait": 0.5, ...}
    {"event": "request_ended", "request": 1, "t": 0.9, "ok": true, "usage": {...}, ...}
    {"event": "tool_started", "call": "call_1", "name": "get_weather", "t": 0.4, ...}
    {"event": "tool_ended", "call": "call_1", "t": 0.5, "ok": false, "error": "..."}
    {"event": "run_ended", "t": 1.2, "ok": true, "usage": {...}}

Message content is recorded (it is a local debugging file); headers and keys never are.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from agentkit._events import RunResult, ToolResult
from agentkit._media import Audio, Document, Image
from agentkit._messages import Completion, Message, ToolCall, ToolMessage
from agentkit._private import open_private
from agentkit.models._base import ModelRequest, model_name
from agentkit.models._media_wire import describe_part

from ._protocol import RunInfo, RunObserver

__all__ = ["Timeline"]

_MAX_TEXT = 4000


class Timeline:
    """An instrument that appends each run's events to a JSONL file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def start_run(self, info: RunInfo) -> _Recorder:
        """Open the file and record the run's start."""
        return _Recorder(open_private(Path(self.path), "a"), info)


class _Recorder(RunObserver[int, str]):
    def __init__(self, file: IO[str], info: RunInfo) -> None:
        self.file = file
        self.started = time.perf_counter()
        self.requests = 0
        self.run = uuid.uuid4().hex[:12]
        self._recorded: tuple[Any, ...] = ()
        """The messages written so far (each is written once; a request refers to them)."""
        self._write(
            "run_started",
            at=time.time(),
            kind=info.kind,
            agent=info.name,
            model=model_name(info.model),
            stream=info.stream,
        )

    def request_started(self, request: ModelRequest) -> int:
        """Record the request with only the messages not recorded before.

        `from` says how many earlier messages it starts with, so a trace grows with the
        conversation, not with its square.
        """
        self.requests += 1
        sent, known = request.messages, self._recorded
        shared = 0
        while shared < min(len(sent), len(known)) and sent[shared] is known[shared]:
            shared += 1
        messages = [_bounded(neutral(m)) for m in sent[shared:]]
        self._recorded = tuple(sent)
        self._write(
            "request_started", request=self.requests, messages=messages,
            client_request_id=request.client_request_id, **{"from": shared},
        )  # fmt: skip
        return self.requests

    def request_streaming(self, token: int) -> None:
        self._write("request_streaming", request=token)

    def request_retried(self, token: int, attempt: int, error: BaseException, wait: float) -> None:
        self._write(
            "request_retried", request=token, attempt=attempt, error=_error(error), wait=wait
        )

    def request_ended(
        self, token: int, completion: Completion | None, error: BaseException | None
    ) -> None:
        if completion is None:
            self._write("request_ended", request=token, ok=False, error=_error(error))
            return
        choice = completion.choices[0] if completion.choices else None
        self._write(
            "request_ended",
            request=token,
            ok=True,
            usage=completion.usage.model_dump(
                mode="json", include={"prompt_tokens", "completion_tokens", "cost", "cost_source"}
            ),
            request_id=completion.request_id,
            finish_reason=choice.finish_reason if choice else None,
            response=_bounded(neutral(choice.message)) if choice else None,
            **({"served_by": completion.served_by} if completion.served_by else {}),
        )

    def tool_started(self, call: ToolCall) -> str:
        self._write(
            "tool_started", call=call.id, name=call.name, arguments=call.arguments[:_MAX_TEXT]
        )
        return call.id

    def tool_ended(
        self, token: str, result: ToolResult | None, error: BaseException | None
    ) -> None:
        if result is None:  # cancelled, or raised with raise_errors=True
            self._write("tool_ended", call=token, ok=False, error=_error(error), content="")
            return
        self._write(
            "tool_ended",
            call=token,
            ok=result.ok,
            error=result.error,
            denied=result.denied,
            content=result.content[:_MAX_TEXT],
        )

    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None:
        usage = (
            result.usage.model_dump(
                mode="json", include={"requests", "total_tokens", "cost", "cost_source"}
            )
            if result
            else {}
        )
        self._write("run_ended", ok=error is None, error=_error(error), usage=usage)
        self.file.close()

    def _write(self, event: str, **fields: Any) -> None:
        line = {"event": event, "run": self.run, "t": round(time.perf_counter() - self.started, 6)}
        self.file.write(json.dumps({**line, **fields}, default=str) + "\n")
        self.file.flush()


def _error(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"[:_MAX_TEXT]


def neutral(message: Message) -> dict[str, Any]:
    """`message` as agentkit's own record (not a dialect's wire shape), media described.

    Attached images, documents and audio are kept as their kind, type, size and name (an
    image up to 48 KB whole, as the page's thumbnail); provider items and encrypted
    reasoning, which only the provider reads, are left out.
    """
    data = message.model_dump(mode="json", exclude_none=True, exclude={"provider_items"})
    content = getattr(message, "content", None)
    if isinstance(content, tuple):
        data["content"] = [
            describe_part(part, True) if isinstance(part, Image | Document | Audio) else
            part.model_dump(mode="json", exclude_none=True)
            for part in content
        ]  # fmt: skip
    if isinstance(message, ToolMessage) and message.parts:
        data["parts"] = [describe_part(part, True) for part in message.parts]
    for each in data.get("reasoning", ()):
        each.pop("encrypted_content", None)
    return data


def _bounded(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str) and len(content) > _MAX_TEXT:
        message = {**message, "content": content[:_MAX_TEXT] + "…"}
    calls = message.get("tool_calls")
    if isinstance(calls, list) and any(len(_arguments(c)) > _MAX_TEXT for c in calls):
        message = {**message, "tool_calls": [_bounded_call(c) for c in calls]}
    return message


def _arguments(call: Any) -> str:
    arguments = call.get("arguments") if isinstance(call, dict) else None
    return arguments if isinstance(arguments, str) else ""


def _bounded_call(call: dict[str, Any]) -> dict[str, Any]:
    arguments = _arguments(call)
    if len(arguments) <= _MAX_TEXT:
        return call
    return {**call, "arguments": arguments[:_MAX_TEXT] + "…"}
