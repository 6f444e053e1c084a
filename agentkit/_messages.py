"""Layer 1 (conversation data): messages, tool calls, completions and usage, as pure records.

Records are frozen pydantic models. `Message` is the union of every role, discriminated by
`role`, and a list of messages round-trips exactly through `messages_to_json` /
`messages_from_json`, so a saved transcript can be passed back as history. The wire format
(what an OpenAI-compatible server expects) is produced by `_wire`, not here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

from ._media import Audio, Document, Image

__all__ = [
    "AssistantMessage",
    "Choice",
    "Completion",
    "CostSource",
    "DeveloperMessage",
    "ImagePart",
    "MediaPart",
    "MediaRecord",
    "Message",
    "PromptPart",
    "Reasoning",
    "SystemMessage",
    "TextPart",
    "ToolCall",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "messages_from_json",
    "messages_to_json",
    "repeated_call_ids",
]


class FrozenRecord(BaseModel):
    """Base of agentkit's immutable records (internal; not exported from `agentkit`)."""

    # defer_build: validators are built on first use, not at `import agentkit`.
    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid", defer_build=True)


CostSource = Literal["reported", "estimated", "unknown", "mixed"]
"""Where a cost comes from: the provider's own figure, a price table, nowhere, or several."""


class Usage(FrozenRecord):
    """Tokens, and what they cost where that is known, spent; adds up with `+`."""

    requests: int = 0
    """How many model requests this covers."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the provider's cache (`prompt_tokens_details`)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on hidden reasoning (`completion_tokens_details`)."""
    credits_used: float = 0.0
    """AI/ML API's `meta.usage.credits_used`, when the provider reports it."""
    cache_hits: int = 0
    """Answers a `ResponseCache` gave instead of the model (no request, no tokens)."""
    cache_misses: int = 0
    """Requests a `ResponseCache` passed on to the model."""
    cost: Decimal | None = Field(default=None, ge=0)
    """US dollars: the sum of the costs known (reported by the provider, or estimated from
    prices); None when none is known, never a made-up 0."""
    cost_source: CostSource = "unknown"
    """`reported`, `estimated`, `unknown`, or `mixed` for a sum of different ones (some
    requests' costs may then be missing from `cost`)."""

    def __add__(self, other: Usage) -> Usage:
        if self.cost is None and other.cost is None:
            cost = None
        else:
            cost = (self.cost or _ZERO) + (other.cost or _ZERO)
        return Usage(
            cost=cost,
            cost_source=_source(self, other),
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            credits_used=self.credits_used + other.credits_used,
            cache_hits=self.cache_hits + other.cache_hits,
            cache_misses=self.cache_misses + other.cache_misses,
        )


_ZERO = Decimal(0)


def _source(one: Usage, other: Usage) -> CostSource:
    """The source of a sum; a usage that counts no request (or is nothing) does not change it."""
    if not one.requests and one.cost is None:
        return other.cost_source
    if not other.requests and other.cost is None:
        return one.cost_source
    return one.cost_source if one.cost_source == other.cost_source else "mixed"


class TextPart(FrozenRecord):
    """A text part of a user message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(FrozenRecord):
    """An image part of a user message, by URL or `data:` URL."""

    type: Literal["image_url"] = "image_url"
    url: str
    detail: Literal["auto", "low", "high"] | None = None


ContentPart = Annotated[
    TextPart | ImagePart | Image | Document | Audio, Field(discriminator="type")
]
"""A part of a user message: text, an image (`Image`, or `ImagePart` by URL), a document or
audio."""

MediaRecord = Image | Document | Audio
"""An image, a document or audio (the records themselves, for annotations)."""

PromptPart = TextPart | ImagePart | Image | Document | Audio
"""What a prompt may hold besides text: `agent.run(["Describe this", Image.from_path(p)])`."""

MediaPart = Annotated[Image | Document | Audio, Field(discriminator="type")]
"""What a tool result may carry besides its text."""


class SystemMessage(FrozenRecord):
    """Instructions from the application."""

    role: Literal["system"] = "system"
    content: str


class DeveloperMessage(FrozenRecord):
    """Instructions from the developer (the newer name of system messages)."""

    role: Literal["developer"] = "developer"
    content: str


class UserMessage(FrozenRecord):
    """What the user said: text, or a sequence of content parts."""

    role: Literal["user"] = "user"
    content: str | tuple[ContentPart, ...]


class ToolCall(FrozenRecord):
    """One function call the model asked for."""

    id: str
    name: str
    arguments: str
    """The raw JSON text of the arguments, exactly as the model produced it."""


class Reasoning(FrozenRecord):
    """A reasoning model's thinking on an answer.

    What a person may read of it, and the provider's opaque data, sent back as it came so
    the model can go on from it.
    """

    id: str | None = None
    """The provider's id of the reasoning item (Responses: `rs_...`)."""
    summary: str = ""
    """The summary the provider gave (empty when it gave none)."""
    encrypted_content: str | None = None
    """The provider's encrypted reasoning (Responses, `include=["reasoning.encrypted_content"]`):
    replayed in the next request so nothing is stored at the provider."""


