"""Layer 4 (run loop): run one turn's tool calls, concurrently, turning failures into data.

Every call of a response starts at once in one task group, under the run's capacity limiter
(each slot is taken and given back by the task that runs the call, so a slot is never lost to
a cancelled or abandoned stream). Sync tools run in daemon threads, so one that hangs past
its timeout never keeps the process from exiting. Whatever goes wrong with a call (unknown
tool, bad JSON, duplicate keys, invalid arguments, arguments cut off by `max_tokens`, an
exception, even `SystemExit` or one whose message cannot be printed, a timeout, a denied
approval, a result that is not valid JSON or Unicode) becomes a short tool message the model
can act on; one failing call never cancels its siblings. `KeyboardInterrupt` is the person at
the keyboard, not the tool: it stops the run.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from pydantic_core import to_json

from ._events import ToolResult
from ._exceptions import ToolArgumentsError, ToolError, ToolResultError
from ._messages import MediaRecord, ToolCall, Usage
from ._tool import BaseTool, RunContext, result_with_media
from ._visible import visible

__all__ = ["DEFER", "ApprovalRequest", "Approver", "Deferral", "Dispatcher", "denial", "visible"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A call waiting for a decision: exactly what will run if it is approved."""

    call: ToolCall
    """The call as the model sent it (id, name and its raw JSON arguments)."""
    arguments: Mapping[str, Any]
    """The validated arguments the tool will receive, by parameter name: decide on these."""

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.call.name

    def describe(self, limit: int | None = 300) -> tuple[str, bool]:
        """The call as text a person can check: every argument on its own line.

        Names and values (JSON) have every control, invisible or combining character
        escaped, so what is shown is what runs and nothing can redraw it. Values longer
        than `limit` characters are cut, saying so.

        Returns:
            The text, and whether anything was cut (ask again with `limit=None` to see all).
        """
        lines, cut = [f"{visible(self.name)}("], False
        for name, value in self.arguments.items():
            text = visible(to_json(value, fallback=repr).decode())
            if limit is not None and len(text) > limit:
                text = f"{text[:limit]}… [{len(text) - limit} more characters not shown]"
                cut = True
            lines.append(f"    {visible(name)} = {text}")
        lines.append(")")
        return "\n".join(lines), cut


class Approver(Protocol):
    """Decides whether a call of a `requires_approval` tool may run; sync or async."""

    def __call__(
        self, request: ApprovalRequest, /
    ) -> bool | Deferral | Awaitable[bool] | Awaitable[bool | Deferral]:
        """Return True to let the call run with `request.arguments`, False to deny it.

        Or `DEFER`, to stop the run and decide later (`Agent.resume`).
        """
        ...


logger = logging.getLogger("agentkit")
T = TypeVar("T")
_MAX_MESSAGE = 500
_NO_SCOPE = contextlib.nullcontext()


class _ToolFailure(Exception):
    """A call failed in a way the model should hear about."""

    def __init__(self, reason: str, *, denied: bool = False) -> None:
        super().__init__(reason)
        self.denied = denied


def denial(name: str, why: str = "") -> str:
    """What the model is told of a call a person denied (`why`, when they gave one)."""
    return f"the user denied this call of {name!r}; it did not run" + (f" ({why})" if why else "")


