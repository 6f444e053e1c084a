"""Layer 3 (model boundary): a `ChatModel` from a model string such as `"openai:gpt-4.1"`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from ._chat import ChatModel
from ._profile import ModelProfile, needs_responses
from ._providers import parse_model_string
from ._responses import ResponsesModel

__all__ = ["infer_model"]


def infer_model(
    spec: str,
    *,
    environ: Mapping[str, str] | None = None,
    profile: ModelProfile | Mapping[str, Any] | None = None,
    api: Literal["chat", "responses"] | None = None,
    **options: Any,
) -> ChatModel:
    """The model a `"provider:model"` string names, configured from the environment.

    ```python
    model = infer_model("groq:llama-3.3-70b-versatile")          # GROQ_API_KEY
    model = infer_model("ollama:llama3.2", profile={"seed": False})
    ```

    Args:
        spec: `provider:model`; `agentkit models` lists the providers.
        environ: Where the provider's variables are read (default: `os.environ`).
        profile: A whole `ModelProfile`, or a mapping of fields that change the
            provider's profile for this model.
        api: The dialect: `"chat"` (Chat Completions) or `"responses"`; by default the one
            the model needs (OpenAI's and AI/ML API's GPT-5.4 and later, o-series, codex and
            pro models: Responses; everything else: Chat Completions).
        options: `ChatModel` arguments; they win over the environment (`api_key`,
            `base_url`, `headers`, `timeout`...).

    Raises:
        ModelConfigurationError: The string names no provider, an unknown one, or no model
            (the message lists the known providers); Azure without its endpoint.
    """
    provider, model = parse_model_string(spec)
    env = os.environ if environ is None else environ
    settings = provider.chat_options(model, env)
    if isinstance(profile, ModelProfile):
        settings["profile"] = profile
    elif profile is not None:
        settings["profile"] = settings["profile"].replace(**profile)
    settings.update(options)
    if api is None:
        speaks = provider.name in _OPENAI_FAMILIES and needs_responses(model)
        api = "responses" if speaks or settings["profile"].dialect == "responses" else "chat"
    made = ResponsesModel(**settings) if api == "responses" else ChatModel(**settings)
    made._missing_key_hint = provider.key_hint()
    return made


_OPENAI_FAMILIES = frozenset({"openai", "aimlapi", "azure"})
"""Providers whose names follow OpenAI's (where `needs_responses` can tell by the name)."""