class AssistantMessage(FrozenRecord):
    """What the model answered: text, tool calls, or a refusal (and its reasoning, if any)."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    reasoning: tuple[Reasoning, ...] = ()
    """The reasoning that led to this answer, in order (reasoning models only)."""
    response_id: str | None = None
    """The provider's id of the response this answer is (Responses: `resp_...`), for a
    conversation the provider keeps (`ResponsesModel(store=True)`)."""
    provider_items: tuple[dict[str, Any], ...] = ()
    """Output items agentkit does not read (Responses: a built-in tool's call, a newer kind),
    kept as they came and sent back with the conversation, never acted on."""


class ToolMessage(FrozenRecord):
    """The result of one tool call, sent back to the model."""

    role: Literal["tool"] = "tool"
    tool_call_id: str
    content: str
    parts: tuple[MediaPart, ...] = ()
    """Images, documents or audio the tool returned (the text says where each one was)."""

    @model_serializer(mode="wrap")
    def _without_empty_parts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        encoded: dict[str, Any] = handler(self)
        if not self.parts:  # saved transcripts and cache keys stay as they were
            encoded.pop("parts", None)
        return encoded


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


@functools.cache
def _messages_adapter() -> TypeAdapter[list[Message]]:
    return TypeAdapter(list[Message])


class Choice(FrozenRecord):
    """One of the `n` answers of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: str | None = None
    """`"stop"`, `"tool_calls"`, `"length"`, `"content_filter"`, or whatever the server said."""


class Completion(FrozenRecord):
    """A whole response of the model to one request."""

    id: str = ""
    model: str = ""
    created: int = 0
    choices: tuple[Choice, ...]
    usage: Usage = Field(default_factory=Usage)  # no instance at import: that builds a validator
    system_fingerprint: str | None = None
    request_id: str | None = None
    """The provider's id of the request that answered (AI/ML API's `x-inference-id`, else
    `x-request-id`): what its support and its logs know it by."""
    served_by: str | None = None
    """Which model of a `FallbackModel` answered (its label, e.g. `"openai:gpt-4.1"`); None
    from a single model."""

    @property
    def message(self) -> AssistantMessage:
        """The first choice's message (the only one unless `n > 1` was asked for)."""
        return self.choices[0].message


def repeated_call_ids(calls: Sequence[ToolCall]) -> list[str]:
    """The ids that more than one of `calls` carries (an answer's ids must be distinct).

    Results and approvals go back by id: with two calls named `call_1`, approving "call_1"
    would approve both, and the model could slip a second call in behind the first.
    """
    seen: set[str] = set()
    repeated: list[str] = []
    for call in calls:
        if call.id in seen and call.id not in repeated:
            repeated.append(call.id)
        seen.add(call.id)
    return repeated


def messages_to_json(messages: Sequence[Message]) -> bytes:
    """Serialize messages to JSON that `messages_from_json` reads back exactly."""
    return _messages_adapter().dump_json(list(messages))


def messages_from_json(data: str | bytes) -> list[Message]:
    """Read messages written by `messages_to_json` (or hand-written in the same shape)."""
    return _messages_adapter().validate_json(data)
