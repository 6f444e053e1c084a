"""Layer 3 (model boundary): what a request cost, reported by the provider or estimated.

AI/ML API reports the real charge: `x-aimlapi-usd-spent` on a non-streamed answer and
`meta.usage.usd_spent` in a stream's last chunk (read by `decode_usage`). Where a provider
reports nothing, the cost is estimated from `genai-prices` (the `agentkit-loop[prices]`
extra: its bundled table, never fetched), with cached prompt tokens at their own price. A
model the table does not know, or no table installed, leaves the cost unknown: None, never 0.
A reported figure that is not a number, is negative or absurd is ignored (a debug log line).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agentkit._messages import Completion, Usage
from agentkit._private import data_dir

__all__ = ["MAX_REPORTED_USD", "priced", "reported_usd"]

logger = logging.getLogger("agentkit")

MAX_REPORTED_USD = Decimal(10_000)
"""A single request reported as costing more than this is taken as a garbled header."""
_NUMBER = re.compile(r"^\d{1,12}(\.\d{1,18})?([eE][-+]?\d{1,3})?$")
_PROVIDER_IDS = {"openai": "openai", "azure": "azure", "groq": "groq", "openrouter": "openrouter"}
"""agentkit's provider names to genai-prices' (the others: the model name decides, or none)."""
_TABLE: dict[tuple[str, str], Any] = {}
_NO_TABLE = object()


def reported_usd(value: object) -> Decimal | None:
    """A provider's cost figure as dollars, or None when it is not a sane, finite amount."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if isinstance(value, bool) or not _NUMBER.match(text):
        if value is not None:
            logger.debug("cost: ignored a reported cost that is not a number: %.40r", value)
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_REPORTED_USD:
        logger.debug("cost: ignored a reported cost out of range: %s", text[:40])
        return None
    return amount


def priced(
    completion: Completion,
    provider: str | None,
    model: str,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> Completion:
    """`completion` with its cost and the provider's id of its request.

    The cost as reported in `headers` or the body, else estimated; the id from
    `x-inference-id` or `x-request-id`.
    """
    update: dict[str, Any] = {}
    said = _wanted(headers) if headers is not None else {}
    found = said.get(b"x-inference-id") or said.get(b"x-request-id")
    if found and completion.request_id is None:
        update["request_id"] = found.decode("latin-1")[:128]
    usage = _costed(completion.usage, provider, model, said.get(b"x-aimlapi-usd-spent"), base_url)
    if usage is not completion.usage:
        update["usage"] = usage
    return completion.model_copy(update=update) if update else completion


_WANTED = frozenset({b"x-inference-id", b"x-request-id", b"x-aimlapi-usd-spent"})


def _wanted(headers: Mapping[str, str]) -> dict[bytes, bytes]:
    """The headers read here, in one pass over the response's (httpx's) raw list."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    found = {}
    for name, value in raw:
        lowered = name.lower()
        if lowered in _WANTED:
            found[lowered] = value
    return found


def _costed(
    usage: Usage, provider: str | None, model: str, spent: bytes | None, base_url: str | None
) -> Usage:
    if usage.cost is not None:  # the body said (a stream's meta.usage.usd_spent)
        return usage
    if spent is not None:
        cost = reported_usd(spent.decode("latin-1"))
        if cost is not None:
            return usage.model_copy(update={"cost": cost, "cost_source": "reported"})
    if not usage.requests:
        return usage
    estimate = catalogue_usd(provider, base_url, model, usage)
    if estimate is None:
        estimate = estimated_usd(provider, model, usage)
    if estimate is None:
        return usage
    return usage.model_copy(update={"cost": estimate, "cost_source": "estimated"})


def catalogue_path(provider: str, base_url: str) -> Path:
    """Where `agentkit models --remote` keeps a provider's model list (with its ETag)."""
    where = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:12]
    return data_dir() / f"catalogue-{provider}-{where}.json"


CONTEXT_FIELDS = (
    "context_length", "context_window", "contextLength", "max_context_length",
    "max_input_tokens", "top_provider.context_length", "info.contextLength",
)  # fmt: skip
"""Where model lists give a model's context window (AI/ML API's own name is not documented:
the common ones are read, OpenRouter's first)."""
MAX_LISTED_WINDOW = 100_000_000
"""A listed context window larger than this is not believed (a hand-edited or hostile file)."""


def first_field(entry: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The first of `names` (dotted: nested) that `entry` has, else None."""
    for name in names:
        value: Any = entry
        for key in name.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def positive_count(value: Any) -> int | None:
    """`value` if it is a whole number above zero, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True, slots=True)
