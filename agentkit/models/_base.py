"""Layer 3 (model boundary): what a model is asked, and the `Model` protocol that answers.

A `Model` completes a `ModelRequest` (messages, tool definitions, settings) in one of two ways:
`complete()` returns the whole `Completion`; `stream()` is an async context manager whose
iterator yields `StreamDelta` records as they arrive and ends with `ResponseCompleted`. The
HTTP implementation is `ChatModel`; `agentkit.testing` has scripted ones. Nothing here knows
about the agent loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from pydantic import Field, model_validator

from agentkit._messages import Completion, FrozenRecord, Message, ToolCall
from agentkit._tool import ToolDefinition

from ._profile import ModelProfile

__all__ = [
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "Model",
    "ModelRequest",
    "ModelSettings",
    "ModelSpec",
    "ReasoningDelta",
    "RefusalDelta",
    "ResponseCompleted",
    "ResponseFormat",
    "StreamDelta",
    "TextDelta",
    "TextFormat",
    "ToolCallArgumentsDelta",
    "ToolCallReady",
    "ToolCallStarted",
    "completion_deltas",
    "model_name",
]


class TextFormat(FrozenRecord):
    """`response_format: {"type": "text"}`: plain text (the default)."""

    type: Literal["text"] = "text"


class JsonObjectFormat(FrozenRecord):
    """`response_format: {"type": "json_object"}`: any valid JSON object.

    OpenAI rejects it unless the word "JSON" appears in the messages.
    """

    type: Literal["json_object"] = "json_object"


class JsonSchemaFormat(FrozenRecord):
    """`response_format: {"type": "json_schema", ...}`: JSON that follows `schema`."""

    type: Literal["json_schema"] = "json_schema"
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


ResponseFormat = TextFormat | JsonObjectFormat | JsonSchemaFormat

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ServiceTier = Literal["auto", "default", "flex", "scale", "priority", "fast"]
Verbosity = Literal["low", "medium", "high"]
ToolChoiceMode = Literal["none", "auto", "required"]
"""The `tool_choice` keywords; any other `tool_choice` value names a tool."""
TOOL_CHOICE_MODES: tuple[ToolChoiceMode, ...] = get_args(ToolChoiceMode)


@dataclass(frozen=True, slots=True)
class UseTool:
    """A `tool_choice` that forces one tool, named: `UseTool("search")`.

    A plain string works too, except for a tool named like a mode: `tool_choice="auto"` is
    the mode, `UseTool("auto")` the tool called `auto`.
    """

    name: str


ToolChoice = ToolChoiceMode | UseTool | str
"""A mode (`"none"`, `"auto"`, `"required"`), or one tool: `UseTool(name)` or its name."""


def forced_tool(choice: ToolChoice | None) -> str | None:
    """The tool `choice` forces by name; None for a mode or no choice."""
    if isinstance(choice, UseTool):
        return choice.name
    if choice is None or choice in TOOL_CHOICE_MODES:
        return None
    return choice


class ModelSettings(FrozenRecord):
    """Request settings; only the ones set are sent.

    `tool_choice` is `"none"`, `"auto"`, `"required"`, or one of the request's tools:
    `UseTool(name)` or its name (sent in the named-function form). `tool_choice` and
    `parallel_tool_calls` are sent only with tools. `extra_body` passes other providers'
    parameters through as they are.
    """

    max_tokens: int | None = Field(default=None, ge=1)
    tool_choice: ToolChoiceMode | UseTool | str | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    include_usage: bool = True
    """With `stream`, ask for the usage chunk (`stream_options.include_usage`)."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature (reasoning models such as GPT-5 refuse values other than 1)."""
    top_p: float | None = Field(default=None, ge=0, le=1)
    """Nucleus sampling: the probability mass of the tokens considered."""
    stop: str | tuple[str, ...] | None = None
    """Up to 4 sequences that end the answer where they appear."""
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    """Return the log probabilities of the output tokens."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """How many likely tokens to return per position (needs `logprobs=True`)."""
    logit_bias: Mapping[str, int] | None = None
    """Token id (as a string) to a bias from -100 to 100."""
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Verbosity | None = None
    """How long the answer should be (GPT-5 and later): `verbosity` on Chat Completions,
    `text.verbosity` on Responses."""
    """How hard a reasoning model thinks before it answers."""
    user: str | None = None
    """A stable id of your end user (OpenAI now prefers `safety_identifier`, via extra_body)."""
    metadata: Mapping[str, str] | None = None
    """Up to 16 key/value pairs stored with the request by providers that keep them."""
    service_tier: ServiceTier | None = None
    """The provider's processing tier (`"auto"`, `"default"`, `"flex"`, ...)."""
    extra_body: Mapping[str, Any] | None = None

    @model_validator(mode="after")
    def _check_combinations(self) -> ModelSettings:
        if isinstance(self.stop, tuple) and not 1 <= len(self.stop) <= 4:
            raise ValueError("stop takes 1 to 4 sequences")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=True")
        if self.logit_bias and any(not -100 <= v <= 100 for v in self.logit_bias.values()):
            raise ValueError("logit_bias values must be between -100 and 100")
        if self.metadata and (
            len(self.metadata) > 16
            or any(len(k) > 64 or len(v) > 512 for k, v in self.metadata.items())
        ):
            raise ValueError("metadata takes up to 16 keys of 64 characters, values of 512")
        return self

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field that `override` sets explicitly replaced."""
        if override is None:
            return self
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        return self.model_copy(update=changes)


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a model."""

    messages: Sequence[Message]
    tools: Sequence[ToolDefinition] = ()
    """The tools offered (`Tool.definition()`), in no provider's wire shape."""
    settings: ModelSettings = field(default_factory=ModelSettings)
    client_request_id: str | None = field(default=None, compare=False)
    """Sent as `X-Client-Request-Id` (1-128 of `A-Za-z0-9._:-`): a run names each request
    `ak-<run>-<turn>`, so a log line, a span, a timeline entry and the provider's logs can be
    joined; a model makes one up for a request without."""
    on_retry: RetryHook | None = field(default=None, compare=False)
    """Awaited before each retry of this request by a model that retries (`ChatModel`), with
    the number of the attempt that failed, its error and the seconds waited: how a run hears
    of retries, and how a rate limit charges them."""


