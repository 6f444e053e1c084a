"""Layer 5 (edges): the command line's model options, and `agentkit models`.

`--model` takes a model string (`openai:gpt-4.1`, `ollama:llama3.2`) or, as before, a bare
model name for AI/ML API or for the server `--base-url` points at; repeated, a fallback chain.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from agentkit._exceptions import (
    ConfigurationError,
    ContextWindowExceeded,
    ModelConfigurationError,
    ModelConnectionError,
    ModelTimeoutError,
)
from agentkit.models._base import Model
from agentkit.models._chat import ChatModel
from agentkit.models._fallback import FallbackModel
from agentkit.models._infer import infer_model
from agentkit.models._providers import (
    DEFAULT_MODEL_STRING,
    PROVIDERS,
    AzureProvider,
    parse_model_string,
)

from ._common import ExitCode, UsageError

__all__ = ["add_model_options", "add_models_command", "chat_model", "model_hint"]


def add_model_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """`--model`, `--base-url`, `--api-key-env` / `--api-key`; returns the group."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        metavar="PROVIDER:NAME",
        action="append",
        help=f"a model string such as openai:gpt-4.1 or ollama:llama3.2 (`agentkit models` "
        f"lists the providers), or a model name on --base-url (default: {DEFAULT_MODEL_STRING}); "
        "repeat it for a fallback chain: each is asked when the ones before failed "
        "(--base-url and the key options apply to each)",
    )
    group.add_argument("--base-url", help="API root (default: the provider's)")
    keys = group.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="read the key from this environment variable (default: the provider's, "
        "e.g. OPENAI_API_KEY)",
    )
    keys.add_argument(
        "--api-key",
        help="the key itself (other users of this machine may see it in the process list: "
        "prefer --api-key-env); none is needed for a server on this machine",
    )
    group.add_argument(
        "--api", choices=("chat", "responses"),
        help="the dialect: chat (/chat/completions) or responses (/responses); by default "
        "the one the model needs (GPT-5.4 and later, o-series, codex, pro: responses)",
    )  # fmt: skip
    group.add_argument(
        "--allow-http", action="store_true",
        help="send the key over plain http:// to a server beyond this machine (refused "
        "otherwise: anyone on the way can read it)",
    )  # fmt: skip
    return group


def model_string(model: str | None, base_url: str | None) -> str:
    """The model string `--model` means: a bare name goes to AI/ML API or to `--base-url`."""
    if not model:
        return DEFAULT_MODEL_STRING
    prefix, colon, _ = model.partition(":")
    if colon and prefix.lower() in PROVIDERS:
        return model
    if not colon or "/" in prefix or base_url:  # a name of its own, e.g. llama3.2:3b
        return f"aimlapi:{model}"
    return model  # an unknown provider: infer_model says which ones exist


def chat_model(options: argparse.Namespace) -> Model:
    """The model the options name, with `--base-url` and the key options applied.

    Several `--model` make a `FallbackModel`; the options apply to each of them.
    """
    names: list[str | None] = [*_models_named(options)] or [None]
    made = [_one_model(options, name) for name in names]
    if len(made) == 1:
        return made[0]
    try:
        return FallbackModel(*made)
    except ConfigurationError as error:
        raise UsageError(f"--model: {error}") from None


def _models_named(options: argparse.Namespace) -> list[str]:
    given = getattr(options, "model", None)
    return [given] if isinstance(given, str) else list(given or [])


