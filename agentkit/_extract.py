"""Layer 4 (run loop): `extract()`: text in, validated objects out, by a forced tool call.

A thin path over the model boundary (no agent loop): the request names the extraction tool in
`tool_choice` with `parallel_tool_calls: false`; the answer's tool call is validated; an
invalid one goes back as the tool result with the errors, and the request is repeated, up to
`max_retries` times. With `n > 1`, several candidates come from one request and the first
valid one, or the one most valid candidates agree on, wins.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, overload

from ._agent_setup import escalated, prompt_messages
from ._exceptions import ExtractionError, ToolArgumentsError
from ._extract_values import PartialBuilder, canonical
from ._messages import (
    AssistantMessage,
    Choice,
    Completion,
    Message,
    PromptPart,
    SystemMessage,
    ToolMessage,
    Usage,
    UserMessage,
)
from ._model_holder import ModelHolder, built_here, run_closing
from ._observe import ObservedRequest, RunInfo, RunObserver, Timeline, start_observing
from ._output import OutputSpec, type_name
from .models._base import (
    Model,
    ModelRequest,
    ModelSettings,
    ModelSpec,
    ToolCallArgumentsDelta,
    model_name,
)
from .models._providers import profile_of

__all__ = ["Attempt", "Candidate", "Extraction", "Extractor", "extract", "extract_sync"]

T = TypeVar("T")
Source = str | PromptPart | Sequence[Message | str | PromptPart]
"""What is extracted from: text, a document or image, a list of text and parts, or messages."""
Mode = Literal["tool", "json_schema"]
Strategy = Literal["first", "vote"]
DEFAULT_INSTRUCTIONS = (
    "Extract the requested information from the user's text. Use only what the text says; "
    "leave optional fields empty when the text does not give them."
)


@dataclass(frozen=True, slots=True)
class Candidate(Generic[T]):
    """One answer of the model (one of `n` choices)."""

    raw: str
    """The raw tool arguments (or the text, in json_schema mode)."""
    value: T | None = None
    error: str | None = None
    """Why it is not valid (None when it is)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request and what came back."""

    candidates: tuple[Candidate[Any], ...]
    usage: Usage
    model: str = ""
    """Who answered: the model's name, or the label of the `FallbackModel` member that did."""

    @property
    def errors(self) -> list[str]:
        """The errors of the invalid candidates."""
        return [c.error for c in self.candidates if c.error is not None]


@dataclass(slots=True)
class Extraction(Generic[T]):
    """The result of an extraction: the value, and how it was obtained."""

    value: T
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def candidates(self) -> list[Candidate[T]]:
        """Every candidate of the last attempt (several with `n > 1`)."""
        return list(self.attempts[-1].candidates) if self.attempts else []


