"""Layer 3 (model boundary): the OpenAI-compatible providers agentkit knows by name.

A `Provider` knows its base URL (and the variable that moves it), the variables of its key
and whether it needs one, and the `ModelProfile` of its quirks (per model family where that
matters). `parse_model_string("groq:llama-3.3-70b-versatile")` finds it; `_infer` builds the
model. Pure data and environment reading: nothing here imports httpx.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from agentkit._exceptions import ConfigurationError, ModelConfigurationError

from ._base import model_info
from ._profile import REASONING_REFUSED, ModelProfile, chain_profile, is_openai_reasoning_model

__all__ = [
    "DEFAULT_MODEL_STRING",
    "PROVIDERS",
    "AzureProvider",
    "Provider",
    "parse_model_string",
    "profile_of",
    "provider_named",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """An OpenAI-compatible service, or a kind of local server, known by name."""

    name: str
    title: str
    base_url: str
    base_url_variables: tuple[str, ...] = ()
    """Variables that move the base URL, the first one set wins."""
    key_variables: tuple[str, ...] = ()
    """Variables that hold the key, the first one set wins."""
    needs_key: bool = True
    """Without a key, requests fail before they are sent (servers on this machine never
    need one, whatever the provider)."""
    profile: ModelProfile = field(default_factory=ModelProfile)
    reasoning_profile: ModelProfile | None = None
    """The profile for OpenAI's reasoning models (o-series, GPT-5) on this provider."""
    example: str = ""
    """A model name for the docs and `agentkit models`."""
    start: str = ""
    """For a server run on this machine: the command that starts it (for error hints)."""

    def profile_for(self, model: str) -> ModelProfile:
        """The profile for `model` on this provider (its family's, where that differs)."""
        if self.reasoning_profile is not None and is_openai_reasoning_model(model):
            return self.reasoning_profile
        return self.profile

    def api_key(self, environ: Mapping[str, str]) -> str | None:
        """The key from the first of `key_variables` that is set."""
        return next((environ[n] for n in self.key_variables if environ.get(n)), None)

    def base_url_from(self, environ: Mapping[str, str]) -> str:
        """The base URL: from the first of `base_url_variables` that is set, or the default."""
        return next((environ[n] for n in self.base_url_variables if environ.get(n)), self.base_url)

    def missing(self, environ: Mapping[str, str]) -> list[str]:
        """The variables still to set before this provider can be used here ([] when ready)."""
        if self.needs_key and self.key_variables and not self.api_key(environ):
            return [self.key_variables[0]]
        return []

    def chat_options(self, model: str, environ: Mapping[str, str]) -> dict[str, Any]:
        """The `ChatModel` keyword arguments for `model` on this provider."""
        return {
            "model": model,
            "base_url": self.base_url_from(environ),
            "api_key": self.api_key(environ),
            "profile": self.profile_for(model),
            "key_required": self.needs_key,
            "provider": self.name,
        }

    def key_hint(self) -> str:
        """How to give this provider its key, for the error a missing key raises."""
        if not self.key_variables:
            return "pass api_key=..."
        others = ", ".join(self.key_variables[1:])
        return f"set {self.key_variables[0]}" + (f" (or {others})" if others else "")


@dataclass(frozen=True, slots=True)
class AzureProvider(Provider):
    """Azure OpenAI: the model string names a deployment, the key goes in `api-key`."""

    endpoint_variable: str = "AZURE_OPENAI_ENDPOINT"
    api_version_variables: tuple[str, ...] = ("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION")
    api_version: str = "2024-10-21"

    def missing(self, environ: Mapping[str, str]) -> list[str]:
        """The key and the endpoint are both needed."""
        endpoint = [] if environ.get(self.endpoint_variable) else [self.endpoint_variable]
        return Provider.missing(self, environ) + endpoint

    def chat_options(self, model: str, environ: Mapping[str, str]) -> dict[str, Any]:
        """`{endpoint}/openai/deployments/{model}` with `api-version` and an `api-key` header."""
        endpoint = environ.get(self.endpoint_variable)
        if not endpoint:
            raise ModelConfigurationError(
                f"azure:{model} needs the resource's endpoint: set {self.endpoint_variable} "
                "(https://<resource>.openai.azure.com), or pass base_url=..."
            )
        version = next((environ[n] for n in self.api_version_variables if environ.get(n)), None)
        options = Provider.chat_options(self, model, environ)
        options["base_url"] = f"{endpoint.rstrip('/')}/openai/deployments/{quote(model, safe='')}"
        options["query"] = {"api-version": version or self.api_version}
        options["api_key_header"] = "api-key"
        return options


_OPENAI = ModelProfile(max_tokens_field="max_completion_tokens")
_OPENAI_REASONING = _OPENAI.replace(
    instructions_role="developer", dropped_settings=REASONING_REFUSED
)
_LOCAL = ModelProfile(
    strict_tools=False, multiple_choices=False, instructions_role="system",
    media=frozenset({"image"}),  # vision models take image_url; no PDF or audio parts
)  # fmt: skip
_IMAGES_AND_PDFS = frozenset({"image", "document"})
"""What AI/ML API's chat models take (its schema: text, image_url, file)."""