RetryHook = Callable[[int, BaseException, float], Awaitable[None]]
"""`(failed attempt, its error, seconds waited) -> awaitable`: told before a retry is sent."""


def with_retry_hook(request: ModelRequest, hook: RetryHook | None) -> ModelRequest:
    """`request` with `on_retry` replaced.

    What `dataclasses.replace` does, several times cheaper: a wrapper does this for every
    request. tests/models/test_model_info.py checks that it keeps every other field.
    """
    return ModelRequest(
        request.messages, request.tools, request.settings, request.client_request_id, hook
    )


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text arrived."""

    choice: int
    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """A piece of a refusal arrived (the model declined to answer)."""

    choice: int
    text: str
    kind: Literal["refusal_delta"] = "refusal_delta"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (its summary) arrived: a UI can show "thinking"."""

    choice: int
    text: str
    kind: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a tool call: its id and name are known, its arguments not yet."""

    choice: int
    index: int
    id: str
    name: str
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True, slots=True)
class ToolCallArgumentsDelta:
    """A fragment of a tool call's JSON arguments arrived."""

    choice: int
    index: int
    delta: str
    kind: Literal["tool_call_arguments_delta"] = "tool_call_arguments_delta"


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    """A tool call's arguments are complete (the next call began, or the choice finished)."""

    choice: int
    index: int
    call: ToolCall
    truncated: bool = False
    """The choice finished with `"length"`: these arguments were cut off by `max_tokens`."""
    kind: Literal["tool_call_ready"] = "tool_call_ready"


@dataclass(frozen=True, slots=True)
class ResponseCompleted:
    """The response is complete: the same `Completion` a non-streamed request returns."""

    completion: Completion
    kind: Literal["response_completed"] = "response_completed"


StreamDelta = (
    TextDelta
    | RefusalDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallReady
    | ResponseCompleted
)


def completion_deltas(completion: Completion) -> list[StreamDelta]:
    """The deltas a whole completion amounts to (for servers and doubles that do not stream)."""
    deltas: list[StreamDelta] = []
    for choice in completion.choices:
        if choice.message.content:
            deltas.append(TextDelta(choice.index, choice.message.content))
        if choice.message.refusal:
            deltas.append(RefusalDelta(choice.index, choice.message.refusal))
        truncated = choice.finish_reason == "length"
        for index, call in enumerate(choice.message.tool_calls):
            deltas.append(ToolCallStarted(choice.index, index, call.id, call.name))
            deltas.append(ToolCallArgumentsDelta(choice.index, index, call.arguments))
            deltas.append(ToolCallReady(choice.index, index, call, truncated))
    deltas.append(ResponseCompleted(completion))
    return deltas


@runtime_checkable
class Model(Protocol):
    """Anything that completes chat requests: `ChatModel`, the test doubles, your own."""

    async def complete(self, request: ModelRequest) -> Completion:
        """Send `request` and return the whole completion."""
        ...

    def stream(
        self, request: ModelRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamDelta]]:
        """Send `request` with streaming; iterate the deltas inside the context."""
        ...

    async def aclose(self) -> None:
        """Release what the model holds (connections); a model that holds nothing returns."""
        ...


ModelSpec = Model | str | Sequence[Model | str] | None
"""What an `Agent` or `Extractor` takes as its model: a `Model`, a model string, a list of
them (a `FallbackModel`), or None for the default."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Who a model is: what traces, timelines, cache keys and agents read of it.

    A `Model` declares it as an `info` attribute (`ChatModel`, `ResponsesModel`, the test
    doubles, the wrappers: a wrapper answers with the wrapped model's). Read it with
    `model_info(model)`, which also knows models of your own that do not declare it.
    """

    name: str
    """The model's name on its endpoint (`gen_ai.request.model`, cache keys)."""
    provider: str | None = None
    """The provider's name, for traces."""
    base_url: str | None = None
    profile: ModelProfile | None = None
    """What the endpoint accepts; None: everything."""
    endpoint: Mapping[str, Any] | None = None
    """What of the endpoint changes an answer, for cache keys (never a secret)."""


def model_info(model: object) -> ModelInfo:
    """Who `model` is: its `info`.

    A `Model` that does not declare one is known by its `model` or `name` attribute (else its
    class's name) and its `profile` attribute, if any.
    """
    info = getattr(model, "info", None)
    if isinstance(info, ModelInfo):
        return info
    name = getattr(model, "model", None) or getattr(model, "name", None)
    profile = getattr(model, "profile", None)
    return ModelInfo(
        str(name or type(model).__name__),
        profile=profile if isinstance(profile, ModelProfile) else None,
    )


def model_name(model: object) -> str:
    """The name a model answers to, for traces, timelines and cache keys."""
    return model_info(model).name