@dataclass(slots=True)
class Dispatcher:
    """Runs tool calls for one run: the tools, the limiter, the approver, the deps."""

    tools: Mapping[str, BaseTool]
    limiter: anyio.CapacityLimiter
    deps: Any = None
    approver: Approver | None = None
    raise_errors: bool = False
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Each tool's failure messages in this run, oldest first."""

    async def run_one(self, call: ToolCall, usage: Usage, *, truncated: bool = False) -> ToolResult:
        """Run one call under the limiter; never raises for a tool failure."""
        started = time.perf_counter()
        context = RunContext(
            deps=self.deps,
            usage=usage,
            tool_name=call.name,
            tool_call_id=call.id,
            retry=len(self.failures.get(call.name, ())),
        )
        try:  # a free slot is taken without a checkpoint: the task has just started
            self.limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self.limiter.acquire()
        try:  # the slot is released by the task that took it
            content, value, parts = await self._execute(call, context, truncated)
        except _ToolFailure as failure:
            return self._failed(call, str(failure), started, context, denied=failure.denied)
        except _Deferred as deferred:
            duration = time.perf_counter() - started
            return ToolResult(call, "", ok=False, duration=duration, deferred=deferred.arguments)
        finally:
            self.limiter.release()
        duration = time.perf_counter() - started
        logger.debug("tool %s (%s) ok in %.1f ms", call.name, call.id, duration * 1000)
        return ToolResult(
            call=call,
            content=content,
            ok=True,
            duration=duration,
            value=value,
            usage=context.spent(),
            parts=parts,
        )

    def _failed(
        self,
        call: ToolCall,
        reason: str,
        started: float,
        context: RunContext[Any],
        *,
        denied: bool = False,
    ) -> ToolResult:
        self.failures.setdefault(call.name, []).append(reason)
        duration = time.perf_counter() - started
        logger.info(
            "tool %s (%s) failed in %.1f ms: %s", call.name, call.id, duration * 1000, reason
        )
        return ToolResult(
            call=call,
            content=f"Error: {reason}",
            ok=False,
            duration=duration,
            error=reason,
            usage=context.spent(),
            denied=denied,
        )

    async def _execute(
        self, call: ToolCall, context: RunContext[Any], truncated: bool
    ) -> tuple[str, Any, tuple[MediaRecord, ...]]:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            raise _ToolFailure(f"unknown tool {call.name!r}; the tools are: {known}")
        if truncated:
            raise _ToolFailure(
                "the arguments were cut off because the response reached max_tokens; "
                "call the tool again with shorter arguments"
            )
        try:
            arguments = tool.validate(call.arguments)
        except ToolArgumentsError as error:
            raise _ToolFailure(str(error)) from None
        if tool.requires_approval:
            await self._approve(ApprovalRequest(call, arguments))
        value = await self._call(tool, arguments, context)
        try:
            content, parts = result_with_media(value, tool_name=tool.name)
        except ToolResultError as error:
            raise _ToolFailure(str(error)) from None
        return _capped(content, tool.max_result_chars), value, parts

    async def _approve(self, request: ApprovalRequest) -> None:
        call = request.call
        if isinstance(self.approver, Deferral):
            raise _Deferred(dict(request.arguments))
        if self.approver is None:
            raise _ToolFailure(
                f"tool {call.name!r} needs approval and no approver is configured; "
                "the call was denied and did not run",
                denied=True,
            )
        decision = self.approver(request)
        if inspect.isawaitable(decision):
            decision = await decision
        if isinstance(decision, Deferral):
            raise _Deferred(dict(request.arguments))
        if not decision:
            raise _ToolFailure(denial(call.name), denied=True)

    async def _call(
        self, tool: BaseTool, arguments: dict[str, Any], context: RunContext[Any]
    ) -> Any:
        try:
            # No timeout, no cancel scope: a scope per call adds up.
            with anyio.move_on_after(tool.timeout) if tool.timeout else _NO_SCOPE:
                if tool.is_async:
                    return await tool.call(arguments, context)
                work = functools.partial(tool.call, arguments, context)
                return await _in_daemon_thread(work, tool.name)
        except (Exception, SystemExit) as error:  # a tool's sys.exit() must not end the run
            if self.raise_errors:
                raise
            message = _message(error)[:_MAX_MESSAGE]
            if isinstance(error, ToolError):  # a failure the tool reports (an MCP isError)
                raise _ToolFailure(f"tool {tool.name!r} failed: {message}") from None
            name = type(error).__name__
            raise _ToolFailure(f"tool {tool.name!r} raised {name}: {message}") from None
        raise _ToolFailure(f"tool {tool.name!r} timed out after {tool.timeout:g} s")


def _message(error: BaseException) -> str:
    try:
        return str(error) or "no message"
    except Exception:  # an exception whose __str__ itself fails
        return f"(its message could not be read: {type(error).__name__}.__str__ failed)"


def _capped(content: str, limit: int | None) -> str:
    if limit is None or len(content) <= limit:
        return content
    left_out = len(content) - limit
    return (
        f"{content[:limit]}\n[result cut: {left_out} of {len(content)} characters left out; "
        "ask for less, e.g. a narrower query or a page of it]"
    )


async def _in_daemon_thread(work: Callable[[], T], name: str) -> T:
    """Run `work` in a daemon thread; when the caller is cancelled, it is abandoned.

    A sync function cannot be stopped from outside. anyio's worker threads would keep the
    interpreter from exiting while an abandoned one hangs; a daemon thread does not. A thread
    per call costs more than reusing a worker (tens of microseconds), which a sync tool's own
    work dwarfs.
    """
    token = anyio.lowlevel.current_token()
    context = contextvars.copy_context()  # as anyio's threads do: the caller's context
    done = anyio.Event()
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, context.run(work)))
        except BaseException as error:  # handed to the awaiting task, whatever it is
            outcome.append((False, error))
        with contextlib.suppress(RuntimeError):  # the run ended meanwhile: nobody waits
            anyio.from_thread.run_sync(done.set, token=token)

    # anyio's default thread limiter (40 per event loop) still caps how many sync tools run
    # at once across all runs; an abandoned thread gives its token back, as with anyio's own.
    async with anyio.to_thread.current_default_thread_limiter():
        threading.Thread(target=target, name=f"agentkit tool {name}", daemon=True).start()
        await done.wait()
    ok, value = outcome[0]
    if not ok:
        raise value
    return cast(T, value)


class Deferral:
    """The type of `DEFER`.

    `DEFER` is the approver that defers every call, and what any approver may return to
    defer one call: annotate such an approver `-> bool | Deferral`.
    """

    def __repr__(self) -> str:
        return "DEFER"

    def __call__(self, request: ApprovalRequest) -> Deferral:
        return self


DEFER = Deferral()
"""Stop the run instead of waiting when a call needs approval: `Agent(approver=DEFER)` (an
approver may also return `DEFER` for one call). The run's result then has `pending`."""


class _Deferred(Exception):
    def __init__(self, arguments: dict[str, Any]) -> None:
        super().__init__("deferred")
        self.arguments = arguments
