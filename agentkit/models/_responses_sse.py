"""Layer 3 (model boundary): the Responses dialect's stream events, as agentkit's deltas.

`response.output_text.delta` is a `TextDelta`; a `function_call` item added is a
`ToolCallStarted`, its `response.function_call_arguments.delta` events are argument deltas,
and its `.done` (or the item's `response.output_item.done`) makes it a `ToolCallReady`, so
the loop can start the tool while the answer still streams. `response.completed` (and
`response.incomplete`) carries the whole response: the last delta, `ResponseCompleted`.
`response.failed` and `error` raise `ModelStreamError`. Events of built-in tools and newer
kinds are skipped. There is no `[DONE]`: the stream is complete at `response.completed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkit._exceptions import ModelResponseError, ModelStreamError
from agentkit._messages import AssistantMessage, Choice, Completion, ToolCall, Usage

from ._base import (
    ReasoningDelta,
    ResponseCompleted,
    StreamDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from ._responses_wire import decode_response
from ._wire_read import wire_count, wire_object, wire_text

__all__ = ["ResponsesAccumulator"]


@dataclass(slots=True)
class _Call:
    position: int
    """Its place among the answer's calls (the loop's index), not its output index."""
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    ready: bool = False

    def record(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments="".join(self.arguments))


class ResponsesAccumulator:
    """Rebuild a `Completion` from Responses stream events, reporting deltas on the way."""

    def __init__(self) -> None:
        self.done = False
        """Set at `response.completed` (or `.incomplete`): the stream has its answer."""
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._final: Completion | None = None

    def feed(self, payload: Any) -> list[StreamDelta]:
        """Take one parsed event; return what it adds.

        Raises:
            ModelStreamError: A `response.failed` or `error` event.
            ModelResponseError: A field has the wrong type, or a call id repeats.
        """
        event = wire_object(payload, "event")
        kind = event.get("type")
        if kind == "response.output_text.delta":
            text = wire_text(event.get("delta"), "delta") or ""
            self._text.append(text)
            return [TextDelta(0, text)] if text else []
        if kind == "response.reasoning_summary_text.delta":
            text = wire_text(event.get("delta"), "delta") or ""
            return [ReasoningDelta(0, text)] if text else []
        if kind == "response.output_item.added":
            return self._added(event)
        if kind == "response.function_call_arguments.delta":
            call = self._calls.get(wire_count(event.get("output_index"), "output_index"))
            fragment = wire_text(event.get("delta"), "delta") or ""
            if call is None or not fragment:
                return []
            call.arguments.append(fragment)
            return [ToolCallArgumentsDelta(0, call.position, fragment)]
        if kind in ("response.function_call_arguments.done", "response.output_item.done"):
            return self._ready(event)
        if kind in ("response.completed", "response.incomplete"):
            self._final = decode_response(event.get("response"))
            self.done = True
            return [*self._all_ready(), ResponseCompleted(self._final)]
        if kind in ("response.failed", "error"):
            raise _stream_error(event)
        return []

    def finish(self) -> list[StreamDelta]:
        """The body ended: complete only if `response.completed` arrived."""
        if self._final is None:
            raise ModelResponseError("the Responses stream ended without response.completed")
        return []

    def completion(self) -> Completion:
        """What has arrived so far (the whole response once it completed)."""
        if self._final is not None:
            return self._final
        calls = tuple(call.record() for call in sorted(self._calls.values(), key=_place))
        message = AssistantMessage(content="".join(self._text) or None, tool_calls=calls)
        return Completion(choices=(Choice(message=message),), usage=Usage(requests=1))

    def _added(self, event: dict[str, Any]) -> list[StreamDelta]:
        item = wire_object(event.get("item"), "item")
        if item.get("type") != "function_call":
            return []
        index = wire_count(event.get("output_index"), "output_index")
        call_id = wire_text(item.get("call_id"), "item.call_id") or ""
        if call_id and any(c.id == call_id for c in self._calls.values()):
            raise ModelResponseError(
                f"two function calls have the call_id {call_id!r}; each call needs its own "
                "id (the second was not run)"
            )
        name = wire_text(item.get("name"), "item.name") or ""
        call = self._calls[index] = _Call(len(self._calls), call_id, name)
        return [ToolCallStarted(0, call.position, call_id, name)]

    def _ready(self, event: dict[str, Any]) -> list[StreamDelta]:
        index = wire_count(event.get("output_index"), "output_index")
        call = self._calls.get(index)
        if call is None or call.ready:
            return []
        arguments = event.get("arguments")
        if arguments is None and isinstance(event.get("item"), dict):
            arguments = event["item"].get("arguments")
        if isinstance(arguments, str):  # the whole text: what the deltas should add up to
            call.arguments = [arguments]
        call.ready = True
        return [ToolCallReady(0, call.position, call.record(), False)]

    def _all_ready(self) -> list[StreamDelta]:
        ready: list[StreamDelta] = []
        for call in sorted(self._calls.values(), key=_place):
            if not call.ready:
                call.ready = True
                ready.append(ToolCallReady(0, call.position, call.record(), False))
        return ready


def _place(call: _Call) -> int:
    return call.position


def _stream_error(event: dict[str, Any]) -> ModelStreamError:
    response = event.get("response")
    error = response.get("error") if isinstance(response, dict) else event
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "the server reported an error mid-stream")[:2000]
    code = error.get("code") or error.get("type")
    return ModelStreamError(message, code=str(code)[:100] if code else None, body=error)
