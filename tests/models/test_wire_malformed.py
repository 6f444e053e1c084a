"""Malformed responses: whatever JSON a server sends, only `ModelError`s come out of decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import ModelError, ModelResponseError
from agentkit.models._chat_sse import StreamAccumulator
from agentkit.models._chat_wire import decode_completion
from agentkit.models._wire_read import decode_error

OK_CHOICE = {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}


def completion(**fields: Any) -> dict[str, Any]:
    return {"id": "c1", "model": "m", "created": 1, "choices": [OK_CHOICE], **fields}


def with_choice(**fields: Any) -> dict[str, Any]:
    return completion(choices=[{**OK_CHOICE, **fields}])


def with_message(**fields: Any) -> dict[str, Any]:
    return with_choice(message={"role": "assistant", **fields})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_choice(index="abc"), "choices[0].index"),
        (with_choice(index=-1), "choices[0].index"),
        (completion(usage={"prompt_tokens": "ten"}), "usage.prompt_tokens"),
        (completion(usage={"completion_tokens": 1e400}), "usage.completion_tokens"),
        (completion(usage=[1, 2]), "usage"),
        (completion(created=1e400), "created"),
        (with_choice(message=[]), "choices[0].message"),
        (with_message(tool_calls=["x"]), "choices[0].message.tool_calls[0]"),
        (with_message(tool_calls={"id": "x"}), "choices[0].message.tool_calls"),
        (with_message(content=42.5), "choices[0].message.content"),
        (with_message(content={"text": "x"}), "choices[0].message.content"),
        (with_message(content=True), "choices[0].message.content"),
        (with_message(tool_calls=[{"id": "a", "function": "f"}]), "tool_calls[0].function"),
        (with_choice(finish_reason=["stop"]), "choices[0].finish_reason"),
        (completion(id={"deep": [1]}), "id"),
        (completion(choices=[]), "no choices"),
    ],
)
def test_wrong_shapes_are_response_errors_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ModelResponseError, match=r"malformed|no choices") as caught:
        decode_completion(body)
    assert field in str(caught.value)
    assert len(str(caught.value)) < 300


def test_overflowing_numbers_from_the_json_parser_are_caught() -> None:
    from pydantic_core import from_json

    body = from_json(b'{"choices": [], "usage": {"total_tokens": 1e400}}')
    with pytest.raises(ModelResponseError):
        decode_completion(body)


def test_content_as_text_parts_is_joined() -> None:
    body = with_message(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert decode_completion(body).message.content == "ab"


def test_arguments_sent_as_an_object_are_encoded_back() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    completion_ = decode_completion(with_message(tool_calls=[call]))
    assert json.loads(completion_.message.tool_calls[0].arguments) == {"x": 1}


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_deeply_nested_error_bodies_are_read_as_text(depth: int) -> None:
    body = ('{"error": ' * depth + "1" + "}" * depth).encode()
    error = decode_error(500, {}, body, "application/json")
    assert error.status_code == 500
    assert len(str(error)) <= 250


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_deeply_nested_stream_values_are_response_errors_not_recursion(depth: int) -> None:
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    accumulator = StreamAccumulator()
    with pytest.raises(ModelResponseError) as caught:
        accumulator.feed({"choices": [{"index": 0, "delta": {"content": nested}}]})
    assert len(str(caught.value)) < 300


# -- property tests: arbitrary JSON in every place ------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


def shaped(value_at: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Completions and chunks of the right outline with arbitrary JSON in their fields."""
    call = st.fixed_dictionaries(
        {},
        optional={
            "index": value_at,
            "id": value_at,
            "type": value_at,
            "function": value_at
            | st.fixed_dictionaries({}, optional={"name": value_at, "arguments": value_at}),
        },
    )
    message = st.fixed_dictionaries(
        {},
        optional={
            "role": value_at,
            "content": value_at,
            "refusal": value_at,
            "tool_calls": value_at | st.lists(call | value_at, max_size=2),
        },
    )
    choice = st.fixed_dictionaries(
        {},
        optional={
            "index": value_at,
            "message": message | value_at,
            "delta": message | value_at,
            "finish_reason": value_at,
        },
    )
    usage = st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": value_at,
            "completion_tokens": value_at,
            "total_tokens": value_at,
            "prompt_tokens_details": value_at,
            "completion_tokens_details": value_at,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "id": value_at,
            "model": value_at,
            "created": value_at,
            "system_fingerprint": value_at,
            "choices": st.lists(choice | value_at, max_size=3) | value_at,
            "usage": usage | value_at,
            "meta": value_at,
            "error": value_at,
        },
    )


def model_error_text(decode: Callable[[], object]) -> str:
    """Run `decode`; the text of the `ModelError` it raised ("" if none). Others propagate."""
    try:
        decode()
    except ModelError as error:
        return str(error)
    return ""


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(shaped(json_values) | json_values)
def test_only_model_errors_escape_decoding_a_completion(body: Any) -> None:
    assert len(model_error_text(lambda: decode_completion(body))) < 1_000


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shaped(json_values) | json_values, max_size=4))
def test_only_model_errors_escape_an_accumulated_stream(chunks: list[Any]) -> None:
    accumulator = StreamAccumulator()

    def feed_all() -> None:
        for chunk in chunks:
            accumulator.feed(chunk)
        accumulator.finish()

    assert len(model_error_text(feed_all)) < 3_000


@settings(max_examples=200)
@given(json_values, st.integers(min_value=400, max_value=599))
def test_only_http_errors_come_out_of_error_bodies(body: Any, status: int) -> None:
    encoded = json.dumps(body).encode()
    error = decode_error(status, {}, encoded, "application/json")
    assert error.status_code == status
    assert len(str(error)) < 1_000
