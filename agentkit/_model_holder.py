"""Layer 4 (run loop): what an `Agent` and an `Extractor` share about their model.

The model is given as a `Model`, a model string, a fallback chain, or nothing (the default
model); a string is built into a model on first use, so `import agentkit` and making an agent
stay cheap. One closing rule for both:

- `run_sync` / `extract_sync` start an event loop of their own, so they close the model's
  connections before it ends (connections belong to the loop that opened them);
- the one-shot `extract()` closes a model it built itself (from a string, a list of strings,
  or the default), never one the caller made;
- otherwise the caller closes: `await holder.aclose()` or `async with holder:`.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar, cast

import anyio

from ._exceptions import run_sync_guard
from ._fixed import Fixed
from .models._base import Model, ModelSpec
from .models._providers import DEFAULT_MODEL_STRING

__all__ = ["ModelHolder", "built_here", "close_model", "is_built", "run_closing"]

T = TypeVar("T")


class ModelHolder(Fixed):
    """A fixed setup asking one model (built on first use from a string, or the default)."""

    _model: ModelSpec

    @property
    def model(self) -> Model:
        """The model (built on first use from a model string, or the default one)."""
        model = self._model
        if not is_built(model):
            from .models._fallback import build_model  # httpx is imported when first needed

            model = build_model(model, DEFAULT_MODEL_STRING)
            object.__setattr__(self, "_model", model)  # made once, on first use
        return cast(Model, model)

    def with_model(self, model: ModelSpec) -> Self:
        """This setup asking `model` instead; everything else shared."""
        twin = copy.copy(self)
        object.__setattr__(twin, "_model", model)
        return twin

    async def aclose(self) -> None:
        """Close the model's connections (a later request opens them again)."""
        await close_model(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def is_built(model: ModelSpec) -> bool:
    """Whether `model` is a model object (not a string, a chain of strings, or nothing)."""
    return not (model is None or isinstance(model, str | list | tuple))


async def close_model(holder: ModelHolder) -> None:
    """Close `holder`'s model, if it was built (shielded: closing finishes when cancelled)."""
    if is_built(holder._model):
        with anyio.CancelScope(shield=True):
            await cast(Model, holder._model).aclose()


def run_closing(main: Callable[[], Awaitable[T]], holder: ModelHolder, what: str) -> T:
    """Run `main` in an event loop of its own, closing `holder`'s model before the loop ends.

    `what` names the call in the error raised when an event loop is already running.
    """

    async def closing() -> T:
        try:
            return await main()
        finally:  # not an agent's toolsets: MCP sessions live in a thread of their own
            await close_model(holder)

    try:
        return anyio.run(closing)
    except RuntimeError as error:
        raise run_sync_guard(error, what) from None


def built_here(options: dict[str, Any]) -> bool:
    """Whether a one-shot call builds its model itself (from a string, strings, the default).

    A chain naming a model object the caller made is the caller's to close.
    """
    model = options.get("model")
    if isinstance(model, list | tuple):
        return all(isinstance(member, str) for member in model)
    return not is_built(model)
