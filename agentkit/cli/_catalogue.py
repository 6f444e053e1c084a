"""Layer 5 (edges): `agentkit models --remote`: the models a provider offers, as it says.

`GET {base_url}/models` (AI/ML API: with `include=pricing,capabilities,modalities`), kept on
disk with its ETag (asked again with `If-None-Match`: an unchanged list costs a 304). Each
entry is read leniently, by the names providers use for the same thing (OpenAI's `id`;
OpenRouter's `context_length`, `pricing.prompt`, `architecture.input_modalities`,
`top_provider.max_completion_tokens`; others' `context_window`, `max_output_tokens`...): a
field a provider names otherwise shows empty, never a guess. A catalogue is a server's answer:
its size, entries and strings are bounded and escaped.
"""

from __future__ import annotations

import argparse
import json
import os
from decimal import Decimal, InvalidOperation
from typing import Any

from agentkit._private import PrivateFileError, open_private
from agentkit._visible import visible
from agentkit.models._cost import (
    CONTEXT_FIELDS,
    catalogue_path,
    first_field,
    forget_listed_prices,
    positive_count,
)
from agentkit.models._providers import PROVIDERS

from ._common import ExitCode, UsageError, show

__all__ = ["remote_models"]

_MAX_BYTES = 32 * 1024 * 1024
_MAX_ENTRIES = 10_000
_CONTEXT = CONTEXT_FIELDS
_OUTPUT = ("max_output_tokens", "max_completion_tokens", "top_provider.max_completion_tokens",
           "info.maxTokens", "max_tokens")  # fmt: skip
_MODALITIES = ("architecture.input_modalities", "input_modalities", "modalities.input",
               "modalities")  # fmt: skip
_PRICE_IN = ("pricing.prompt", "pricing.input", "pricing.input_per_token")
_PRICE_OUT = ("pricing.completion", "pricing.output", "pricing.output_per_token")


def remote_models(options: argparse.Namespace) -> int:
    """`agentkit models --remote`: list, as JSON lines or a table."""
    name = options.provider or "aimlapi"
    provider = PROVIDERS.get(name)
    if provider is None:
        raise UsageError(f"--provider {name}: the providers are {', '.join(PROVIDERS)}")
    base_url = (options.base_url or provider.base_url_from(os.environ)).rstrip("/")
    if not base_url:
        raise UsageError(f"--provider {name} needs its endpoint (see `agentkit models`)")
    entries = [_row(entry) for entry in _catalogue(name, base_url, provider.api_key(os.environ))]
    if options.json:
        show(json.dumps(entries, indent=2))
        return ExitCode.OK
    for row in entries:
        price = (
            f"${row['usd_per_million_input']}/${row['usd_per_million_output']} per M"
            if row["usd_per_million_input"] is not None
            else ""
        )
        show(
            f"{visible(row['id'])}  context {row['context_window'] or '?'}  "
            f"output {row['max_output_tokens'] or '?'}  {','.join(row['input_modalities'])}  "
            f"{price}".rstrip()
        )
    return ExitCode.OK


def _catalogue(name: str, base_url: str, key: str | None) -> list[Any]:
    """The provider's list, from its server or (unchanged, by ETag) from the disk."""
    import httpx

    cache = catalogue_path(name, base_url)
    cached = _read_cache(cache)
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if cached is not None:
        headers["If-None-Match"] = cached["etag"]
    params = {"include": "pricing,capabilities,modalities"} if name == "aimlapi" else None
    try:
        with (
            httpx.Client(timeout=30.0) as client,
            client.stream("GET", f"{base_url}/models", headers=headers, params=params) as response,
        ):
            if response.status_code == 304 and cached is not None:
                return list(cached["data"])
            if response.status_code >= 400:
                raise UsageError(f"{base_url}/models answered HTTP {response.status_code}")
            body = _bounded_body(response)
    except httpx.HTTPError as error:
        raise UsageError(f"cannot read {base_url}/models: {type(error).__name__}") from None
    data = _entries(body)
    etag = response.headers.get("etag")
    if etag:
        _write_cache(cache, {"etag": etag[:200], "data": data})
        forget_listed_prices(name, base_url)
    return data


def _bounded_body(response: Any) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > _MAX_BYTES:
            raise UsageError(f"the model list is larger than {_MAX_BYTES // 1024 // 1024} MB")
    return bytes(body)


def _entries(body: bytes) -> list[Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise UsageError("the model list is not JSON") from None
    data = parsed.get("data") if isinstance(parsed, dict) else parsed
    if not isinstance(data, list):
        raise UsageError("the model list has no `data` list")
    return [entry for entry in data[:_MAX_ENTRIES] if isinstance(entry, dict)]


def _read_cache(path: Any) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(cached, dict) and isinstance(cached.get("etag"), str)
    return cached if ok and isinstance(cached.get("data"), list) else None


def _write_cache(path: Any, content: dict[str, Any]) -> None:
    try:
        path.unlink(missing_ok=True)
        with open_private(path, "w") as out:
            json.dump(content, out)
    except (OSError, PrivateFileError):
        pass  # a cache: the next run asks the server again


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    modalities = first_field(entry, _MODALITIES)
    return {
        "id": str(entry.get("id", ""))[:200],
        "context_window": positive_count(first_field(entry, _CONTEXT)),
        "max_output_tokens": positive_count(first_field(entry, _OUTPUT)),
        "input_modalities": [str(m)[:40] for m in modalities[:10]]
        if isinstance(modalities, list)
        else [],
        "usd_per_million_input": _per_million(first_field(entry, _PRICE_IN)),
        "usd_per_million_output": _per_million(first_field(entry, _PRICE_OUT)),
    }


def _per_million(value: Any) -> str | None:
    """A per-token price (OpenRouter's strings) as dollars per million tokens."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    if not price.is_finite() or price < 0:
        return None
    return f"{(price * 1_000_000).normalize():f}"