class Extractor(ModelHolder, Generic[T]):
    """A reusable extraction setup: the same type, model and settings for many inputs.

    ```python
    extractor = Extractor(Invoice)
    invoice = await extractor.extract(text)
    full = await extractor.run(text)      # value, attempts, candidates, usage
    ```
    """

    def __init__(
        self,
        output_type: type[T] | Any,
        *,
        model: ModelSpec = None,
        instructions: str | None = None,
        max_retries: int = 2,
        seed: int | None = None,
        n: int | None = None,
        strategy: Strategy = "first",
        mode: Mode = "tool",
        settings: ModelSettings | None = None,
        name: str | None = None,
    ) -> None:
        """Configure an extraction.

        Args:
            output_type: A pydantic model, dataclass, TypedDict, `list[X]`, a union of
                models (one tool per member; the model picks one), or any other type
                pydantic validates (it travels as `{"result": value}`).
            model: Any `Model`, or a model string such as `"openai:gpt-4.1"`; defaults to
                `"aimlapi:openai/gpt-5-2-chat-latest"`.
            instructions: The system message (a sensible default is used).
            max_retries: Correction rounds after an invalid answer.
            seed: Sent as `seed`, for reproducible sampling where the provider honours it.
            n: Candidates per request.
            strategy: With `n > 1`: `"first"` valid candidate, or `"vote"` for the value
                most valid candidates agree on.
            mode: `"tool"` (a forced tool call) or `"json_schema"` (`response_format`;
                the tool where the model's profile has no `json_schema`).
            settings: Further model settings (`max_tokens`...).
            name: The extraction tool's name (defaults to the type's name; a union member's
                tool is `{name}_{Member}`, or the member's name).
        """
        if mode == "json_schema" and not profile_of(model).json_schema:
            mode = "tool"
        # The same specification as an agent's output, named after the type and described by
        # its docstring: what the model sees, how the answer is parsed.
        self.output: OutputSpec = OutputSpec.for_type(
            output_type, mode, name=name, description=None, text=False
        )
        self.output_type = output_type
        self._model: ModelSpec = model
        self.instructions: str = instructions or DEFAULT_INSTRUCTIONS
        self.max_retries = max_retries
        self.strategy = strategy
        self.mode = mode
        overrides: dict[str, Any] = {"parallel_tool_calls": False} if mode == "tool" else {}
        if seed is not None:
            overrides["seed"] = seed
        if n is not None:
            overrides["n"] = n
        self.settings: ModelSettings = (settings or ModelSettings()).merged(
            ModelSettings(**overrides)
        )
        self._fix()

    async def extract(self, text: Source) -> T:
        """Extract one validated value from `text` (or from given messages)."""
        return (await self.run(text)).value

    async def run(
        self, text: Source, *, trace_to: str | os.PathLike[str] | None = None
    ) -> Extraction[T]:
        """Extract, keeping every attempt, candidate and the usage.

        `trace_to`: record this extraction's timeline to that JSONL file (appended to).
        """
        observer = self._observer(trace_to, stream=False)
        if observer is None:
            return await self._run(text, None)
        try:
            extraction = await self._run(text, observer)
        except BaseException as error:
            observer.run_ended(None, error)
            raise
        observer.run_ended(None, None)
        return extraction

    def _observer(
        self, trace_to: str | os.PathLike[str] | None, *, stream: bool
    ) -> RunObserver[Any, Any] | None:
        extra = (Timeline(trace_to),) if trace_to is not None else ()
        name = type_name(self.output_type)
        return start_observing(RunInfo("extraction", name, self.model, stream, extra))

    async def _run(self, text: Source, observer: RunObserver[Any, Any] | None) -> Extraction[T]:
        messages = self._messages(text)
        attempts: list[Attempt] = []
        usage = Usage()
        model: Model | None = self.model
        tries = 0
        while model is not None:
            completion = await self._complete(model, self._request(messages), observer)
            usage = usage + completion.usage
            candidates = tuple(self._candidate(choice) for choice in completion.choices)
            served = completion.served_by or model_name(model)
            attempts.append(Attempt(candidates, completion.usage, served))
            chosen = self._choose(candidates)
            if chosen is not None:  # valid: its value is a T, None for `Contact | None`
                value: T = chosen.value  # type: ignore[assignment]
                return Extraction(value=value, attempts=attempts, usage=usage)
            self._check_refusal(completion.choices, attempts, usage)
            messages += _correction(completion.choices[0], candidates[0])
            tries += 1
            if tries > self.max_retries:  # the next model of a chain may do better
                model, tries = escalated(model, served), 0
        raise ExtractionError(
            f"no valid {type_name(self.output_type)} after {len(attempts)} attempts; "
            f"last error: {attempts[-1].errors[-1] if attempts[-1].errors else '?'}",
            reason="invalid",
            attempts=attempts,
            usage=usage,
        )

    async def stream(
        self, text: Source, *, trace_to: str | os.PathLike[str] | None = None
    ) -> AsyncIterator[T]:
        """Yield progressively filled objects while the answer streams in, then the final one.

        Partial objects are built with `model_construct` from the fields complete so far
        (pydantic models; TypedDicts as partial dicts). The last item is fully validated.
        Traced like `run()`; leaving the loop early ends the trace without an error.
        """
        request = self._request(self._messages(text))
        observer = self._observer(trace_to, stream=True)
        # The inner generator is closed here, in this task (its trace context lives here).
        values = contextlib.aclosing(self._stream(request, observer))
        ended = observer.run_ended if observer is not None else _nobody
        try:
            async with values as inner:
                async for value in inner:
                    yield value
        except GeneratorExit:  # the caller stopped reading: not a failure
            ended(None, None)
            raise
        except BaseException as error:
            ended(None, error)
            raise
        ended(None, None)

    async def _stream(
        self, request: ModelRequest, observer: RunObserver[Any, Any] | None
    ) -> AsyncGenerator[T, None]:
        watch = ObservedRequest(observer, request) if observer is not None else None
        partial = PartialBuilder(self.output_type)
        buffer, read_up_to, told = "", 0, False
        with watch or contextlib.nullcontext():
            async with self.model.stream(watch.request if watch else request) as deltas:
                async for delta in deltas:
                    if watch is not None and not told:
                        told = True
                        watch.streaming()
                    if isinstance(delta, ToolCallArgumentsDelta) and delta.choice == 0:
                        buffer += delta.delta
                        # Each read parses the whole buffer: a long answer is re-read once it
                        # grew by 2 %, not at every delta (linear, not quadratic, in its length).
                        if len(buffer) - read_up_to < len(buffer) // 50:
                            continue
                        read_up_to = len(buffer)
                        update = partial.update(buffer)
                        if update is not None:
                            yield update
                    elif delta.kind == "response_completed":
                        if watch is not None:
                            watch.completed(delta.completion)
                        yield self._streamed_value(delta.completion)

    def _streamed_value(self, completion: Completion) -> T:
        candidate = self._candidate(completion.choices[0])
        if candidate.error is not None:
            raise ExtractionError(
                f"the streamed answer is not valid: {candidate.error}",
                reason="invalid",
                attempts=[Attempt((candidate,), completion.usage)],
                usage=completion.usage,
            )
        return candidate.value  # type: ignore[return-value]

    # -- internals ----------------------------------------------------------------------

    async def _complete(
        self, model: Model, request: ModelRequest, observer: RunObserver[Any, Any] | None
    ) -> Completion:
        if observer is None:
            return await model.complete(request)
        with ObservedRequest(observer, request) as watch:
            completion = await model.complete(watch.request)
            watch.completed(completion)
        return completion

    def _messages(self, text: Source) -> list[Message]:
        return [SystemMessage(content=self.instructions), *prompt_messages(text)]

    def _request(self, messages: list[Message]) -> ModelRequest:
        output = self.output
        if self.mode == "json_schema":
            settings = self.settings.merged(ModelSettings(response_format=output.response_format()))
            return ModelRequest(messages=tuple(messages), settings=settings)
        settings = self.settings.merged(ModelSettings(tool_choice=output.tool_choice()))
        return ModelRequest(messages=tuple(messages), tools=output.definitions, settings=settings)

    def _candidate(self, choice: Choice) -> Candidate[Any]:
        message = choice.message
        if self.mode == "json_schema":
            return self._parse(None, message.content or "", choice.finish_reason)
        if message.tool_calls:
            call = message.tool_calls[0]
            return self._parse(call.name, call.arguments, choice.finish_reason)
        if message.refusal:
            return Candidate(raw="", error=f"the model refused: {message.refusal}")
        text = (message.content or "").strip()
        return Candidate(
            raw=text,
            error="the model answered with text instead of calling the extraction tool"
            + (f" ({text[:120]!r})" if text else ""),
        )

    def _parse(self, tool_name: str | None, raw: str, finish_reason: str | None) -> Candidate[Any]:
        if finish_reason == "length":
            return Candidate(
                raw=raw,
                error="the answer was cut off by max_tokens before it was complete; "
                "raise max_tokens",
            )
        try:
            if tool_name is None:  # json_schema mode: the message text
                return Candidate(raw=raw, value=self.output.parse_text(raw))
            return Candidate(raw=raw, value=self.output.parse(raw, tool_name))
        except ToolArgumentsError as error:
            return Candidate(raw=raw, error=str(error))

    def _choose(self, candidates: Sequence[Candidate[Any]]) -> Candidate[Any] | None:
        valid = [c for c in candidates if c.error is None]
        if not valid:
            return None
        if self.strategy == "first" or len(valid) == 1:
            return valid[0]
        votes = Counter(canonical(c.value) for c in valid)
        winner = max(votes, key=lambda key: votes[key])  # ties: the first to reach the count
        return next(c for c in valid if canonical(c.value) == winner)

    def _check_refusal(
        self, choices: Sequence[Choice], attempts: list[Attempt], usage: Usage
    ) -> None:
        if choices and all(c.message.refusal and not c.message.tool_calls for c in choices):
            raise ExtractionError(
                f"the model refused: {choices[0].message.refusal}",
                reason="refused",
                attempts=attempts,
                usage=usage,
            )


