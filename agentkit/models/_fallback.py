"""Layer 3 (model boundary): a chain of models, each asked when the ones before it failed.

```python
from agentkit.models import FallbackModel

model = FallbackModel("aimlapi:openai/gpt-5-2-chat-latest", "openai:gpt-4.1", "ollama:llama3.2")
agent = Agent(model)              # or Agent(["aimlapi:...", "openai:...", "ollama:..."])
```

A request goes to the first model whose circuit is closed. When that model fails with an
error worth falling back on (`should_fall_back`: after its own retries, a 5xx, 429, a
connection failure or timeout, a broken stream, 403 out of credits, 404, a context window
exceeded), the next model is asked; a 400 or 401 would fail everywhere and is raised at
once. A stream falls back only before its first delta; after that an error is the caller's.
Each model renders the request with its own profile. The completion names the model that
answered (`Completion.served_by`). When every model fails, `FallbackExhausted` lists each
one's error.

A circuit per model, shared by every run using this `FallbackModel`: after `failures`
fallback-worthy errors in a row within `window` seconds the model is skipped for `cooldown`
seconds, then one request probes it (success closes the circuit, failure opens it again). The
rules are in `docs/fallback.md`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from agentkit._exceptions import (
    BadRequestError,
    ConfigurationError,
    ContextWindowExceeded,
    FallbackExhausted,
    ModelConnectionError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelStreamError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from agentkit._messages import Completion

from ._base import (
    Model,
    ModelInfo,
    ModelRequest,
    ResponseCompleted,
    StreamDelta,
    model_info,
    with_retry_hook,
)
from ._infer import infer_model
from ._profile import chain_profile

__all__ = ["CircuitBreaker", "FallbackModel", "should_fall_back"]

logger = logging.getLogger("agentkit")
_ERROR_TEXT = 300
"""Characters of each model's error kept in `FallbackExhausted`'s message."""


def should_fall_back(error: BaseException) -> bool:
    """Whether the next model should be asked after `error` (the default rule).

    Yes: 5xx, 429 (the model's own retries are spent), connection failures and timeouts, a
    broken or malformed answer, 404 (model not found or retired), 403 when the account is
    out of credits, and a 400 saying the context window was exceeded. No: any other 400,
    401, other 403s (they would fail on every model), and errors that are not the model's.
    """
    if isinstance(error, ServerError | RateLimitError | NotFoundError | ContextWindowExceeded):
        return True
    if isinstance(error, PermissionDeniedError):
        return _out_of_credits(error)
    if isinstance(error, BadRequestError):
        return _context_exceeded(error)
    if isinstance(error, ModelHTTPError):
        return False
    return isinstance(
        error,
        ModelConnectionError
        | ModelTimeoutError
        | StreamInterrupted
        | ModelStreamError
        | ModelResponseError,
    )


def _out_of_credits(error: ModelHTTPError) -> bool:
    text = f"{error.code or ''} {error.message}".lower()
    return any(word in text for word in ("credit", "quota", "balance", "billing"))


def _context_exceeded(error: ModelHTTPError) -> bool:
    text = f"{error.code or ''} {error.message}".lower()
    return (
        "context_length_exceeded" in text or "context length" in text or ("context window" in text)
    )


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """When a failing model is skipped.

    `failures` fallback-worthy errors in a row (an answer resets the count) within `window`
    seconds open its circuit for `cooldown` seconds; then one request probes it.
    """

    failures: int = 3
    window: float = 60.0
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window <= 0 or self.cooldown <= 0:
            raise ConfigurationError(
                f"CircuitBreaker needs failures >= 1 and a positive window and cooldown, not {self}"
            )


class _Circuit:
    """One model's circuit: closed, open until a time, or half-open with one probe out."""

    def __init__(self, rule: CircuitBreaker) -> None:
        self.rule = rule
        self.recent: deque[float] = deque()
        self.open_until: float | None = None
        self.probing = False
        self.lock = threading.Lock()  # runs in several threads may share the chain

    def admits(self) -> bool:
        if self.open_until is None:  # closed: the common case needs no lock
            return True
        with self.lock:
            if self.open_until is None:
                return True
            if time.monotonic() < self.open_until or self.probing:
                return False
            self.probing = True  # half-open: this request is the probe
            return True

    def succeeded(self) -> None:
        if self.open_until is None and not self.recent:  # closed, nothing to forget
            return
        with self.lock:
            self.recent.clear()
            self.open_until, self.probing = None, False

    def failed(self) -> None:
        now = time.monotonic()
        with self.lock:
            if self.probing:
                self.probing, self.open_until = False, now + self.rule.cooldown
                return
            self.recent.append(now)
            while self.recent and self.recent[0] < now - self.rule.window:
                self.recent.popleft()
            if len(self.recent) >= self.rule.failures:
                self.open_until = now + self.rule.cooldown
                self.recent.clear()

    def released(self) -> None:
        """The request ended with neither verdict (cancelled, or an error not the model's)."""
        with self.lock:
            self.probing = False

    def describe(self) -> str:
        left = (self.open_until or 0.0) - time.monotonic()
        return f"skipped: its circuit is open for {max(left, 0.0):.1f} s more"


class FallbackModel:
    """Ask the first of `models`; when it fails, each of the others in turn.

    See the module docs for the rules.

    Args:
        models: `Model`s or model strings (`"openai:gpt-4.1"`), in the order they are asked:
            the primary first.
        fall_back_on: Decides which errors move on to the next model (default
            `should_fall_back`).
        circuit: When a failing model is skipped; None: never.
        on_invalid_output: When a run's structured output stays invalid past its output
            retries, continue the run on the next model instead of failing.

    Raises:
        ConfigurationError: No models, or one model twice.
    """

    def __init__(
        self,
        *models: Model | str,
        fall_back_on: Callable[[BaseException], bool] = should_fall_back,
        circuit: CircuitBreaker | None = CircuitBreaker(),
        on_invalid_output: bool = True,
    ) -> None:
        members = _flatten(models)
        labels = [_label(m) for m in members]
        _check_distinct(members, labels)
        self.models: tuple[Model, ...] = tuple(members)
        self.labels: tuple[str, ...] = tuple(labels)
        self.fall_back_on = fall_back_on
        self.circuit = circuit
        self.on_invalid_output = on_invalid_output
        self._circuits = [_Circuit(circuit) if circuit is not None else None for _ in members]
        first = model_info(members[0])
        self.info: ModelInfo = ModelInfo(
            first.name,
            provider=first.provider,
            base_url=first.base_url,
            profile=chain_profile([model_info(m).profile for m in members]),
            endpoint={"fallback": labels},
        )

    def __repr__(self) -> str:
        return f"FallbackModel({', '.join(self.labels)})"

    # -- derived chains (they share the circuits) -------------------------------------------

    def after(self, label: str | None) -> FallbackModel | None:
        """The chain after the model labelled `label`; None at its end or for an unknown label."""
        if label not in self.labels:
            return None
        start = self.labels.index(label) + 1
        return self._derived(range(start, len(self.models))) if start < len(self.models) else None

    def map_models(self, wrap: Callable[[Model], Model]) -> FallbackModel:
        """This chain with every model wrapped (`ResponseCache.wrap` keys by the answering one)."""
        derived = self._derived(range(len(self.models)))
        derived.models = tuple(wrap(m) for m in self.models)
        return derived

    def _derived(self, positions: range) -> FallbackModel:
        twin = object.__new__(FallbackModel)
        twin.__dict__.update(self.__dict__)
        twin.models = tuple(self.models[i] for i in positions)
        twin.labels = tuple(self.labels[i] for i in positions)
        twin._circuits = [self._circuits[i] for i in positions]
        return twin

    # -- the Model protocol ------------------------------------------------------------

    async def complete(self, request: ModelRequest) -> Completion:
        """The first answer of the chain's models (see the module docs)."""
        attempt = _Attempts(request)
        for position, model in self._admitted(attempt):
            await attempt.moving_on()
            try:
                completion = await model.complete(attempt.request)
            except BaseException as error:
                self._failed(position, error, attempt)
                continue
            if (circuit := self._circuits[position]) is not None:
                circuit.succeeded()
            return completion.model_copy(update={"served_by": self.labels[position]})
        raise attempt.exhausted(self)

    @asynccontextmanager
    async def stream(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[StreamDelta]]:
        """The first stream of the chain's models that yields a delta (see the module docs)."""
        attempt = _Attempts(request)
        for position, model in self._admitted(attempt):
            await attempt.moving_on()
            stack = contextlib.AsyncExitStack()
            try:
                deltas = await stack.enter_async_context(model.stream(attempt.request))
                first = await _first(deltas)
            except BaseException as error:
                with contextlib.suppress(Exception):
                    await stack.__aexit__(type(error), error, error.__traceback__)
                self._failed(position, error, attempt)
                continue
            async with stack:
                yield self._rest(position, first, deltas)
            return
        raise attempt.exhausted(self)

    async def aclose(self) -> None:
        """Close every model of the chain."""
        for model in self.models:
            await model.aclose()

    # -- failures ----------------------------------------------------------------------

    def _admitted(self, attempt: _Attempts) -> Iterator[tuple[int, Model]]:
        """The chain's models in turn, skipping (and noting) those whose circuit is open."""
        for position, model in enumerate(self.models):
            circuit = self._circuits[position]
            if circuit is not None and not circuit.admits():
                attempt.skipped(self.labels[position], circuit)
                continue
            yield position, model

    def _failed(self, position: int, error: BaseException, attempt: _Attempts) -> None:
        """Note a model's failure, or raise `error` when it is not one to fall back on."""
        circuit = self._circuits[position]
        if not isinstance(error, Exception) or not self.fall_back_on(error):
            if circuit is not None:
                circuit.released()
            raise error
        if circuit is not None:
            circuit.failed()
        attempt.failed(self.labels[position], error)
        logger.warning("fallback: %s failed (%s); asking the next model", self.labels[position],
                       type(error).__name__)  # fmt: skip

    async def _rest(
        self, position: int, first: StreamDelta, deltas: AsyncIterator[StreamDelta]
    ) -> AsyncIterator[StreamDelta]:
        label, circuit = self.labels[position], self._circuits[position]
        try:
            yield _served(first, label)
            async for delta in deltas:
                yield _served(delta, label)
        except Exception as error:  # past the first delta: the caller's error
            if circuit is not None:
                (circuit.failed if self.fall_back_on(error) else circuit.released)()
            raise
        except BaseException:
            if circuit is not None:
                circuit.released()
            raise
        if circuit is not None:
            circuit.succeeded()


class _Attempts:
    """One request's way down the chain: failures so far, and retries told to `on_retry`."""

    def __init__(self, request: ModelRequest) -> None:
        self.failures: list[tuple[str, BaseException]] = []
        self.made = 0
        self._then = request.on_retry
        self.request = (
            request if request.on_retry is None else with_retry_hook(request, self._retried)
        )
        self._last: BaseException | None = None

    async def _retried(self, attempt: int, error: BaseException, wait: float) -> None:
        self.made += 1
        if self._then is not None:
            await self._then(self.made, error, wait)

    async def moving_on(self) -> None:
        """A model is about to be asked; after a failed one, that is a retry to report."""
        if self._last is not None and self._then is not None:
            self.made += 1
            await self._then(self.made, self._last, 0.0)

    def skipped(self, label: str, circuit: _Circuit) -> None:
        self.failures.append((label, _CircuitOpen(circuit.describe())))

    def failed(self, label: str, error: BaseException) -> None:
        self.failures.append((label, error))
        self._last = error

    def exhausted(self, chain: FallbackModel) -> FallbackExhausted:
        lines = [
            f"{label}: {type(error).__name__}: {str(error)[:_ERROR_TEXT]}"
            for label, error in self.failures
        ]
        return FallbackExhausted(
            f"every model of {chain!r} failed:\n  " + "\n  ".join(lines), failures=self.failures
        )


class _CircuitOpen(ModelError):
    """The model was not asked: its circuit is open."""


async def _first(deltas: AsyncIterator[StreamDelta]) -> StreamDelta:
    try:
        return await anext(deltas)
    except StopAsyncIteration:
        raise ModelResponseError("the stream ended before its first event") from None


def _served(delta: StreamDelta, label: str) -> StreamDelta:
    if isinstance(delta, ResponseCompleted):
        return ResponseCompleted(delta.completion.model_copy(update={"served_by": label}))
    return delta


def _flatten(models: Sequence[Model | str]) -> list[Model]:
    if not models:
        raise ConfigurationError("FallbackModel needs at least one model")
    flat: list[Model] = []
    for each in models:
        if isinstance(each, FallbackModel):
            flat.extend(each.models)
        elif isinstance(each, str):
            flat.append(infer_model(each))
        elif isinstance(each, Model):
            flat.append(each)
        else:
            raise ConfigurationError(
                f"FallbackModel takes models or model strings, not {type(each).__name__}"
            )
    return flat


def _label(model: Model) -> str:
    info = model_info(model)
    return f"{info.provider}:{info.name}" if info.provider else info.name


def _check_distinct(models: list[Model], labels: list[str]) -> None:
    for position, model in enumerate(models):
        earlier = models[:position]
        if any(model is other for other in earlier) or labels[position] in labels[:position]:
            raise ConfigurationError(
                f"FallbackModel names {labels[position]} twice; a model asked again after it "
                "failed would fail again (give a different model, or raise its max_retries)"
            )


def build_model(spec: Model | str | Sequence[Model | str] | None, default: str) -> Model:
    """The model an `Agent` or `Extractor` was given, built.

    A `Model` as it is; a model string (None: `default`) from the environment; a list as a
    `FallbackModel`.
    """
    if spec is None or isinstance(spec, str):
        return infer_model(spec or default)
    if isinstance(spec, Sequence):
        return spec[0] if len(spec) == 1 and isinstance(spec[0], Model) else FallbackModel(*spec)
    return spec
