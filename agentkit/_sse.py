"""Layer 3 (model boundary): server-sent events, and rebuilding a completion from its chunks.

`SSEParser` follows the SSE rules: `data:`/`event:`/`id:`/`retry:` fields, `:` comments,
several `data:` lines joined by newlines, CRLF, CR or LF line ends, and chunk boundaries
anywhere (even inside a CRLF or a UTF-8 character). `StreamAccumulator` rebuilds text and tool
calls from `chat.completion.chunk` payloads by (choice index, tool-call index) and reports when
each tool call's arguments are complete.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import ModelStreamError
from ._messages import AssistantMessage, Choice, Completion, ToolCall, Usage
from ._model import (
    RefusalDelta,
    ResponseCompleted,
    StreamDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from ._wire import decode_usage

__all__ = ["SSEParser", "ServerSentEvent", "StreamAccumulator"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = ""
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Incremental SSE parser: feed bytes as they arrive, get complete events back."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._skip_newline = False  # the last chunk ended in CR; a leading LF is its pair
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse the next bytes of the stream; return the events they complete."""
        return self.feed_text(self._decoder.decode(chunk))

    def feed_text(self, text: str) -> list[ServerSentEvent]:
        """Parse the next text of the stream; return the events it completes."""
        if self._skip_newline and text:
            text = text.removeprefix("\n")
            self._skip_newline = False
        buffer = self._buffer + text
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                self._skip_newline = True
            event = self._line(buffer[start : match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream. An unterminated event is dropped, as the SSE rules say."""
        self._buffer += self._decoder.decode(b"", final=True)
        self._buffer, self._data = "", []
        return []

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(
            data="\n".join(self._data), event=self._event, id=self._last_id, retry=self._retry
        )
        self._data, self._event = [], ""
        return event


@dataclass(slots=True)
class _CallState:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    ready: bool = False

    def record(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments="".join(self.arguments))


@dataclass(slots=True)
class _ChoiceState:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: dict[int, _CallState] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAccumulator:
    """Rebuild a `Completion` from streamed chunk payloads, reporting deltas on the way."""

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._header: dict[str, Any] = {}
        self._usage: Usage | None = None

    def feed(self, payload: Any) -> list[StreamDelta]:
        """Take one parsed `data:` payload; return what it adds.

        Raises:
            ModelStreamError: The payload is an `{"error": ...}` object.
        """
        if not isinstance(payload, dict):
            return []
        error = payload.get("error")
        if error:
            raise _stream_error(error)
        for key in ("id", "model", "created", "system_fingerprint"):
            if payload.get(key) is not None:
                self._header.setdefault(key, payload[key])
        if payload.get("usage"):
            self._usage = decode_usage(payload["usage"], payload.get("meta"))
        deltas: list[StreamDelta] = []
        for position, choice in enumerate(payload.get("choices") or ()):
            if isinstance(choice, dict):
                self._feed_choice(choice, position, deltas)
        return deltas

    def finish(self) -> list[StreamDelta]:
        """The stream said `[DONE]`: close calls still open, then report the completion."""
        deltas: list[StreamDelta] = []
        for index, state in self._choices.items():
            self._close_calls(index, state, deltas)
        deltas.append(ResponseCompleted(self.completion()))
        return deltas

    def completion(self) -> Completion:
        """What has arrived so far, as a `Completion` (complete after `finish()`)."""
        choices = tuple(
            Choice(
                index=index,
                message=AssistantMessage(
                    content="".join(state.content) if state.content else None,
                    tool_calls=tuple(call.record() for _, call in sorted(state.calls.items())),
                    refusal="".join(state.refusal) if state.refusal else None,
                ),
                finish_reason=state.finish_reason,
            )
            for index, state in sorted(self._choices.items())
        )
        return Completion(
            id=str(self._header.get("id", "")),
            model=str(self._header.get("model", "")),
            created=int(self._header.get("created", 0)),
            choices=choices,
            usage=self._usage if self._usage is not None else Usage(requests=1),
            system_fingerprint=self._header.get("system_fingerprint"),
        )

    def _feed_choice(self, choice: dict[str, Any], position: int, out: list[StreamDelta]) -> None:
        index = choice.get("index")
        index = int(index) if index is not None else position
        state = self._choices.setdefault(index, _ChoiceState())
        delta = choice.get("delta") or {}
        if delta.get("content"):
            state.content.append(delta["content"])
            out.append(TextDelta(index, delta["content"]))
        if delta.get("refusal"):
            state.refusal.append(delta["refusal"])
            out.append(RefusalDelta(index, delta["refusal"]))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._feed_call(index, state, call, out)
        if choice.get("finish_reason"):
            state.finish_reason = choice["finish_reason"]
            self._close_calls(index, state, out, truncated=state.finish_reason == "length")

    def _feed_call(
        self,
        choice: int,
        state: _ChoiceState,
        call: dict[str, Any],
        out: list[StreamDelta],
    ) -> None:
        index = _call_index(call, state)
        function = call.get("function") or {}
        current = state.calls.get(index)
        if current is None:
            self._close_calls(choice, state, out)  # a new call: the ones before are complete
            current = state.calls[index] = _CallState(
                id=call.get("id") or "", name=function.get("name") or ""
            )
            out.append(ToolCallStarted(choice, index, current.id, current.name))
        else:  # later deltas may repeat or fill in id and name (some servers send nulls)
            current.id = current.id or call.get("id") or ""
            current.name = current.name or function.get("name") or ""
        fragment = function.get("arguments")
        if fragment:
            current.arguments.append(fragment)
            out.append(ToolCallArgumentsDelta(choice, index, fragment))

    def _close_calls(
        self, choice: int, state: _ChoiceState, out: list[StreamDelta], truncated: bool = False
    ) -> None:
        for index, call in sorted(state.calls.items()):
            if not call.ready:
                call.ready = True
                out.append(ToolCallReady(choice, index, call.record(), truncated))


def _call_index(call: dict[str, Any], state: _ChoiceState) -> int:
    if call.get("index") is not None:
        return int(call["index"])
    # No index (a lenient server): an id starts a new call, anything else continues the last.
    if state.calls and not call.get("id"):
        return max(state.calls)
    return len(state.calls)


def _stream_error(error: Any) -> ModelStreamError:
    if isinstance(error, dict):
        message = str(error.get("message") or "the server reported an error mid-stream")
        code = error.get("code") or error.get("type")
        return ModelStreamError(message, code=str(code) if code else None, body=error)
    return ModelStreamError(str(error), body=error)