class _Listed:
    """What a fetched model list says of one model."""

    prices: tuple[Decimal, Decimal] | None
    """Per-token input and output prices."""
    context_window: int | None


_LISTS: dict[tuple[str, str], tuple[float, float, dict[str, _Listed]]] = {}
"""Per provider and endpoint: when the list was last looked for, its file's mtime, models."""
_LOOK_AGAIN = 5.0
"""Seconds between looks at the list's file: a request costs no file-system call."""


def forget_listed_prices(provider: str, base_url: str) -> None:
    """A new list was written for this endpoint: the next request reads it at once."""
    for key in [k for k in _LISTS if k[0] == provider and k[1].rstrip("/") == base_url.rstrip("/")]:
        del _LISTS[key]


def catalogue_usd(
    provider: str | None, base_url: str | None, model: str, usage: Usage
) -> Decimal | None:
    """The cost of `usage` at the provider's own prices, or None.

    From its model list when one was fetched (`agentkit models --remote`). Cached prompt
    tokens are priced as input (the list gives no cache price): an estimate on the safe side.
    """
    listed = _listed(provider, base_url).get(model)
    if listed is None or listed.prices is None:
        return None
    return listed.prices[0] * usage.prompt_tokens + listed.prices[1] * usage.completion_tokens


def catalogue_window(provider: str | None, base_url: str | None, model: str) -> int | None:
    """The model's context window from the provider's fetched model list, or None."""
    listed = _listed(provider, base_url).get(model)
    return None if listed is None else listed.context_window


def _listed(provider: str | None, base_url: str | None) -> dict[str, _Listed]:
    """The fetched list's models by id, read again when the file changes."""
    if not provider or not base_url:
        return {}
    key, now = (provider, base_url), time.monotonic()
    known = _LISTS.get(key)
    if known is not None and now - known[0] < _LOOK_AGAIN:
        return known[2]
    path = catalogue_path(provider, base_url)
    try:
        changed = path.stat().st_mtime
    except OSError:
        _LISTS[key] = (now, 0.0, {})
        return {}
    if known is not None and known[1] == changed:
        _LISTS[key] = (now, changed, known[2])
        return known[2]
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("data", [])
    except (OSError, ValueError, AttributeError):
        entries = []
    models: dict[str, _Listed] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            models[entry["id"]] = _read_entry(entry)
    _LISTS[key] = (now, changed, models)
    return models


def _read_entry(entry: dict[str, Any]) -> _Listed:
    pricing = entry.get("pricing")
    prices = None
    if isinstance(pricing, dict):
        cost_in = reported_usd(pricing.get("prompt", pricing.get("input")))
        cost_out = reported_usd(pricing.get("completion", pricing.get("output")))
        if cost_in is not None and cost_out is not None:
            prices = (cost_in, cost_out)
    window = positive_count(first_field(entry, CONTEXT_FIELDS))
    if window is not None and window > MAX_LISTED_WINDOW:
        window = None
    return _Listed(prices, window)


def estimated_usd(provider: str | None, model: str, usage: Usage) -> Decimal | None:
    """The cost of `usage` by the price table, or None (no table, or an unknown model)."""
    prices = _prices(provider, model)
    if prices is None:
        return None
    from genai_prices import Usage as Counted

    counted = Counted(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=min(usage.cached_tokens, usage.prompt_tokens),
    )
    try:
        total = prices.calc_price(counted)["total_price"]
    except (ValueError, KeyError, TypeError) as error:  # a unit the table cannot price
        logger.debug("cost: no estimate for %s (%s)", model, error)
        return None
    return Decimal(total)


def _prices(provider: str | None, model: str) -> Any:
    """The table's prices for a model, looked up once (None when unknown or no table)."""
    key = (provider or "", model)
    found = _TABLE.get(key)
    if found is None:
        found = _look_up(provider, model)
        _TABLE[key] = found
    return None if found is _NO_TABLE else found


def _look_up(provider: str | None, model: str) -> Any:
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return _NO_TABLE
    provider_id = _PROVIDER_IDS.get(provider or "")
    reference = model
    if provider_id is None and "/" in model:  # AI/ML API, OpenRouter names: vendor/model
        vendor, _, reference = model.partition("/")
        provider_id = vendor.lower()
    if provider_id is None:
        return _NO_TABLE
    try:
        snapshot = data_snapshot.get_snapshot()
        _, info = snapshot.find_provider_model(reference, None, provider_id, None)
        return info.get_prices(datetime.now(tz=UTC))
    except (LookupError, ValueError) as error:
        logger.debug("cost: %s/%s is not in the price table (%s)", provider_id, reference, error)
        return _NO_TABLE
