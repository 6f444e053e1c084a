"""Layer 3 (model boundary): what a provider, and a model family on it, accepts in a request.

A `ModelProfile` is read when a Chat Completions request is built (`_chat_wire`): fields are
renamed, downgraded, dropped with a warning, or refused before anything is sent. The rule for
each field is in `docs/providers.md`; the table below is the code behind it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agentkit._exceptions import ConfigurationError

__all__ = [
    "MEDIA_KINDS",
    "REASONING_REFUSED",
    "SAMPLING_SETTINGS",
    "ModelProfile",
    "SettingDroppedWarning",
    "chain_profile",
    "is_openai_reasoning_model",
    "reasoning_profile",
]

SAMPLING_SETTINGS = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
     "top_logprobs", "logit_bias", "stop", "user", "metadata", "service_tier",
     "reasoning_effort"}
)  # fmt: skip
"""The settings a profile may list in `dropped_settings`."""

REASONING_REFUSED = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
     "top_logprobs", "logit_bias"}
)  # fmt: skip
"""What OpenAI's reasoning models (o1, o3, o4-mini, GPT-5) answer with a 400."""


MEDIA_KINDS = frozenset({"image", "document", "audio"})
"""What `ModelProfile.media` may name."""


class SettingDroppedWarning(UserWarning):
    """A setting the model does not accept was left out of the request (see its profile)."""


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a Chat Completions endpoint accepts; agentkit shapes each request to it.

    The defaults describe OpenAI's own API for a non-reasoning model. Override any field:
    `ChatModel(..., profile=ModelProfile(json_schema=False))`, or
    `provider.profile.replace(seed=False)`.
    """

    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Where `ModelSettings.max_tokens` is sent (renamed, never dropped)."""
    strict_tools: bool = True
    """`strict: true` on tools and `json_schema` formats; without it they are sent non-strict
    and the arguments are still validated here against the same schema."""
    parallel_tool_calls: bool = True
    """`parallel_tool_calls` accepted; otherwise dropped with a warning."""
    tool_choice_required: bool = True
    """`tool_choice: "required"` accepted; otherwise dropped with a warning (the loop and
    extraction still check that the answer calls a tool, and ask again)."""
    tool_choice_named: bool = True
    """`tool_choice` naming one tool accepted; otherwise sent as `"required"` when that is
    the request's only tool (the same thing), else dropped with a warning."""
    json_schema: bool = True
    """`response_format: json_schema` accepted; otherwise an agent's or extraction's
    structured output uses the output tool instead, and an explicit one is an error."""
    json_object: bool = True
    """`response_format: json_object` accepted; otherwise an explicit one is an error."""
    stream_usage: bool = True
    """`stream_options.include_usage` accepted; otherwise left out (usage reads zero)."""
    seed: bool = True
    """`seed` accepted; otherwise dropped with a warning."""
    multiple_choices: bool = True
    """`n > 1` accepted; otherwise an error (a caller asking for n answers needs n)."""
    instructions_role: Literal["system", "developer"] | None = None
    """Send system and developer messages all in this role (`None`: each as it is)."""
    dropped_settings: frozenset[str] = frozenset()
    """Sampling settings the model refuses; dropped with a warning when set."""
    dialect: Literal["chat", "responses"] = "chat"
    """Which of OpenAI's two dialects the model speaks for tools: Chat Completions, or
    Responses (`/v1/responses`; the reasoning models that refuse tools on the other)."""
    reasoning_field: Literal["reasoning_content", "reasoning"] | None = None
    """Chat Completions: the field in which the model's reasoning goes back in the history of
    a tool loop (DeepSeek, Kimi, GLM and vLLM serving them answer 400 when it is dropped).
    Reasoning is read from either field whatever this says; it is sent back only here."""
    server_state: bool = False
    """Responses: the provider keeps the conversation (`store: true`); each request then
    sends only what came after the last answer, naming it by `previous_response_id`."""
    reasoning_replay: bool = True
    """Responses: ask for reasoning encrypted (`include: ["reasoning.encrypted_content"]`)
    and send it back in the next request, so nothing is stored at the provider."""

    context_window: int | None = None
    """Tokens the model reads at most (prompt and answer); None: unknown. History processors
    read it (`compact()` compacts as the prompt nears it)."""
    media: frozenset[str] = frozenset({"image", "document", "audio"})
    """What a user message or tool result may attach: `image`, `document` (PDF), `audio`.
    Anything else is refused before the request is sent, naming the model and the part."""
    max_media_bytes: int | None = None
    """The largest attachment (bytes of content) the model takes; None: only the media
    limits apply. A larger part is refused before the request, naming the model and it."""

    def __post_init__(self) -> None:
        if self.media - MEDIA_KINDS:
            raise ConfigurationError(
                f"media names {', '.join(sorted(self.media - MEDIA_KINDS))}; the kinds are "
                f"{', '.join(sorted(MEDIA_KINDS))}"
            )
        unknown = sorted(self.dropped_settings - SAMPLING_SETTINGS)
        if unknown:
            raise ConfigurationError(
                f"dropped_settings names {', '.join(unknown)}, which are not settings a profile "
                f"can drop; choose from {', '.join(sorted(SAMPLING_SETTINGS))}"
            )

    def replace(self, **changes: object) -> ModelProfile:
        """This profile with `changes` applied (unknown field names are a `TypeError`)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_REASONING_NAME = re.compile(
    r"^(o\d+(-mini|-pro)?|gpt-5([.-]\d)?(-mini|-nano|-pro|-codex)?)(-20\d\d-\d\d-\d\d|$)"
)


def is_openai_reasoning_model(model: str) -> bool:
    """`o1`, `o3-mini`, `o4-mini`, `gpt-5`, `gpt-5.1-mini`... but not the `-chat` variants.

    The provider's prefix (`openai/`, `azure/`) is ignored; dates and versions may follow.
    """
    name = model.rsplit("/", 1)[-1].lower()
    return bool(_REASONING_NAME.match(name))


_RESPONSES_NAME = re.compile(
    r"^(o\d.*|gpt-5[.-](?:[4-9]|\d{2,})(?:\b|[.-]).*|.*codex.*|gpt-.*-pro\b.*)$"
)


def needs_responses(model: str) -> bool:
    """Whether OpenAI (or AI/ML API) serves `model`'s tools only on `/v1/responses`.

    GPT-5.4 and later, the o-series, codex and pro models: Chat Completions refuses their
    function tools together with reasoning. The provider's prefix is ignored.
    """
    name = model.rsplit("/", 1)[-1].lower()
    return bool(_RESPONSES_NAME.match(name))


def reasoning_profile(profile: ModelProfile) -> ModelProfile:
    """`profile` for an OpenAI reasoning model (o-series, GPT-5).

    `max_completion_tokens`, the `developer` role, and the sampling settings those models
    refuse dropped.
    """
    return profile.replace(
        max_tokens_field="max_completion_tokens",
        instructions_role="developer",
        dropped_settings=profile.dropped_settings | REASONING_REFUSED,
    )


def chain_profile(profiles: Sequence[ModelProfile | None]) -> ModelProfile | None:
    """What an agent may plan on for a chain of models (`FallbackModel`).

    The first one's profile, with `json_schema`, `json_object`, `multiple_choices` and each
    kind of `media` only where every model has them (each model still renders its requests
    with its own profile).
    """
    known = [p for p in profiles if p is not None]
    if not known:
        return None
    first = profiles[0] or ModelProfile()
    return first.replace(
        media=frozenset.intersection(*(p.media for p in known)),
        json_schema=all(p.json_schema for p in known),
        json_object=all(p.json_object for p in known),
        multiple_choices=all(p.multiple_choices for p in known),
    )
