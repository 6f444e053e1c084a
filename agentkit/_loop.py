"""Layer 4 (run loop): the turn loop.

1. Send the conversation (instructions first), the tool definitions and the settings.
2. Append the model's answer. Whether tools were called is read from `tool_calls`, never from
   `finish_reason` (a forced function ends with "stop").
3. Run every call of the answer concurrently (when streaming, each call starts as soon as its
   arguments are complete); append one tool message per call, in the model's call order.
4. Stop on an answer without tool calls (text, or validated structured output), on a stop
   tool, or when the output tool's arguments validate. Otherwise repeat, with a forced
   `tool_choice` relaxed once a tool has run.

Limits (`max_turns`, usage limits, retry budgets) raise errors carrying the partial
`RunResult`, so nothing done is lost.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

import anyio

from ._agent_setup import escalated, pending_calls
from ._approvals import setup_of
from ._dispatch import Dispatcher
from ._events import (
    PendingApprovals,
    RunEnded,
    RunEvent,
    RunResult,
    ToolCallFinished,
    ToolResult,
    Turn,
    TurnEnded,
)
from ._exceptions import (
    ContextWindowExceeded,
    MaxTurnsExceeded,
    ModelError,
    ModelResponseError,
    OutputValidationError,
    ToolArgumentsError,
    single_error,
)
from ._limits import check_request, check_retry_budgets, check_tool_calls, usage_added
from ._messages import (
    AssistantMessage,
    Completion,
    Message,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)
from ._observe import ObservedRequest, RunObserver, observed_call
from ._output import validation_message
from ._policy import RunSpec
from ._requests import TurnRequests
from .models._base import (
    ModelRequest,
    ResponseCompleted,
    ToolCallReady,
    model_name,
)

__all__ = ["capture_run_messages", "run_loop"]

logger = logging.getLogger("agentkit")
EventSink = Callable[[RunEvent], Awaitable[None]]
_FORCING = frozenset({None, "auto", "none"})
_captured: ContextVar[list[Message] | None] = ContextVar("agentkit_captured", default=None)


@contextlib.contextmanager
def capture_run_messages() -> Iterator[list[Message]]:
    """Collect the messages of runs started inside the block, even when they raise.

    ```python
    with capture_run_messages() as messages:
        try:
            agent.run_sync("...")
        except AgentkitError:
            print(messages)
    ```
    """
    messages: list[Message] = []
    token = _captured.set(messages)
    try:
        yield messages
    finally:
        _captured.reset(token)


async def run_loop(
    spec: RunSpec,
    messages: list[Message],
    new_message_index: int,
    *,
    deps: Any,
    emit: EventSink | None,
    stream: bool,
    observer: RunObserver[Any, Any] | None = None,
) -> RunResult[Any]:
    """Run the turn loop until a final output; raise with the partial result otherwise."""
    run = _Run(spec, messages, new_message_index, deps, emit, stream)
    run.observer = observer
    captured = _captured.get()
    try:
        result = await run.execute()
    except BaseException as error:
        if isinstance(error, ModelError) and error.result is None:
            error.result = run.result  # what was done before the model failed is kept
        if observer is not None:
            observer.run_ended(run.result, error)
        raise
    finally:
        if captured is not None:
            captured.extend(run.messages)
    if observer is not None:
        observer.run_ended(result, None)
    return result


class _Run:
    """One run's state, from its first request to its output (see the rules above)."""

    def __init__(
        self,
        spec: RunSpec,
        messages: list[Message],
        new_message_index: int,
        deps: Any,
        emit: EventSink | None,
        stream: bool,
    ) -> None:
        self.spec = spec
        """What was asked: model, tools, settings, limits and policy (fixed for the run)."""
        self.messages = messages
        """The conversation so far, history included; each turn appends to it."""
        self.stream = stream
        """Whether requests stream (tools then start as their arguments complete)."""
        self.result: RunResult[Any] = RunResult(
            output=None, messages=messages, new_message_index=new_message_index
        )
        """What the caller gets, kept current so an error can carry it (rule 8)."""
        self.emit = emit
        """Where events go (`on_event`, or a stream's channel); None when nobody listens."""
        self.tool_choice = spec.tool_choice
        """The `tool_choice` of the next request: forced until a tool has run (rule 6)."""
        self.output_names = spec.output.names
        """The output tools' names, if the output is structured (their definitions are the
        ones of `kind="output"`)."""
        self.output_failures: list[str] = []
        """Why each structured output so far failed validation (within its retry budget)."""
        self.tool_calls_made = 0
        """Tool calls started so far, for the `tool_calls` usage limit."""
        self.requests = TurnRequests(spec)
        """Builds each turn's request (history processors, estimate, request ids)."""
        self.dearest = Decimal(0)
        """The highest cost of one request so far: the cost limit's estimate of the next."""
        self.model = spec.model
        """Who answers: the spec's model, or the rest of its fallback chain (`_escalate`)."""
        self.served_by = model_name(spec.model)
        """Who answered the last request (a `FallbackModel`'s label, or the model's name)."""
        tools = dict(spec.tools)
        self.dispatcher = Dispatcher(
            tools=tools,
            limiter=anyio.CapacityLimiter(spec.policy.max_concurrency),
            deps=deps,
            approver=spec.approver,
            raise_errors=spec.policy.raise_tool_errors,
        )
        self._last_results: list[ToolResult] = []
        self.observer: RunObserver[Any, Any] | None = None
        """Told of requests and tool calls (OpenTelemetry, a timeline); usually None."""
        self._watch: ObservedRequest | None = None
        """The observer's view of the request in flight (only when there is an observer)."""

    # -- the loop -----------------------------------------------------------------------

    async def execute(self) -> RunResult[Any]:
        pending = pending_calls(self.messages)
        if pending:
            await self._resume(pending)
        for index in range(self.spec.max_turns):
            if await self._turn(index):
                if self.emit is not None:
                    await self.emit(RunEnded(self.result))
                return self.result
        raise MaxTurnsExceeded(
            f"no final answer after max_turns={self.spec.max_turns} model requests; raise "
            "max_turns, or check the tools' results in error.result.messages",
            result=self.result,
        )

    async def _turn(self, index: int) -> bool:
        """One request and its tool calls; True when the run has its output."""
        self._check_request_limit()
        started = time.perf_counter()
        completion, early = await self._ask(index)
        model_seconds = time.perf_counter() - started
        self.requests.answered(completion.usage.prompt_tokens)
        if not completion.choices:  # not an empty answer: no answer at all
            raise ModelResponseError("the model's response has no choices; nothing to continue")
        choice = completion.choices[0]
        message, finish_reason = choice.message, choice.finish_reason
        if completion.served_by is not None:
            self.served_by = completion.served_by
        self.messages.append(message)
        self._add_usage(completion.usage)
        logger.debug(
            "turn %d: model answered in %.1f ms (%s, %d tool calls)",
            index, model_seconds * 1000, finish_reason, len(message.tool_calls),
        )  # fmt: skip
        tool_started = time.perf_counter()
        done = await self._handle(message, finish_reason, early)
        turn = Turn(
            index=index,
            response=message,
            finish_reason=finish_reason,
            usage=completion.usage,
            tool_results=tuple(self._last_results),
            model_seconds=model_seconds,
            tool_seconds=time.perf_counter() - tool_started if message.tool_calls else 0.0,
            model=self.served_by,
            prompt_estimate=self.requests.last_estimate,
        )
        self.result.turns.append(turn)
        if self.emit is not None:
            await self.emit(TurnEnded(turn))
        return done

    # -- requests -----------------------------------------------------------------------

    async def _ask(self, turn: int) -> tuple[Completion, dict[int, ToolResult]]:
        """This turn's request and its answer.

        A prompt the provider refused as too long is compacted and sent once more, when a
        compaction is configured.
        """
        requests = self.requests
        request = await requests.build(turn, self.messages, self.tool_choice, self.model,
                                       self.result, observer=self.observer)  # fmt: skip
        try:
            return await self._response(request)
        except ContextWindowExceeded as error:
            if not requests.can_compact():
                raise requests.too_long(error, self.model) from None
        logger.warning("turn %d: the prompt was too long for the model; compacting", turn)
        request = await requests.build(
            turn, self.messages, self.tool_choice, self.model, self.result, forced=True,
            observer=self.observer,
        )  # fmt: skip
        self.result.compactions += 1
        try:
            return await self._response(request)
        except ContextWindowExceeded as error:
            raise requests.too_long(error, self.model) from None

    async def _response(self, request: ModelRequest) -> tuple[Completion, dict[int, ToolResult]]:
        if self.observer is None:
            return await self._answer(request)
        with ObservedRequest(self.observer, request) as self._watch:
            completion, early = await self._answer(self._watch.request)
            self._watch.completed(completion)
        return completion, early

    async def _answer(self, request: ModelRequest) -> tuple[Completion, dict[int, ToolResult]]:
        if self.stream:
            return await self._streamed_response(request)
        return await self.model.complete(request), {}

    async def _streamed_response(
        self, request: ModelRequest
    ) -> tuple[Completion, dict[int, ToolResult]]:
        """Stream one response; start each ready tool call at once, before the response ends."""
        early: dict[int, ToolResult] = {}
        completion: Completion | None = None
        stream = self.model.stream(request)
        async with single_error(), anyio.create_task_group() as group, stream as deltas:
            if self._watch is not None:  # the stream is open: its first events are here
                self._watch.streaming()
            async for delta in deltas:
                if isinstance(delta, ResponseCompleted):
                    completion = delta.completion
                    if self._watch is not None:  # complete, before its early tools end
                        self._watch.completed(completion)
                elif delta.choice == 0:
                    if self.emit is not None:
                        await self.emit(delta)
                    if isinstance(delta, ToolCallReady) and self._may_start_early(delta.call):
                        group.start_soon(self._run_early, delta, early)
        if completion is None:
            raise AssertionError("a model stream ended without ResponseCompleted")
        return completion, early

    def _may_start_early(self, call: ToolCall) -> bool:
        limit = self.spec.limits.tool_calls
        if limit is not None and self.tool_calls_made + 1 > limit:
            return False  # let the limit check raise once the response is complete
        return call.name not in self.output_names

    async def _run_early(self, ready: ToolCallReady, early: dict[int, ToolResult]) -> None:
        self.tool_calls_made += 1
        await self._run_into(early, ready.index, ready.call, ready.truncated)

    async def _run_into(
        self, results: dict[int, ToolResult], position: int, call: ToolCall, truncated: bool
    ) -> None:
        """Run one call, keep its result at its position in the answer, report it."""
        run = functools.partial(
            self.dispatcher.run_one, call, self.result.usage, truncated=truncated
        )
        observer = self.observer
        results[position] = await (
            run() if observer is None else observed_call(observer, call, run)
        )
        if self.emit is not None:
            await self.emit(ToolCallFinished(results[position]))

    # -- answers ------------------------------------------------------------------------

    async def _handle(
        self, message: AssistantMessage, finish_reason: str | None, early: dict[int, ToolResult]
    ) -> bool:
        self._last_results = []
        if not message.tool_calls:
            return self._handle_text(message)
        calls = list(message.tool_calls)
        started_early = len(early)
        self._check_tool_call_limit(len(calls) - started_early)
        results = await self._run_calls(calls, finish_reason == "length", early)
        if any(r.deferred is not None for r in results):  # stop: a person decides later
            self._last_results = results
            setup = setup_of(self.spec.tools, self.spec.instructions, model_name(self.spec.model))
            self.result.pending = PendingApprovals.of(self.messages, results, setup)
            return True
        output = self._take_output(calls, results)
        for result in results:
            self.messages.append(
                ToolMessage(tool_call_id=result.call.id, content=result.content, parts=result.parts)
            )
        self._last_results = results
        for result in results:  # e.g. a nested agent's requests (RunContext.add_usage)
            if result.usage is not None:
                self._add_usage(result.usage)
        self._check_retry_budgets()
        if output is not _NO_OUTPUT:
            self.result.output = output
            return True
        stop = next((r for r in results if r.ok and r.call.name in self.spec.stop_at_tools), None)
        if stop is not None:
            self.result.output = stop.value
            return True
        self._relax_tool_choice()
        return False

    async def _run_calls(
        self, calls: list[ToolCall], truncated: bool, early: dict[int, ToolResult]
    ) -> list[ToolResult]:
        results: dict[int, ToolResult] = dict(early)
        remaining = [
            (i, call)
            for i, call in enumerate(calls)
            if i not in early and not self._is_output_call(call)
        ]
        self.tool_calls_made += len(remaining)

        async with single_error(), anyio.create_task_group() as group:
            for position, call in remaining:
                last = truncated and position == len(calls) - 1  # only the last call is cut off
                group.start_soon(self._run_into, results, position, call, last)
        for position, call in enumerate(calls):
            if self._is_output_call(call):
                results[position] = self._check_output_call(
                    call, truncated and position == len(calls) - 1
                )
        return [results[i] for i in range(len(calls))]

    def _is_output_call(self, call: ToolCall) -> bool:
        return call.name in self.output_names

    def _check_output_call(self, call: ToolCall, truncated: bool) -> ToolResult:
        try:
            if truncated:
                raise ToolArgumentsError(
                    "the answer was cut off by max_tokens", tool_name=call.name
                )
            value = self.spec.output.parse(call.arguments, call.name)
        except ToolArgumentsError as error:
            reason = validation_message(error)
            self._output_failed(reason)
            return ToolResult(
                call=call, content=f"Error: {reason}", ok=False, duration=0.0, error=reason
            )
        return ToolResult(
            call=call, content="Final result accepted.", ok=True, duration=0.0, value=value
        )

    def _take_output(self, calls: list[ToolCall], results: list[ToolResult]) -> Any:
        for call, result in zip(calls, results, strict=True):
            if self._is_output_call(call) and result.ok:
                return result.value
        return _NO_OUTPUT

    def _handle_text(self, message: AssistantMessage) -> bool:
        output = self.spec.output
        if output.is_text:
            self.result.output = (
                message.content if message.content is not None else (message.refusal or "")
            )
            return True
        if output.mode == "json_schema":
            try:
                self.result.output = output.parse_text(message.content)
                return True
            except ToolArgumentsError as error:
                reason = validation_message(error)
        else:
            reason = (
                f"Give the final answer by {output.calling_hint()}; plain text is not accepted."
            )
        self._output_failed(reason)
        self.messages.append(UserMessage(content=reason))
        return False

    def _output_failed(self, reason: str) -> None:
        self.output_failures.append(reason)
        if len(self.output_failures) > self.spec.policy.output_retries and not self._escalate():
            raise OutputValidationError(
                f"the structured output was still invalid after "
                f"{self.spec.policy.output_retries} correction rounds: {reason}",
                errors=self.output_failures,
                result=self.result,
            )

    def _escalate(self) -> bool:
        """Go on with the next model of a fallback chain, if it asks for that (True)."""
        rest = escalated(self.model, self.served_by)
        if rest is not None:
            self.model, self.output_failures = rest, []
        return rest is not None

    def _relax_tool_choice(self) -> None:
        if self.tool_choice in _FORCING:
            return
        if not self.spec.output.is_text and self.spec.output.mode == "tool":
            self.tool_choice = "required"  # the output tool must still be called
        elif self.spec.policy.after_tool_choice is not None:
            self.tool_choice = self.spec.policy.after_tool_choice

    async def _resume(self, calls: list[ToolCall]) -> None:
        """Answer the tool calls a loaded history ended with, then go on."""
        results = await self._run_calls(calls, False, {})
        for result in results:
            self.messages.append(
                ToolMessage(tool_call_id=result.call.id, content=result.content, parts=result.parts)
            )
        self._check_retry_budgets()

    # -- limits -------------------------------------------------------------------------

    def _add_usage(self, usage: Usage) -> None:
        if usage.cost is not None and usage.cost > self.dearest:
            self.dearest = usage.cost
        usage_added(self.spec.limits, self.result, usage)

    def _check_request_limit(self) -> None:
        check_request(self.spec.limits, self.result, self.dearest)

    def _check_tool_call_limit(self, more: int) -> None:
        check_tool_calls(self.spec.limits, self.tool_calls_made, more, self.result)

    def _check_retry_budgets(self) -> None:
        failures = self.dispatcher.failures
        check_retry_budgets(failures, self.spec.tools, self.spec.policy, self.result)


_NO_OUTPUT = object()