def _one_model(options: argparse.Namespace, name: str | None) -> ChatModel:
    overrides: dict[str, Any] = {}
    if options.base_url:
        overrides["base_url"] = options.base_url
    if options.api_key:
        overrides["api_key"] = options.api_key
    elif options.api_key_env:
        key = os.environ.get(options.api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {options.api_key_env}: that variable is not set")
        overrides["api_key"] = key
    try:
        api = getattr(options, "api", None)
        model = infer_model(model_string(name, options.base_url), api=api, **overrides)
    except ModelConfigurationError as error:
        raise UsageError(f"--model: {_in_flags(str(error))}") from None
    if model.sends_key_in_clear and not getattr(options, "allow_http", False):
        raise UsageError(
            f"the API key would go unencrypted to {model.base_url} (http://, not this "
            "machine); use https://, or pass --allow-http if you accept that"
        )
    return model


def _in_flags(text: str) -> str:
    """A library message in the command line's words: flags, not Python arguments."""
    for argument, flag in (("base_url=", "--base-url "), ("api_key=", "--api-key-env NAME ")):
        text = text.replace(f"pass {argument}...", f"pass {flag.strip()}")
    return text.replace("base_url", "--base-url")


def model_hint(options: argparse.Namespace, error: BaseException | None = None) -> str:
    """What to check after a model error: the server, the variables missing, or the flags."""
    if isinstance(error, ContextWindowExceeded):
        return "the conversation outgrew the model's context window: run again with --compact"
    named, base_url = _models_named(options), getattr(options, "base_url", None)
    model = named[0] if named else None
    try:
        provider, _ = parse_model_string(model_string(model, base_url))
    except ModelConfigurationError:
        return "check --model (`agentkit models` lists the providers)"
    if isinstance(error, ModelConnectionError | ModelTimeoutError) and provider.start:
        where = "--base-url" if base_url else " or ".join(provider.base_url_variables)
        return f"is `{provider.start}` running? ({where} says where it listens)"
    given = getattr(options, "api_key", None) or getattr(options, "api_key_env", None)
    missing = [] if given else provider.missing(os.environ)
    if missing:
        offline = ", or try `agentkit demo` (offline)" if provider.name == "aimlapi" else ""
        return f"set {' and '.join(missing)}{offline}"
    return "check the key, --base-url and --model; transient errors were already retried"


def add_models_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit models`."""
    models = commands.add_parser(
        "models", help="the providers a model string can name, and which are set up here",
        description="List the providers of model strings (PROVIDER:NAME), their base URLs and "
        "key variables, and whether each is ready to use on this machine.",
    )  # fmt: skip
    models.add_argument("--json", action="store_true", help="print JSON")
    models.add_argument(
        "--remote", action="store_true",
        help="list the models the provider offers (GET /models): context, output, modalities, "
        "prices, as it reports them",
    )  # fmt: skip
    models.add_argument("--provider", metavar="NAME", help="whose models --remote lists (aimlapi)")
    models.add_argument("--base-url", help="the provider's API root, for --remote")
    add_common(models)
    models.set_defaults(handler=_models)


def _models(options: argparse.Namespace) -> int:
    if options.remote:
        from ._catalogue import remote_models

        return remote_models(options)
    rows = [_row(provider) for provider in PROVIDERS.values()]
    if options.json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['status']:<28}  {row['title']}")
        print(f"{'':<{width}}  base URL: {row['base_url']}")
        if row["key_variables"]:
            optional = "" if row["needs_key"] else " (optional)"
            print(f"{'':<{width}}  key{optional}: {' or '.join(row['key_variables'])}")
        print(f"{'':<{width}}  e.g. --model {row['name']}:{row['example']}")
    return ExitCode.OK


def _row(provider: Any) -> dict[str, Any]:
    missing = provider.missing(os.environ)
    if missing:
        status = f"needs {', '.join(missing)}"
    elif provider.needs_key or provider.api_key(os.environ):
        status = "ready (key set)"
    elif provider.start:  # a server on this machine: whether it runs was not asked
        status = f"not checked: start it with `{provider.start}`"
    else:
        status = "ready (no key needed)"
    base_url = provider.base_url_from(os.environ)
    variables = list(provider.base_url_variables)
    if isinstance(provider, AzureProvider):
        base_url = f"${provider.endpoint_variable}/openai/deployments/NAME"
        variables = [provider.endpoint_variable]
    return {
        "name": provider.name,
        "title": provider.title,
        "status": status,
        "ready": not missing,
        "base_url": base_url,
        "base_url_variables": variables,
        "key_variables": list(provider.key_variables),
        "needs_key": provider.needs_key,
        "example": provider.example,
    }