@overload
async def extract(output_type: type[T], text: Source, **options: Any) -> T: ...
@overload
async def extract(output_type: Any, text: Source, **options: Any) -> Any: ...
async def extract(output_type: Any, text: Source, **options: Any) -> Any:
    """Extract one validated `output_type` value from `text` (options as for `Extractor`).

    A model built here (from a model string, or the default) is closed before it returns.
    """
    extractor: Extractor[Any] = Extractor(output_type, **options)
    try:
        return await extractor.extract(text)
    finally:
        if built_here(options):
            await extractor.aclose()


@overload
def extract_sync(output_type: type[T], text: Source, **options: Any) -> T: ...
@overload
def extract_sync(output_type: Any, text: Source, **options: Any) -> Any: ...
def extract_sync(output_type: Any, text: Source, **options: Any) -> Any:
    """`extract()` for synchronous code."""
    extractor: Extractor[Any] = Extractor(output_type, **options)
    return run_closing(lambda: extractor.extract(text), extractor, "extract_sync")


def _nobody(result: None, error: BaseException | None) -> None:
    """The end of an extraction nobody observes."""


def _correction(choice: Choice, candidate: Candidate[Any]) -> list[Message]:
    """The messages that tell the model what was wrong, for the next attempt."""
    message = choice.message
    error = candidate.error or "invalid"
    if message.tool_calls:
        call = message.tool_calls[0]
        answer = AssistantMessage(tool_calls=(call,))
        return [
            answer,
            ToolMessage(
                tool_call_id=call.id,
                content=f"Error: {error}. Call the tool again with corrected arguments.",
            ),
        ]
    return [
        AssistantMessage(content=message.content or ""),
        UserMessage(content=f"{error}. Answer again, correctly."),
    ]