PROVIDERS: Mapping[str, Provider] = {
    provider.name: provider
    for provider in (
        Provider(
            "aimlapi", "AI/ML API (the default)", "https://api.aimlapi.com/v1",
            ("AIMLAPI_BASE_URL",), ("AIMLAPI_API_KEY", "AIML_API_KEY"),
            profile=ModelProfile(media=_IMAGES_AND_PDFS),
            reasoning_profile=ModelProfile(
                dropped_settings=REASONING_REFUSED, media=_IMAGES_AND_PDFS
            ),
            example="openai/gpt-5-2-chat-latest",
        ),
        Provider(
            "openai", "OpenAI", "https://api.openai.com/v1", ("OPENAI_BASE_URL",),
            ("OPENAI_API_KEY",), profile=_OPENAI, reasoning_profile=_OPENAI_REASONING,
            example="gpt-4.1",
        ),
        AzureProvider(
            "azure", "Azure OpenAI", "", (), ("AZURE_OPENAI_API_KEY",), profile=_OPENAI,
            reasoning_profile=_OPENAI_REASONING, example="my-gpt-4o-deployment",
        ),
        Provider(
            "openrouter", "OpenRouter", "https://openrouter.ai/api/v1", ("OPENROUTER_BASE_URL",),
            ("OPENROUTER_API_KEY",), example="openai/gpt-4.1-mini",
        ),
        Provider(
            "groq", "Groq", "https://api.groq.com/openai/v1", ("GROQ_BASE_URL",),
            ("GROQ_API_KEY",),
            profile=ModelProfile(
                max_tokens_field="max_completion_tokens", strict_tools=False, json_schema=False,
                multiple_choices=False, media=frozenset({"image"}),
                dropped_settings=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
            ),
            example="llama-3.3-70b-versatile",
        ),
        Provider(
            "together", "Together AI", "https://api.together.xyz/v1", ("TOGETHER_BASE_URL",),
            ("TOGETHER_API_KEY",), profile=ModelProfile(strict_tools=False),
            example="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        Provider(
            "ollama", "Ollama", "http://localhost:11434/v1", ("OLLAMA_BASE_URL",),
            ("OLLAMA_API_KEY",), needs_key=False,
            profile=_LOCAL.replace(dropped_settings=frozenset({"logit_bias"})),
            example="llama3.2", start="ollama serve",
        ),
        Provider(
            "vllm", "vLLM", "http://localhost:8000/v1", ("VLLM_BASE_URL",), ("VLLM_API_KEY",),
            needs_key=False, profile=_LOCAL.replace(multiple_choices=True),
            example="Qwen/Qwen2.5-7B-Instruct", start="vllm serve MODEL",
        ),
        Provider(
            "llamacpp", "llama.cpp server", "http://localhost:8080/v1", ("LLAMACPP_BASE_URL",),
            ("LLAMACPP_API_KEY",), needs_key=False,
            profile=_LOCAL.replace(tool_choice_named=False), example="any",
            start="llama-server -m MODEL.gguf",
        ),
        Provider(
            "lmstudio", "LM Studio", "http://localhost:1234/v1", ("LMSTUDIO_BASE_URL",),
            ("LMSTUDIO_API_KEY",), needs_key=False,
            profile=_LOCAL.replace(tool_choice_named=False, json_object=False),
            example="qwen2.5-7b-instruct", start="lms server start",
        ),
        Provider(
            "litellm", "LiteLLM proxy", "http://localhost:4000/v1",
            ("LITELLM_PROXY_API_BASE", "LITELLM_BASE_URL"),
            ("LITELLM_PROXY_API_KEY", "LITELLM_API_KEY"), needs_key=False, example="gpt-4o",
            start="litellm --config CONFIG.yaml",
        ),
    )
}  # fmt: skip
"""Every provider by name, the default first."""

DEFAULT_MODEL_STRING = "aimlapi:openai/gpt-5-2-chat-latest"
"""What an `Agent` uses when no model is given."""


def provider_named(name: str) -> Provider:
    """The provider called `name`.

    Raises:
        ModelConfigurationError: No provider has that name (the message lists them).
    """
    provider = PROVIDERS.get(name.lower())
    if provider is None:
        close = difflib.get_close_matches(name.lower(), PROVIDERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ModelConfigurationError(
            f"unknown provider {name!r}{hint}; known providers: {', '.join(PROVIDERS)}"
        )
    return provider


def parse_model_string(spec: str) -> tuple[Provider, str]:
    """Split `"provider:model"` into the provider and the model name.

    The model name is everything after the first colon (`ollama:llama3.2:3b` is fine).

    Raises:
        ModelConfigurationError: No provider is named, it is unknown, or the name is empty.
    """
    if not isinstance(spec, str):
        raise ConfigurationError(f"a model string must be a str, got {type(spec).__name__}")
    name, colon, model = spec.strip().partition(":")
    if not colon or "/" in name:
        raise ModelConfigurationError(
            f"model string {spec!r} names no provider; write 'provider:model', for example "
            f"'openai:gpt-4.1' or 'aimlapi:{spec}'; known providers: {', '.join(PROVIDERS)}"
        )
    provider = provider_named(name)
    if not model.strip():
        raise ModelConfigurationError(
            f"model string {spec!r} names no model; write '{provider.name}:<model>', "
            f"for example '{provider.name}:{provider.example}'"
        )
    return provider, model.strip()


def profile_of(model: object) -> ModelProfile:
    """The profile a model (a `Model`, a model string, or None for the default) sends with.

    A `Model` whose `model_info` has no profile (a test double, your own) is taken to accept
    everything.
    """
    if model is None:
        model = DEFAULT_MODEL_STRING
    if isinstance(model, str):
        provider, name = parse_model_string(model)
        return provider.profile_for(name)
    if isinstance(model, list | tuple):
        if not model:
            raise ConfigurationError("a list of models needs at least one (a FallbackModel)")
        return chain_profile([profile_of(each) for each in model]) or ModelProfile()
    return model_info(model).profile or ModelProfile()
