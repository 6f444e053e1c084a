"""Conversation records round-trip through JSON exactly, and usage adds up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agentkit import (
    AssistantMessage,
    Completion,
    DeveloperMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
    messages_from_json,
    messages_to_json,
)

text = st.text(max_size=30)
tool_calls = st.builds(
    ToolCall, id=text, name=st.from_regex(r"[a-z_]{1,10}", fullmatch=True), arguments=text
)
parts = st.one_of(
    st.builds(TextPart, text=text),
    st.builds(ImagePart, url=text, detail=st.sampled_from([None, "auto", "low", "high"])),
)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(SystemMessage, content=text),
    st.builds(DeveloperMessage, content=text),
    st.builds(UserMessage, content=text | st.lists(parts, max_size=3).map(tuple)),
    st.builds(
        AssistantMessage,
        content=st.none() | text,
        tool_calls=st.lists(tool_calls, max_size=3).map(tuple),
        refusal=st.none() | text,
    ),
    st.builds(ToolMessage, tool_call_id=text, content=text),
)


@given(st.lists(messages, max_size=8))
def test_messages_round_trip_through_json(history: list[Message]) -> None:
    assert messages_from_json(messages_to_json(history)) == history


def test_json_is_readable_and_keyed_by_role() -> None:
    data = messages_to_json(
        [UserMessage(content="Hi"), ToolMessage(tool_call_id="c1", content="8")]
    )
    assert data == (
        b'[{"role":"user","content":"Hi"},{"role":"tool","tool_call_id":"c1","content":"8"}]'
    )


def test_loading_rejects_unknown_roles_and_fields() -> None:
    with pytest.raises(ValidationError, match="role"):
        messages_from_json('[{"role": "wizard", "content": "x"}]')
    with pytest.raises(ValidationError, match="extra"):
        messages_from_json('[{"role": "user", "content": "x", "colour": 1}]')


def test_records_are_frozen() -> None:
    message = UserMessage(content="x")
    with pytest.raises(ValidationError):
        message.content = "y"  # type: ignore[misc]


def test_usage_adds_up() -> None:
    one = Usage(
        requests=1, prompt_tokens=10, completion_tokens=2, total_tokens=12, credits_used=1.5
    )
    two = Usage(
        requests=1, prompt_tokens=5, completion_tokens=5, total_tokens=10, reasoning_tokens=3
    )
    total = one + two
    assert (total.requests, total.prompt_tokens, total.total_tokens) == (2, 15, 22)
    assert (total.reasoning_tokens, total.credits_used) == (3, 1.5)


def test_completion_message_is_the_first_choice() -> None:
    from agentkit import Choice

    completion = Completion(
        choices=(
            Choice(index=0, message=AssistantMessage(content="a")),
            Choice(index=1, message=AssistantMessage(content="b")),
        )
    )
    assert completion.message.content == "a"
