"""Layer 5 (edges): one MCP session, held open in a thread of its own and shared by every run.

The official SDK's `Client` is entered and left by one task (anyio's rule for task groups), so
a session that outlives a run cannot belong to the run's task. It belongs to a task on an event
loop in a thread of its own (an anyio `BlockingPortal`): runs on any loop and either backend,
`run_sync` calls included, reach it through thread-safe futures, and wait for them without
holding a worker thread (anyio's pool is shared with sync tools and DNS lookups, and a batch
of slow MCP calls must not use it up). A session whose server died
or restarted is opened again, once, by the next request; a request that still fails raises
`MCPConnectionError` naming the server.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack
from typing import TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
from mcp import Client, MCPError
from mcp_types import CONNECTION_CLOSED

from agentkit._exceptions import AgentkitError

__all__ = ["Connection", "MCPConnectionError"]

T = TypeVar("T")
logger = logging.getLogger("agentkit.mcp")

_CLOSE_SECONDS = 5.0
"""How long a closing session may take before its task is cancelled."""


class MCPConnectionError(AgentkitError):
    """An MCP server could not be started or reached, or its session broke twice in a row."""


class _Session:
    """One open session: its client, and the events that end and report its task."""

    def __init__(self, client: Client, closing: anyio.Event, ended: anyio.Event) -> None:
        self.client, self.closing, self.ended = client, closing, ended


class Connection:
    """A lazily opened, shared, self-healing session with one MCP server.

    Args:
        label: How the server is named in errors and logs (never holds secrets).
        make_client: Builds a fresh, un-entered `mcp.Client` (called per connection).
        on_open: Runs in the session's task after each connection, with the client and a
            task group that lives as long as the session (to listen for changes).
    """

    def __init__(
        self,
        label: str,
        make_client: Callable[[], Client],
        on_open: Callable[[Client, anyio.abc.TaskGroup], Awaitable[None]],
    ) -> None:
        self.label = label
        self._make_client = make_client
        self._on_open = on_open
        self._guard = threading.Lock()
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._session: _Session | None = None
        self.connections = 0
        """How many sessions were opened (1 unless the server had to be reconnected)."""

    @property
    def is_open(self) -> bool:
        """Whether a session is open now."""
        return self._session is not None

    async def request(self, operation: Callable[[Client], Awaitable[T]]) -> T:
        """Run `operation` with the session (opened first if needed), from any loop.

        A broken session is opened again once and `operation` retried; when that fails too,
        `MCPConnectionError`. Cancelling the caller cancels the operation.
        """
        for attempt in (1, 2):
            session = self._session  # open already: no thread hop
            if session is None:
                session = await _in_thread(self._opened)
            try:
                return await self._run(session, operation)
            except Exception as error:
                if not _broken(error):
                    raise
                if attempt == 2:
                    raise MCPConnectionError(
                        f"MCP server {self.label}: the session broke again after reconnecting "
                        f"({_describe(error)})"
                    ) from error
                logger.info("MCP server %s broke (%s); reconnecting", self.label, error)
            await _in_thread(self._reopened, session)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def aclose(self) -> None:
        """End the session and its thread (a later request starts both again)."""
        await _in_thread(self.close)

    def close(self) -> None:
        """`aclose()` for synchronous code (and interpreter exit)."""
        with self._guard:
            portal, portal_cm, session = self._portal, self._portal_cm, self._session
            self._portal = self._portal_cm = self._session = None
        if portal is None or portal_cm is None:
            return
        try:
            if session is not None:
                portal.call(_end, session)
        finally:
            portal_cm.__exit__(None, None, None)

    # -- in a worker thread ---------------------------------------------------------------

    def _opened(self) -> _Session:
        with self._guard:
            if self._session is not None:
                return self._session
            if self._portal is None:
                self._portal_cm = anyio.from_thread.start_blocking_portal(
                    name=f"agentkit-mcp {self.label}"
                )
                self._portal = self._portal_cm.__enter__()
                _OPEN.add(self)
            try:
                _, (client, closing, ended) = self._portal.start_task(self._hold)
            except Exception as error:
                raise MCPConnectionError(
                    f"MCP server {self.label} could not be started or reached: {_describe(error)}"
                ) from error
            self._session = _Session(client, closing, ended)
            self.connections += 1
            return self._session

    def _reopened(self, broken: _Session) -> None:
        """Forget `broken` (unless a concurrent request already replaced it) and end it."""
        with self._guard:
            if self._session is not broken:
                return
            self._session = None
            portal = self._portal
        if portal is not None:
            portal.call(_end, broken)

    # -- on the session's loop ------------------------------------------------------------

    async def _run(self, session: _Session, operation: Callable[[Client], Awaitable[T]]) -> T:
        portal = self._portal
        if portal is None:
            raise MCPConnectionError(f"MCP server {self.label}: the connection was closed")
        # The session's loop wakes this task when the answer is in: no worker thread waits
        # (anyio >= 4.16). Cancelling this task cancels the operation.
        return await portal.call_async(operation, session.client, abandon_on_cancel=True)

    async def _hold(
        self, *, task_status: anyio.abc.TaskStatus[tuple[Client, anyio.Event, anyio.Event]]
    ) -> None:
        closing, ended = anyio.Event(), anyio.Event()
        started = False
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._make_client())
                group = await stack.enter_async_context(anyio.create_task_group())
                await self._on_open(client, group)
                task_status.started((client, closing, ended))
                started = True
                await closing.wait()
                group.cancel_scope.cancel()
        except Exception as error:
            if not started:
                raise
            logger.info("MCP server %s: the session ended (%s)", self.label, _describe(error))
        finally:
            ended.set()


_OPEN: weakref.WeakSet[Connection] = weakref.WeakSet()
"""Connections with a thread running, closed at interpreter exit if nobody closed them."""


@atexit.register
def _close_all() -> None:
    for connection in list(_OPEN):
        try:
            connection.close()
        except Exception:  # exiting anyway: one server's trouble must not stop the others
            logger.debug("closing MCP server %s at exit failed", connection.label, exc_info=True)


async def _end(session: _Session) -> None:
    session.closing.set()
    with anyio.move_on_after(_CLOSE_SECONDS):
        await session.ended.wait()


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    return await anyio.to_thread.run_sync(function, *args)


def _broken(error: BaseException) -> bool:
    """Whether `error` means the session is gone (not that the request was refused)."""
    if isinstance(error, MCPError):
        return error.code == CONNECTION_CLOSED
    if isinstance(error, MCPConnectionError | TimeoutError):
        return False
    return isinstance(
        error, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream
    ) or type(error).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore")


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
