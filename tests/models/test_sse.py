"""The SSE parser follows the event-stream rules; the accumulator rebuilds completions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import (
    ModelStreamError,
    ResponseCompleted,
    TextDelta,
    ToolCall,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
)
from agentkit.models._chat_sse import ServerSentEvent, SSEParser, StreamAccumulator


def parse_all(*chunks: bytes) -> list[ServerSentEvent]:
    parser = SSEParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def test_data_lines_and_blank_line_dispatch() -> None:
    assert parse_all(b"data: one\n\ndata: two\n\n") == [
        ServerSentEvent("one"),
        ServerSentEvent("two"),
    ]


def test_multi_line_data_joins_with_newlines() -> None:
    assert parse_all(b"data: a\ndata: b\ndata\n\n") == [ServerSentEvent("a\nb\n")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert parse_all(b": keep-alive\nfoo: bar\ndata: x\n\n:\n\n") == [ServerSentEvent("x")]


def test_event_id_and_retry_fields() -> None:
    events = parse_all(b"event: update\nid: 7\nretry: 1500\ndata: x\n\ndata: y\n\n")
    assert events[0] == ServerSentEvent("x", event="update", id="7", retry=1500)
    assert events[1] == ServerSentEvent("y", event="", id="7", retry=1500)


def test_only_one_leading_space_is_removed() -> None:
    assert parse_all(b"data:  two spaces\ndata:none\n\n") == [ServerSentEvent(" two spaces\nnone")]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(line_end: bytes) -> None:
    stream = b"data: a" + line_end + line_end + b"data: b" + line_end + line_end
    assert parse_all(stream) == [ServerSentEvent("a"), ServerSentEvent("b")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    assert parse_all(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        ServerSentEvent("a"),
        ServerSentEvent("b"),
    ]


def test_utf8_split_inside_a_character() -> None:
    encoded = "data: héllo ✓\n\n".encode()
    assert parse_all(encoded[:8], encoded[8:14], encoded[14:]) == [ServerSentEvent("héllo ✓")]


def test_unterminated_event_is_dropped_at_the_end() -> None:
    assert parse_all(b"data: complete\n\ndata: partial") == [ServerSentEvent("complete")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse_all(b"\n\n\r\n") == []


event_texts = st.lists(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
        max_size=20,
    ),
    min_size=1,
    max_size=3,
)


@given(
    events=st.lists(event_texts, min_size=1, max_size=6),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    comments=st.booleans(),
)
def test_any_chunking_gives_the_same_events(
    events: list[list[str]], line_end: str, cuts: list[int], comments: bool
) -> None:
    text = ""
    for lines in events:
        if comments:
            text += ": ping" + line_end
        text += "".join(f"data: {line}{line_end}" for line in lines) + line_end
    raw = text.encode()
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    expected = [ServerSentEvent("\n".join(lines)) for lines in events]
    assert parse_all(*chunks) == expected


# --- accumulator ----------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None, *, index: int = 0, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta or {}, "finish_reason": finish}],
        **top,
    }


def test_text_and_usage() -> None:
    accumulator = StreamAccumulator()
    deltas = []
    for payload in [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk(finish="stop"),
        {
            "id": "c1",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
    ]:
        deltas += accumulator.feed(payload)
    deltas += accumulator.finish()
    assert deltas[:2] == [TextDelta(0, "Hel"), TextDelta(0, "lo")]
    completed = deltas[-1]
    assert isinstance(completed, ResponseCompleted)
    assert completed.completion.message.content == "Hello"
    assert completed.completion.choices[0].finish_reason == "stop"
    assert completed.completion.usage.total_tokens == 5


def test_tool_calls_are_ready_when_the_next_begins_and_at_finish() -> None:
    accumulator = StreamAccumulator()
    out = []
    out += accumulator.feed(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "a",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        )
    )
    out += accumulator.feed(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": None,
                        "type": None,
                        "function": {"name": None, "arguments": '{"x":'},
                    }
                ]
            }
        )
    )
    out += accumulator.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}))
    assert not any(isinstance(d, ToolCallReady) for d in out)
    started_second = accumulator.feed(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "b",
                        "type": "function",
                        "function": {"name": "g", "arguments": "{}"},
                    }
                ]
            }
        )
    )
    assert started_second[0] == ToolCallReady(
        0, 0, ToolCall(id="a", name="f", arguments='{"x": 1}')
    )
    assert started_second[1] == ToolCallStarted(0, 1, "b", "g")
    assert started_second[2] == ToolCallArgumentsDelta(0, 1, "{}")
    finished = accumulator.feed(chunk(finish="tool_calls"))
    assert finished == [ToolCallReady(0, 1, ToolCall(id="b", name="g", arguments="{}"))]
    completion = accumulator.finish()[-1]
    assert isinstance(completion, ResponseCompleted)
    assert [c.name for c in completion.completion.message.tool_calls] == ["f", "g"]


def test_choices_interleave_and_are_routed_by_index() -> None:
    accumulator = StreamAccumulator()
    for payload in [
        chunk({"content": "a1"}, index=0),
        chunk({"content": "b1"}, index=1),
        chunk({"content": "a2"}, index=0),
        chunk({"content": "b2"}, index=1, finish="stop"),
        chunk(index=0, finish="length"),
    ]:
        accumulator.feed(payload)
    completion = accumulator.completion()
    assert [c.message.content for c in completion.choices] == ["a1a2", "b1b2"]
    assert [c.finish_reason for c in completion.choices] == ["length", "stop"]


def test_error_payload_raises() -> None:
    with pytest.raises(ModelStreamError, match="overloaded") as caught:
        StreamAccumulator().feed(
            {"error": {"message": "overloaded", "type": "server_error", "code": "busy"}}
        )
    assert caught.value.code == "busy"


def test_refusal_and_missing_pieces_are_tolerated() -> None:
    accumulator = StreamAccumulator()
    accumulator.feed({"choices": [{"delta": {"refusal": "No."}}]})
    accumulator.feed(
        {"choices": [{"index": 0, "delta": None, "finish_reason": "stop"}], "meta": {"x": 1}}
    )
    accumulator.feed("not a dict")
    completion = accumulator.completion()
    assert completion.message.refusal == "No."
    assert completion.message.content is None


def test_calls_without_index_continue_the_last_one() -> None:
    accumulator = StreamAccumulator()
    accumulator.feed(
        chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]})
    )
    accumulator.feed(chunk({"tool_calls": [{"function": {"arguments": "}"}}]}))
    assert accumulator.completion().message.tool_calls == (
        ToolCall(id="a", name="f", arguments="{}"),
    )


@given(st.text(max_size=50), st.integers(min_value=1, max_value=7))
def test_arguments_rebuild_whatever_the_fragmenting(arguments: str, size: int) -> None:
    accumulator = StreamAccumulator()
    accumulator.feed(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]})
    )
    for i in range(0, len(arguments), size):
        accumulator.feed(
            chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + size]}}]}
            )
        )
    assert accumulator.completion().message.tool_calls[0].arguments == arguments


def test_openai_chunks_validate_against_the_schema() -> None:
    """Our fixtures above are real chunk shapes (checked against the published schema)."""
    from tests.spec import openai_validator

    validator = openai_validator("CreateChatCompletionStreamResponse")
    payload = chunk({"content": "x"})
    payload["choices"][0]["logprobs"] = None
    assert [e.message for e in validator.iter_errors(json.loads(json.dumps(payload)))] == []


def test_a_long_line_is_scanned_once_whatever_the_chunking() -> None:
    """Work stays linear: 8 MB in one `data:` line, fed in 4 KiB pieces, is scanned once."""
    payload = "x" * (8 * 1024 * 1024)
    raw = f"data: {payload}\n\n".encode()
    parser = SSEParser()
    events = []
    for start in range(0, len(raw), 4096):
        events += parser.feed(raw[start : start + 4096])
    assert [len(event.data) for event in events] == [len(payload)]
    assert parser.chars_scanned == len(raw)


def test_line_ends_split_across_chunks_are_still_one_line_end() -> None:
    parser = SSEParser()
    events = parser.feed(b"data: a\r") + parser.feed(b"\n\r") + parser.feed(b"\ndata: b\n\n")
    assert [event.data for event in events] == ["a", "b"]
