"""Layer 4 (run loop): run one turn's tool calls, concurrently, turning failures into data.

Every call of a response starts at once in one task group, under the run's capacity limiter
(each slot is taken and given back by the task that runs the call, so a slot is never lost to
a cancelled or abandoned stream). Sync tools run in worker threads. Whatever goes wrong with a
call (unknown tool, bad JSON, invalid arguments, arguments cut off by `max_tokens`, an
exception, a timeout, a denied approval) becomes a short tool message the model can act on;
one failing call never cancels its siblings.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from ._events import ToolResult
from ._exceptions import ToolArgumentsError, ToolResultError
from ._messages import ToolCall, Usage
from ._tool import RunContext, Tool, serialize_result

__all__ = ["Approver", "Dispatcher"]


class Approver(Protocol):
    """Decides whether a call of a `requires_approval` tool may run; sync or async."""

    def __call__(self, call: ToolCall, /) -> bool | Awaitable[bool]:
        """Return True to let `call` run, False to deny it."""
        ...


logger = logging.getLogger("agentkit")
_MAX_MESSAGE = 500
_NO_SCOPE = contextlib.nullcontext()


class _ToolFailure(Exception):
    """A call failed in a way the model should hear about."""


@dataclass(slots=True)
class Dispatcher:
    """Runs tool calls for one run: the tools, the limiter, the approver, the deps."""

    tools: Mapping[str, Tool[..., Any]]
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
            content, value = await self._execute(call, context, truncated)
        except _ToolFailure as failure:
            return self._failed(call, str(failure), started, context)
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
        )

    def _failed(
        self, call: ToolCall, reason: str, started: float, context: RunContext[Any]
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
        )

    async def _execute(
        self, call: ToolCall, context: RunContext[Any], truncated: bool
    ) -> tuple[str, Any]:
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
            await self._approve(call)
        value = await self._call(tool, arguments, context)
        try:
            return serialize_result(value, tool_name=tool.name), value
        except ToolResultError as error:
            raise _ToolFailure(str(error)) from None

    async def _approve(self, call: ToolCall) -> None:
        if self.approver is None:
            raise _ToolFailure(
                f"tool {call.name!r} needs approval and no approver is configured; "
                "the call was denied and did not run"
            )
        decision = self.approver(call)
        if inspect.isawaitable(decision):
            decision = await decision
        if not decision:
            raise _ToolFailure(f"the user denied this call of {call.name!r}; it did not run")

    async def _call(
        self, tool: Tool[..., Any], arguments: dict[str, Any], context: RunContext[Any]
    ) -> Any:
        try:
            # No timeout, no cancel scope: that is most tools, and a scope per call adds up.
            with anyio.move_on_after(tool.timeout) if tool.timeout else _NO_SCOPE:
                if tool.is_async:
                    return await tool.call(arguments, context)
                # abandon_on_cancel: a timed-out or cancelled sync tool cannot be stopped, but
                # the run need not wait for it.
                work = functools.partial(tool.call, arguments, context)
                return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except Exception as error:
            if self.raise_errors:
                raise
            message = (str(error) or "no message")[:_MAX_MESSAGE]
            name = type(error).__name__
            raise _ToolFailure(f"tool {tool.name!r} raised {name}: {message}") from None
        raise _ToolFailure(f"tool {tool.name!r} timed out after {tool.timeout:g} s")
