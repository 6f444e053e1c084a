"""Layer 4 (run loop): `Agent`, a frozen configuration with `run`, `run_sync` and `stream`.

The async core is written once (`run`); `run_sync` is a thin `anyio.run` wrapper and `stream`
runs the same loop with `stream: true`, handing its events over a memory channel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import anyio
import anyio.abc

from ._agent_setup import (
    RunCall,
    check_names,
    output_mode,
    pending_calls,
    prompt_messages,
    stop_names,
    tools_by_name,
    with_toolsets,
)
from ._agent_stream import AgentStream, send_event
from ._approvals import ApprovalLedger, Decision, check_setup, decided, setup_of
from ._dispatch import Approver
from ._events import PendingApprovals, RunEvent, RunResult, call_event_sink
from ._exceptions import (
    AgentRunError,
    ConfigurationError,
    HistoryError,
    ModelError,
    single_error,
)
from ._history import HistoryProcessor
from ._loop import run_loop
from ._messages import Message, PromptPart
from ._model_holder import ModelHolder, run_closing
from ._observe import Instrument, RunInfo, Timeline, start_observing
from ._output import OutputSpec
from ._policy import LoopPolicy, RunSpec, UsageLimits
from ._tool import BaseTool, RunContext, Tool
from ._toolset import Toolset
from .models._base import ModelSettings, ModelSpec, ToolChoice, model_name
from .models._profile import ModelProfile
from .models._providers import profile_of

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from ._session import (
        SQLiteSession,  # the memory stream module loads with the first streamed run
    )

__all__ = ["DEFAULT_MAX_TURNS", "Agent", "AgentStream"]

OutputT = TypeVar("OutputT")
DEFAULT_MAX_TURNS = 10
Prompt = str | PromptPart | Sequence[Message | str | PromptPart] | None
"""Text; an image, document or audio part; a list of text and parts (one user message); a
list of messages; or None (continue the history as it is)."""


class Agent(ModelHolder, Generic[OutputT]):
    """A model, instructions and tools, ready to run.

    ```python
    agent = Agent(instructions="Be brief.", tools=[get_weather])
    result = agent.run_sync("Weather in Paris?")
    result.output
    ```

    The configuration is fixed at construction; an agent can serve many runs at once.
    Setting an attribute, or changing `agent.tools`, raises: the model is offered the tools
    built at construction, so a change could only make the agent run a tool the model was
    never shown. Make a new `Agent` instead.
    """

    @overload
    def __init__(
        self: Agent[str],
        model: ModelSpec = None,
        *,
        instructions: str | None = None,
        tools: Sequence[BaseTool | Callable[..., Any]] = (),
        output_type: type[str] = str,
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        settings: ModelSettings | None = None,
        limits: UsageLimits | None = None,
        stop_at_tools: Sequence[str | BaseTool] = (),
        approver: Approver | None = None,
        policy: LoopPolicy | None = None,
        toolsets: Sequence[Toolset] = (),
        name: str = "agent",
        instrument: bool | Sequence[Instrument] = True,
        history_processors: Sequence[HistoryProcessor] = (),
    ) -> None: ...
    @overload
    def __init__(
        self,
        model: ModelSpec = None,
        *,
        instructions: str | None = None,
        tools: Sequence[BaseTool | Callable[..., Any]] = (),
        output_type: type[OutputT],
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        settings: ModelSettings | None = None,
        limits: UsageLimits | None = None,
        stop_at_tools: Sequence[str | BaseTool] = (),
        approver: Approver | None = None,
        policy: LoopPolicy | None = None,
        toolsets: Sequence[Toolset] = (),
        name: str = "agent",
        instrument: bool | Sequence[Instrument] = True,
        history_processors: Sequence[HistoryProcessor] = (),
    ) -> None: ...
    def __init__(
        self,
        model: ModelSpec = None,
        *,
        instructions: str | None = None,
        tools: Sequence[BaseTool | Callable[..., Any]] = (),
        output_type: Any = str,
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        settings: ModelSettings | None = None,
        limits: UsageLimits | None = None,
        stop_at_tools: Sequence[str | BaseTool] = (),
        approver: Approver | None = None,
        policy: LoopPolicy | None = None,
        toolsets: Sequence[Toolset] = (),
        name: str = "agent",
        instrument: bool | Sequence[Instrument] = True,
        history_processors: Sequence[HistoryProcessor] = (),
    ) -> None:
        """Configure an agent.

        Args:
            model: Any `Model`, or a model string such as `"openai:gpt-4.1"` (see
                `agentkit models`); defaults to `"aimlapi:openai/gpt-5-2-chat-latest"`.
                A list of them is a `FallbackModel`: each asked when the ones before failed.
            instructions: Sent as the system message of every request (not stored in
                `result.messages`, so a transcript can be continued by any agent).
            tools: `Tool`s, or plain functions (made into tools with `tool()`).
            output_type: `str` for text, or a type the final answer must validate as.
            tool_choice: `"auto"`, `"none"`, `"required"`, or a tool: `UseTool(name)` or its
                name (`UseTool` for a tool named like a mode). A forced choice
                applies until a tool has run (see `LoopPolicy.after_tool_choice`).
                With structured output in tool mode it defaults to `"required"`.
            parallel_tool_calls: Sent with the tools when set.
            max_turns: Model requests a run may make before `MaxTurnsExceeded`.
            settings: Model settings for every request (`max_tokens`, `seed`...).
            limits: Usage limits per run.
            stop_at_tools: Tools (or their names) whose successful call ends the run with
                their return value.
            approver: Decides calls of tools marked `requires_approval` (sync or async);
                without one, such calls are denied.
            policy: Concurrency, retry budgets, output mode and other loop behaviour.
            toolsets: Sources of tools listed when a run starts (MCP servers,
                `agentkit.mcp`); their names must not collide with `tools` or each other.
            name: The agent's name in traces (`invoke_agent {name}`).
            instrument: Who observes this agent's runs: True for the process-wide
                instruments (`agentkit.instrument()`, `add_instrument`), False for none,
                or exactly the given ones (a `Timeline`, your own `Instrument`).
            history_processors: What of a long conversation is sent, applied in order
                before each request (`keep_last_turns`, `clear_old_tool_results`,
                `truncate_tool_results`, `compact`, or your own); stored messages stay whole.

        Raises:
            ValueError: Two tools share a name, or a name is unknown or reserved.
            ModelConfigurationError: The model string names no provider, an unknown one, or
                no model.
        """
        self.policy: LoopPolicy = policy or LoopPolicy()
        # a bad model string fails here, not at the first run
        self.profile: ModelProfile = profile_of(model)
        self.output: OutputSpec = OutputSpec.for_type(
            output_type, output_mode(self.policy, self.profile)
        )
        self.tools: Mapping[str, BaseTool] = MappingProxyType(tools_by_name(tools, self.output))
        stops = stop_names(stop_at_tools)
        if not toolsets:  # with toolsets, names are checked when a run has listed their tools
            check_names(tool_choice, stops, self.tools)
        if max_turns < 1:
            raise ConfigurationError("max_turns must be at least 1")
        self._model: ModelSpec = model
        self.instructions = instructions
        self.output_type = output_type
        self.tool_choice = tool_choice
        self.parallel_tool_calls = parallel_tool_calls
        self.max_turns = max_turns
        self.settings: ModelSettings = settings or ModelSettings()
        self.limits: UsageLimits = limits or UsageLimits()
        self.stop_at_tools = stops
        self.approver = approver
        self.toolsets: tuple[Toolset, ...] = tuple(toolsets)
        self.name = name
        self.instrument: bool | tuple[Instrument, ...] = (
            instrument if isinstance(instrument, bool) else tuple(instrument)
        )
        self.history_processors: tuple[HistoryProcessor, ...] = tuple(history_processors)
        definitions = (*(t.definition() for t in self.tools.values()), *self.output.definitions)
        self._definitions = definitions  # the same for every run: built once
        self._fix()

    def _what(self) -> str:
        return f"agent {self.name!r}"

    async def __aenter__(self) -> Agent[OutputT]:
        """Open the toolsets' connections now (they are shared by every run until exit)."""
        for toolset in self.toolsets:
            await toolset.list_tools()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the toolsets' connections and the model's (a later run opens them again)."""
        with anyio.CancelScope(shield=True):
            for toolset in self.toolsets:
                await toolset.aclose()
        await super().aclose()

    # -- running ------------------------------------------------------------------------

    async def run(
        self,
        prompt: Prompt = None,
        *,
        deps: Any = None,
        message_history: Sequence[Message] = (),
        on_event: Callable[[RunEvent], Any] | None = None,
        trace_to: str | os.PathLike[str] | None = None,
        session: SQLiteSession | None = None,
    ) -> RunResult[OutputT]:
        """Run the loop to its final output.

        Args:
            prompt: The user's message: text, an `Image` / `Document` / `Audio`, a list of
                text and such parts (one message), or messages; `None` continues
                `message_history` as it is (answering tool calls it ended with).
            deps: Passed to tools through `RunContext.deps`.
            message_history: Earlier messages (e.g. `previous.messages`, or
                `messages_from_json(...)`).
            on_event: Called (sync or async) with each `ToolCallFinished`, `TurnEnded` and
                `RunEnded`.
            trace_to: Record the run's timeline to this JSONL file (appended to);
                `agentkit trace view FILE` draws it.
            session: Continue this stored conversation and add the run's messages to it
                (instead of `message_history`); see `SQLiteSession`.

        Raises:
            AgentRunError: A limit or budget was reached; `error.result` has everything so far.
            ModelError: The model could not be reached, after retries.
            SessionBusy: Another run held `session` for longer than its `wait`.
        """
        emit = functools.partial(call_event_sink, on_event) if on_event is not None else None
        if session is not None:
            if message_history:
                raise ConfigurationError("give a session or a message_history, not both")
            return await self._run_in_session(session, RunCall(prompt, deps, (), emit, trace_to))
        return await self._run(RunCall(prompt, deps, message_history, emit, trace_to))

    async def _run_in_session(self, session: SQLiteSession, call: RunCall) -> RunResult[OutputT]:
        """A run on a stored conversation: held, loaded, and appended to in one transaction."""
        async with session.recording() as record:
            try:
                result = await self._run(call.in_session(record))
            except (AgentRunError, ModelError) as error:  # what it spent before it stopped
                record.usage = error.result.usage if error.result is not None else None
                raise
            record.usage = result.usage
            return result

    async def resume(
        self,
        state: PendingApprovals,
        decisions: Mapping[str, Decision],
        *,
        deps: Any = None,
    ) -> RunResult[OutputT]:
        """Continue a run that stopped for approvals (`approver=DEFER`), in any process.

        `decisions` maps each pending call's id to `True` (run it), `False` or
        `Deny(reason)` (do not), or `Supply(result)` (do not; send this as its result).
        Calls of that answer that already ran are not run again. A state is used once:
        it is marked decided (in the data folder's ledger) before any call runs.

        Raises:
            StateSetupError: This agent's tools, instructions or model are not those the
                run stopped with (the message says which).
            StateAlreadyDecided: The state was resumed before, here or in another process.
        """
        tools, setup = await self._setup()
        history = await decided(state, decisions, tools, deps, setup=setup, ledger=ApprovalLedger())
        return await self.run(None, deps=deps, message_history=history)

    async def check_resumable(self, state: PendingApprovals) -> None:
        """Check that this agent may continue `state`, before showing its calls to anyone.

        Raises:
            StateSetupError: Its tools, instructions or model differ from the stopped run's.
        """
        _, setup = await self._setup()
        check_setup(state, setup)

    async def _setup(self) -> tuple[Mapping[str, BaseTool], dict[str, str]]:
        spec = self._spec()
        if self.toolsets:
            spec = await self._with_toolsets(spec)
        return spec.tools, setup_of(spec.tools, spec.instructions, model_name(spec.model))

    def run_sync(
        self,
        prompt: Prompt = None,
        *,
        deps: Any = None,
        message_history: Sequence[Message] = (),
        on_event: Callable[[RunEvent], Any] | None = None,
        trace_to: str | os.PathLike[str] | None = None,
        session: SQLiteSession | None = None,
    ) -> RunResult[OutputT]:
        """`run()` for synchronous code: starts an event loop, runs, closes connections."""

        async def main() -> RunResult[OutputT]:
            return await self.run(
                prompt,
                deps=deps,
                message_history=message_history,
                on_event=on_event,
                trace_to=trace_to,
                session=session,
            )

        return run_closing(main, self, "agent.run_sync")

    @asynccontextmanager
    async def stream(
        self,
        prompt: Prompt = None,
        *,
        deps: Any = None,
        message_history: Sequence[Message] = (),
        trace_to: str | os.PathLike[str] | None = None,
        session: SQLiteSession | None = None,
    ) -> AsyncIterator[AgentStream[OutputT]]:
        """Run with streaming; iterate the events, then read `.result`.

        ```python
        async with agent.stream("Weather in Paris?") as run:
            async for event in run:
                ...
            run.result.output
        ```

        `session` continues a stored conversation, as for `run()`.
        """
        if session is not None and message_history:
            raise ConfigurationError("give a session or a message_history, not both")
        scope = session.recording() if session is not None else contextlib.nullcontext(None)
        async with scope as record:
            history = record.history if record is not None else message_history
            messages = record.messages if record is not None else []
            send, receive = anyio.create_memory_object_stream[RunEvent](max_buffer_size=64)
            run: AgentStream[OutputT] = AgentStream._reading(receive)
            emit = functools.partial(send_event, send)
            call = RunCall(prompt, deps, history, emit, trace_to, stream=True, into=messages)
            async with single_error(), anyio.create_task_group() as group:
                group.start_soon(self._stream_into, run, send, call)
                try:
                    yield run
                finally:
                    if not run._finished:  # left early: stop the run, its requests and tools
                        group.cancel_scope.cancel()
                    await receive.aclose()
            if record is not None:
                record.complete = run._finished and run._error is None
                spent = run.result or getattr(run._error, "result", None)
                record.usage = spent.usage if spent is not None else None
            run._raise_error()

    async def _stream_into(
        self, run: AgentStream[OutputT], send: MemoryObjectSendStream[RunEvent], call: RunCall
    ) -> None:
        async with send:
            try:
                run.result = await self._run(call)
            except Exception as error:
                run._error = error
            finally:
                run._finished = True

    async def _run(self, call: RunCall) -> RunResult[OutputT]:
        """One run as asked (`RunCall`: what run, stream and sessions pass down)."""
        prompt, history, memo = call.prompt, call.history, call.memo
        messages = call.into if call.into is not None else []  # read after a failure, too
        messages.extend(history)
        if prompt is not None:
            if pending_calls(messages):
                raise HistoryError(
                    "message_history ends with tool calls that have no results; pass "
                    "prompt=None to run them first, or drop them"
                )
            messages.extend(prompt_messages(prompt))
        spec = self._spec()
        if memo is not None and self.history_processors:  # a session's compaction, kept
            spec = dataclasses.replace(spec, history_memo=memo)
        if self.toolsets:
            spec = await self._with_toolsets(spec)
        extra = (Timeline(call.trace_to),) if call.trace_to is not None else ()
        info = RunInfo("agent", self.name, spec.model, call.stream, extra)
        observer = start_observing(info, instruments=self.instrument)
        result = await run_loop(spec, messages, len(history), deps=call.deps, emit=call.emit,
                                stream=call.stream, observer=observer)  # fmt: skip
        return cast(RunResult[OutputT], result)

    def _spec(self) -> RunSpec:
        tool_choice = self.tool_choice
        if tool_choice is None and self.output.definitions:
            tool_choice = "required"
        return RunSpec(
            model=self.model,
            instructions=self.instructions,
            tools=self.tools,
            output=self.output,
            settings=self.settings,
            tool_choice=tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            max_turns=self.max_turns,
            limits=self.limits,
            policy=self.policy,
            stop_at_tools=self.stop_at_tools,
            approver=self.approver,
            definitions=self._definitions,
            history_processors=self.history_processors,
        )

    async def _with_toolsets(self, spec: RunSpec) -> RunSpec:
        """`spec` with the toolsets' current tools added (their lists are cached by them)."""
        return await with_toolsets(spec, self.tools, self.toolsets, self.tool_choice)

    # -- composition --------------------------------------------------------------------

    def as_tool(self, name: str, description: str) -> Tool[..., Any]:
        """This agent as a tool another agent can call with a text request.

        The inner run gets the outer run's `deps`; its output is the tool's result.
        """

        async def delegate(ctx: RunContext[Any], request: str) -> Any:
            try:
                result = await self.run(request, deps=ctx.deps)
            except AgentRunError as error:  # what the inner run spent counts all the same
                if error.result is not None:
                    ctx.add_usage(error.result.usage)
                raise
            ctx.add_usage(result.usage)
            return result.output

        delegate.__doc__ = f"""{description}

        Args:
            request: What to ask, in plain words.
        """
        return Tool(delegate, name=name)
