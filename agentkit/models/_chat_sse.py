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

from agentkit._exceptions import ModelResponseError, ModelStreamError
from agentkit._messages import AssistantMessage, Choice, Completion, Reasoning, ToolCall, Usage

from ._base import (
    ReasoningDelta,
    RefusalDelta,
    ResponseCompleted,
    StreamDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from ._chat_wire import decode_usage, read_reasoning_field
from ._wire_read import (
    short_repr,
    wire_arguments,
    wire_content,
    wire_count,
    wire_list,
    wire_object,
    wire_text,
)

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
    """Incremental SSE parser: feed bytes as they arrive, get complete events back.

    Linear in the size of the stream whatever its line lengths: each character is scanned
    for a line end once (`chars_scanned` counts them), and a long line's pieces are joined
    once, when it ends.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []  # the pieces of a line whose end has not arrived
        self._skip_newline = False  # the last chunk ended in CR; a leading LF is its pair
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self.chars_scanned = 0
        """Characters searched for line ends so far (equal to the text fed: never rescanned)."""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse the next bytes of the stream; return the events they complete."""
        return self.feed_text(self._decoder.decode(chunk))

    def feed_text(self, text: str) -> list[ServerSentEvent]:
        """Parse the next text of the stream; return the events it completes."""
        if self._skip_newline and text:
            text = text.removeprefix("\n")
            self._skip_newline = False
        self.chars_scanned += len(text)
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                self._skip_newline = True
            line = text[start : match.start()]
            if self._partial:
                self._partial.append(line)
                line = "".join(self._partial)
                self._partial = []
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = match.end()
        if start < len(text):
            self._partial.append(text[start:])
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream. An unterminated event is dropped, as the SSE rules say."""
        self._decoder.decode(b"", final=True)
        self._partial, self._data = [], []
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
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _CallState] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAccumulator:
    """Rebuild a `Completion` from streamed chunk payloads, reporting deltas on the way."""

    def __init__(self) -> None:
        self.done = False
        """Chat Completions streams end at `[DONE]`, read by the model, never here."""
        self._choices: dict[int, _ChoiceState] = {}
        self._header: dict[str, Any] = {}
        self._usage: Usage | None = None

    def feed(self, payload: Any) -> list[StreamDelta]:
        """Take one parsed `data:` payload; return what it adds.

        Raises:
            ModelStreamError: The payload is an `{"error": ...}` object.
            ModelResponseError: A field has the wrong type (the message names it).
        """
        if not isinstance(payload, dict):  # a keep-alive scalar some servers send
            return []
        error = payload.get("error")
        if error:
            raise _stream_error(error)
        for key in ("id", "model", "system_fingerprint"):
            if payload.get(key) is not None:
                self._header.setdefault(key, wire_text(payload[key], key))
        if payload.get("created") is not None:
            self._header.setdefault("created", wire_count(payload["created"], "created"))
        if payload.get("usage"):
            self._usage = decode_usage(payload["usage"], payload.get("meta"))
        deltas: list[StreamDelta] = []
        for position, choice in enumerate(wire_list(payload.get("choices"), "choices")):
            self._feed_choice(wire_object(choice, f"choices[{position}]"), position, deltas)
        return deltas

    def finish(self) -> list[StreamDelta]:
        """The stream said `[DONE]`: close calls still open, then report the completion."""
        if not self._choices:
            raise ModelResponseError("the stream ended with [DONE] but carried no choices")
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
                    reasoning=(
                        (Reasoning(summary="".join(state.reasoning)),) if state.reasoning else ()
                    ),
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
        where = f"choices[{position}]"
        index = wire_count(choice.get("index"), f"{where}.index", default=position)
        state = self._choices.setdefault(index, _ChoiceState())
        delta = wire_object(choice.get("delta"), f"{where}.delta")
        content = wire_content(delta.get("content"), f"{where}.delta.content")
        if content:
            state.content.append(content)
            out.append(TextDelta(index, content))
        thought = read_reasoning_field(delta, f"{where}.delta")
        if thought:
            state.reasoning.append(thought)
            out.append(ReasoningDelta(index, thought))
        refusal = wire_text(delta.get("refusal"), f"{where}.delta.refusal")
        if refusal:
            state.refusal.append(refusal)
            out.append(RefusalDelta(index, refusal))
        for n, call in enumerate(wire_list(delta.get("tool_calls"), f"{where}.delta.tool_calls")):
            call = wire_object(call, f"{where}.delta.tool_calls[{n}]")
            self._feed_call(index, state, call, out)
        finish_reason = wire_text(choice.get("finish_reason"), f"{where}.finish_reason")
        if finish_reason:
            state.finish_reason = finish_reason
            self._close_calls(index, state, out, truncated=state.finish_reason == "length")

    def _feed_call(
        self,
        choice: int,
        state: _ChoiceState,
        call: dict[str, Any],
        out: list[StreamDelta],
    ) -> None:
        index = _call_index(call, state)
        function = wire_object(call.get("function"), "tool_calls[].function")
        call_id = wire_text(call.get("id"), "tool_calls[].id") or ""
        name = wire_text(function.get("name"), "tool_calls[].function.name") or ""
        current = state.calls.get(index)
        if current is None:
            if call_id and any(c.id == call_id for c in state.calls.values()):
                raise ModelResponseError(
                    f"choice {choice}: two tool calls have the id {call_id!r}; each call of "
                    "an answer needs its own id (the second was not run)"
                )
            self._close_calls(choice, state, out)  # a new call: the ones before are complete
            current = state.calls[index] = _CallState(id=call_id, name=name)
            out.append(ToolCallStarted(choice, index, current.id, current.name))
        else:  # later deltas may repeat or fill in id and name (some servers send nulls)
            current.id = current.id or call_id
            current.name = current.name or name
        fragment = wire_arguments(function.get("arguments"), "tool_calls[].function.arguments")
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
        return wire_count(call["index"], "tool_calls[].index")
    # No index (a lenient server): an id starts a new call, anything else continues the last.
    if state.calls and not call.get("id"):
        return max(state.calls)
    return len(state.calls)


def _stream_error(error: Any) -> ModelStreamError:
    if isinstance(error, dict):
        message = error.get("message") or "the server reported an error mid-stream"
        code = error.get("code") or error.get("type")
        return ModelStreamError(
            _bounded_text(message, 2000),
            code=_bounded_text(code, 100) if code else None,
            body=error,
        )
    return ModelStreamError(_bounded_text(error, 2000), body=error)


def _bounded_text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else short_repr(value, limit)
