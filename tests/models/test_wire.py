"""Requests are exact (both schemas accept every one we can build); responses are read leniently."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkit import (
    AssistantMessage,
    AuthenticationError,
    BadRequestError,
    DeveloperMessage,
    ImagePart,
    ModelHTTPError,
    ModelResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    tool,
)
from agentkit.models._base import (
    JsonObjectFormat,
    JsonSchemaFormat,
    ModelRequest,
    ModelSettings,
    TextFormat,
)
from agentkit.models._chat_wire import decode_completion, encode_request
from agentkit.models._wire_read import decode_error, retry_after_seconds
from tests import tool_zoo as zoo
from tests.spec import DEFAULT_MODEL, aimlapi_validator, openai_validator

CONVERSATION = [
    SystemMessage(content="Be brief."),
    DeveloperMessage(content="Use tools."),
    UserMessage(content="Weather in Paris?"),
    UserMessage(
        content=(
            TextPart(text="What is this?"),
            ImagePart(url="https://example.com/cat.png", detail="low"),
            ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
        )
    ),
    AssistantMessage(
        tool_calls=(
            ToolCall(id="call_1", name="power", arguments='{"base": 2, "exponent": 3}'),
            ToolCall(id="call_2", name="models", arguments="{}"),
        )
    ),
    ToolMessage(tool_call_id="call_1", content="8"),
    ToolMessage(tool_call_id="call_2", content='{"error": "x"}'),
    AssistantMessage(
        content="It is 8.", tool_calls=(ToolCall(id="c3", name="power", arguments="{}"),)
    ),
    ToolMessage(tool_call_id="c3", content=""),
    AssistantMessage(content="Done."),
    AssistantMessage(content=None),
    AssistantMessage(refusal="I can't help with that."),
]
TOOLS = [tool(f).definition() for f in (zoo.power, zoo.models, zoo.free_dict, zoo.no_parameters)]
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}

SETTINGS = {
    "nothing": ModelSettings(),
    "max_tokens": ModelSettings(max_tokens=100),
    "choice none": ModelSettings(tool_choice="none"),
    "choice auto": ModelSettings(tool_choice="auto"),
    "choice required": ModelSettings(tool_choice="required"),
    "choice named": ModelSettings(tool_choice="power"),
    "parallel off": ModelSettings(parallel_tool_calls=False),
    "parallel on": ModelSettings(parallel_tool_calls=True, tool_choice="required"),
    "n": ModelSettings(n=3),
    "seed": ModelSettings(seed=1),
    "text format": ModelSettings(response_format=TextFormat()),
    "json object": ModelSettings(response_format=JsonObjectFormat()),
    "json schema": ModelSettings(
        response_format=JsonSchemaFormat(
            name="answer", schema=SCHEMA, strict=True, description="An answer."
        )
    ),
    "json schema bare": ModelSettings(response_format=JsonSchemaFormat(name="answer")),
    "everything": ModelSettings(
        max_tokens=5,
        tool_choice="models",
        parallel_tool_calls=False,
        n=2,
        seed=42,
        response_format=JsonSchemaFormat(name="a", schema=SCHEMA),
    ),
    "common-parameters": ModelSettings(
        temperature=0.2,
        top_p=0.9,
        stop=("END", "STOP"),
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logprobs=True,
        top_logprobs=3,
        logit_bias={"50256": -100},
        reasoning_effort="low",
        user="user-1",
        metadata={"job": "nightly"},
        service_tier="flex",
    ),
}
REQUESTS = (
    [
        pytest.param(
            ModelRequest(messages=[UserMessage(content="Hi")], settings=settings),
            stream,
            id=f"{name}-plain-{'stream' if stream else 'json'}",
        )
        for name, settings in SETTINGS.items()
        for stream in (False, True)
    ]
    + [
        pytest.param(
            ModelRequest(messages=CONVERSATION, tools=TOOLS, settings=settings),
            stream,
            id=f"{name}-tools-{'stream' if stream else 'json'}",
        )
        for name, settings in SETTINGS.items()
        for stream in (False, True)
    ]
    + [
        pytest.param(
            ModelRequest(
                messages=[UserMessage(content="Hi")], settings=ModelSettings(include_usage=False)
            ),
            True,
            id="stream-without-usage",
        )
    ]
)


@pytest.mark.parametrize(("request_", "stream"), REQUESTS)
def test_every_request_validates_against_the_openai_schema(
    request_: ModelRequest, stream: bool
) -> None:
    body = encode_request(request_, model=DEFAULT_MODEL, stream=stream)
    assert [e.message for e in openai_validator().iter_errors(body)] == []


@pytest.mark.parametrize(("request_", "stream"), REQUESTS)
def test_every_request_validates_against_the_aimlapi_schema(
    request_: ModelRequest, stream: bool
) -> None:
    body = encode_request(request_, model=DEFAULT_MODEL, stream=stream)
    assert [e.message for e in aimlapi_validator().iter_errors(body)] == []


def test_only_set_values_are_sent() -> None:
    body = encode_request(ModelRequest(messages=[UserMessage(content="Hi")]), model="m")
    assert body == {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def test_tool_settings_are_sent_only_with_tools() -> None:
    settings = ModelSettings(tool_choice="required", parallel_tool_calls=False)
    without = encode_request(
        ModelRequest(messages=[UserMessage(content="Hi")], settings=settings), model="m"
    )
    assert "tool_choice" not in without
    assert "parallel_tool_calls" not in without
    with_tools = encode_request(
        ModelRequest(messages=[UserMessage(content="Hi")], tools=TOOLS, settings=settings),
        model="m",
    )
    assert with_tools["tool_choice"] == "required"
    assert with_tools["parallel_tool_calls"] is False


def test_named_tool_choice_uses_the_function_form() -> None:
    body = encode_request(
        ModelRequest(messages=[], tools=TOOLS, settings=ModelSettings(tool_choice="power")),
        model="m",
    )
    assert body["tool_choice"] == {"type": "function", "function": {"name": "power"}}


def test_unknown_tool_choice_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="tool_choice 'nope' is neither"):
        encode_request(
            ModelRequest(messages=[], tools=TOOLS, settings=ModelSettings(tool_choice="nope")),
            model="m",
        )


def test_streaming_asks_for_usage() -> None:
    body = encode_request(ModelRequest(messages=[]), model="m", stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_assistant_with_tool_calls_leaves_content_out() -> None:
    body = encode_request(ModelRequest(messages=CONVERSATION), model="m")
    assistant = body["messages"][4]
    assert "content" not in assistant
    assert assistant["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "power", "arguments": '{"base": 2, "exponent": 3}'},
    }
    assert body["messages"][-2] == {"role": "assistant", "content": ""}


def test_response_format_json_schema_is_nested() -> None:
    settings = SETTINGS["json schema"]
    body = encode_request(ModelRequest(messages=[], settings=settings), model="m")
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": SCHEMA,
            "description": "An answer.",
            "strict": True,
        },
    }


def test_extra_body_passes_through_but_cannot_override() -> None:
    settings = ModelSettings(extra_body={"temperature": 0.2, "top_k": 5})
    body = encode_request(ModelRequest(messages=[], settings=settings), model="m")
    assert body["temperature"] == 0.2
    with pytest.raises(ValueError, match="extra_body repeats 'model'"):
        encode_request(
            ModelRequest(messages=[], settings=ModelSettings(extra_body={"model": "x"})), model="m"
        )


@pytest.mark.parametrize(
    ("field", "value"), [("seed", 0), ("n", 0), ("max_tokens", 0), ("tool_choice", 3)]
)
def test_bad_settings_are_rejected_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        ModelSettings(**{field: value})


def test_settings_merge_only_what_the_override_sets() -> None:
    base = ModelSettings(max_tokens=10, seed=3)
    merged = base.merged(ModelSettings(seed=4))
    assert (merged.max_tokens, merged.seed) == (10, 4)


# --- decoding ---------------------------------------------------------------------------

AIMLAPI_RESPONSE = {
    "id": "gen-1",
    "object": "chat.completion",
    "created": 1760000000,
    "model": "gpt-5.2-chat-latest",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "completion_tokens_details": {"reasoning_tokens": 1},
        "prompt_tokens_details": {"cached_tokens": 4},
    },
    "system_fingerprint": None,
    "meta": {"usage": {"credits_used": 42, "usd_spent": 0.00002}},
}


def test_decodes_aimlapi_response_leniently() -> None:
    completion = decode_completion(AIMLAPI_RESPONSE)
    assert completion.message.content == "Hello!"
    assert completion.model == "gpt-5.2-chat-latest"
    assert completion.usage.reasoning_tokens == 1
    assert completion.usage.cached_tokens == 4
    assert completion.usage.credits_used == 42
    assert completion.system_fingerprint is None


def test_routes_choices_by_index() -> None:
    data = {
        "choices": [
            {"index": 1, "message": {"content": "b"}, "finish_reason": "stop"},
            {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
        ]
    }
    completion = decode_completion(data)
    assert [c.message.content for c in completion.choices] == ["a", "b"]
    assert completion.usage.requests == 1


def test_decodes_tool_calls_with_nulls() -> None:
    data = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": None},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": None,
    }
    completion = decode_completion(data)
    assert completion.message.tool_calls == (ToolCall(id="c1", name="f", arguments=""),)


@pytest.mark.parametrize("body", [[], {"object": "error"}, {"choices": "x"}, "text"])
def test_non_completions_are_response_errors(body: Any) -> None:
    with pytest.raises(ModelResponseError, match="not a chat completion"):
        decode_completion(body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (408, ModelHTTPError),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, cls: type[ModelHTTPError]) -> None:
    error = decode_error(status, {}, b'{"error": {"message": "nope", "type": "x"}}')
    assert type(error) is cls
    assert error.status_code == status
    assert error.message == "nope"


def test_openai_envelope() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "You exceeded your quota",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        }
    ).encode()
    error = decode_error(429, {"x-request-id": "req_9"}, body)
    assert error.code == "insufficient_quota"
    assert error.request_id == "req_9"
    assert str(error) == "HTTP 429: You exceeded your quota (request id req_9)"


def test_aimlapi_flat_body() -> None:
    body = json.dumps(
        {
            "message": "Insufficient credits",
            "path": "/v1/chat/completions",
            "requestId": "abc",
            "statusCode": "403",
            "timestamp": "t",
        }
    ).encode()
    error = decode_error(403, {}, body)
    assert isinstance(error, PermissionDeniedError)
    assert (error.message, error.request_id) == ("Insufficient credits", "abc")


def test_problem_json() -> None:
    body = json.dumps(
        {
            "title": "Unauthorized",
            "status": 401,
            "message": "Invalid API key",
            "instance": "/v1",
            "requestId": "r1",
            "timestamp": "t",
            "error": {"name": "AuthError", "message": "Invalid API key"},
        }
    ).encode()
    error = decode_error(401, {}, body, "application/problem+json")
    assert isinstance(error, AuthenticationError)
    assert (error.message, error.code, error.request_id) == ("Invalid API key", "AuthError", "r1")


def test_html_error_page_is_still_readable() -> None:
    error = decode_error(
        502, {}, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    )
    assert isinstance(error, ServerError)
    assert error.message == "502 Bad Gateway"
    assert error.body.startswith("<html>")


def test_empty_error_body() -> None:
    assert decode_error(500, {}, b"").message == "the server answered 500 with an empty body"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_http_date_in_the_future() -> None:
    import email.utils
    import time

    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": future}) or 0) <= 30


def test_common_parameters_are_sent_under_their_names_only_when_set() -> None:
    request = ModelRequest(
        messages=[UserMessage(content="Hi")], settings=SETTINGS["common-parameters"]
    )
    body = encode_request(request, model=DEFAULT_MODEL)
    assert {key: body[key] for key in ("temperature", "stop", "logit_bias", "metadata")} == {
        "temperature": 0.2,
        "stop": ["END", "STOP"],
        "logit_bias": {"50256": -100},
        "metadata": {"job": "nightly"},
    }
    plain = encode_request(ModelRequest(messages=[UserMessage(content="Hi")]), model="m")
    assert set(plain) == {"model", "messages"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"stop": ("a", "b", "c", "d", "e")}, "stop takes 1 to 4"),
        ({"top_logprobs": 2}, "top_logprobs needs logprobs=True"),
        ({"logit_bias": {"1": 500}}, "between -100 and 100"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"service_tier": "gold"}, "service_tier"),
        ({"metadata": {str(n): "v" for n in range(17)}}, "up to 16 keys"),
    ],
)
def test_bad_common_parameters_are_refused_naming_the_setting(
    options: dict[str, Any], message: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        ModelSettings(**options)
