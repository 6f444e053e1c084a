"""Layer 5 (edges): the test server's Responses dialect (`POST /v1/responses`).

The same scripted `Reply` answers either dialect. Here it becomes a Response object (plain)
or its stream of events (`response.created`, `response.output_item.added`,
`response.reasoning_summary_text.delta`, `response.output_text.delta`,
`response.function_call_arguments.delta` / `.done`, `response.output_item.done`,
`response.completed`, or `response.incomplete` for a `length` finish). A reply's `reasoning`
becomes a reasoning item with a summary and an opaque `encrypted_content`. `input_messages`
reads a Responses request's `input` in the Chat Completions shape, so responders written
for one dialect answer both.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._script import Reply, default_usage

__all__ = ["input_messages", "response_body", "response_events", "uses_responses"]


def uses_responses(path: str) -> bool:
    """Whether a request target is the Responses endpoint."""
    return path.partition("?")[0].endswith("/responses")


def response_body(reply: Reply, model: str, number: int, call_ids: list[str]) -> dict[str, Any]:
    """The Response object of a non-streamed reply."""
    return {
        "id": f"resp_mock_{number}",
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "incomplete" if reply.finish_reason == "length" else "completed",
        "incomplete_details": (
            {"reason": "max_output_tokens"} if reply.finish_reason == "length" else None
        ),
        "output": list(_items(reply, number, call_ids)),
        "usage": _usage(reply),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
    }


def response_events(
    reply: Reply, model: str, number: int, call_ids: list[str]
) -> Iterator[dict[str, Any]]:
    """The events of a streamed reply, in the order a server sends them."""
    final = response_body(reply, model, number, call_ids)
    yield {"type": "response.created", "response": {**final, "status": "in_progress",
                                                    "output": []}}  # fmt: skip
    for index, item in enumerate(final["output"]):
        yield {"type": "response.output_item.added", "output_index": index,
               "item": {**item, **_empty(item)}}  # fmt: skip
        yield from _item_deltas(item, index, reply.chunk_size)
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    yield {"type": done, "response": final}


def _items(reply: Reply, number: int, call_ids: list[str]) -> Iterator[dict[str, Any]]:
    if reply.reasoning is not None:
        yield {
            "type": "reasoning",
            "id": f"rs_mock_{number}",
            "summary": [{"type": "summary_text", "text": reply.reasoning}],
            "encrypted_content": base64.b64encode(f"thought {number}".encode()).decode(),
        }
    if reply.content or reply.refusal:
        part: dict[str, Any] = (
            {"type": "output_text", "text": reply.content, "annotations": []}
            if reply.content
            else {"type": "refusal", "refusal": reply.refusal}
        )
        yield {"type": "message", "id": f"msg_mock_{number}", "role": "assistant",
               "status": "completed", "content": [part]}  # fmt: skip
    for n, (call_id, call) in enumerate(zip(call_ids, reply.calls, strict=True)):
        yield {"type": "function_call", "id": f"fc_mock_{number}_{n}", "call_id": call_id,
               "name": call.name, "arguments": call.arguments, "status": "completed"}  # fmt: skip


def _empty(item: dict[str, Any]) -> dict[str, Any]:
    """How an item looks when it is first announced: its text still to come."""
    if item["type"] == "function_call":
        return {"arguments": "", "status": "in_progress"}
    if item["type"] == "message":
        return {"content": [], "status": "in_progress"}
    if item["type"] == "reasoning":
        return {"summary": []}
    return {}


def _item_deltas(item: dict[str, Any], index: int, size: int) -> Iterator[dict[str, Any]]:
    kind = item["type"]
    if kind == "reasoning":
        for text in (part["text"] for part in item["summary"]):
            for piece in _pieces(text, size):
                yield {"type": "response.reasoning_summary_text.delta", "item_id": item["id"],
                       "output_index": index, "summary_index": 0, "delta": piece}  # fmt: skip
    elif kind == "message" and item["content"][0]["type"] == "output_text":
        for piece in _pieces(item["content"][0]["text"], size):
            yield {"type": "response.output_text.delta", "item_id": item["id"],
                   "output_index": index, "content_index": 0, "delta": piece}  # fmt: skip
    elif kind == "function_call":
        for piece in _pieces(item["arguments"], size):
            yield {"type": "response.function_call_arguments.delta", "item_id": item["id"],
                   "output_index": index, "delta": piece}  # fmt: skip
        yield {"type": "response.function_call_arguments.done", "item_id": item["id"],
               "output_index": index, "arguments": item["arguments"]}  # fmt: skip


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def _usage(reply: Reply) -> dict[str, Any]:
    chat = dict(reply.usage or default_usage(reply))
    prompt, completion = int(chat.get("prompt_tokens", 0)), int(chat.get("completion_tokens", 0))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 4 if reply.reasoning else 0},
        "total_tokens": prompt + completion,
    }


def input_messages(body: Any) -> list[dict[str, Any]]:
    """A Responses request's `input` in the Chat Completions shape (for responders)."""
    items = body.get("input") if isinstance(body, dict) else None
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": item.get("output")})  # fmt: skip
        elif kind == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments")}
            call = {"id": item.get("call_id"), "type": "function", "function": function}
            if messages and messages[-1].get("role") == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, dict) and "role" in item:
            messages.append({"role": item["role"], "content": _text(item.get("content"))})
    return messages


def _text(content: Any) -> Any:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content


SSE: Callable[[dict[str, Any]], bytes] = lambda event: (  # noqa: E731
    f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
)
"""One event as its SSE frame (named, as OpenAI's are)."""
