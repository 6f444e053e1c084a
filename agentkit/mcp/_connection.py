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
import math
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
        self.lost = False
        """The server was seen to go away (nothing sent on this session can arrive)."""


class Connection:
    """A lazily opened, shared, self-healing session with one MCP server.

    Args:
        label: How the server is named in errors and logs (never holds secrets).
        make_client: Builds a fresh, un-entered `mcp.Client` (called per connection).
        on_open: Runs in the session's task after each connection, with the client and a
            task group that lives as long as the session (to listen for changes).
        open_timeout: Seconds to start the server and finish the handshake; a server that
            never answers fails then (the caller's own cancellation works at once).
    """

    def __init__(
        self,
        label: str,
        make_client: Callable[[], Client],
        on_open: Callable[[Client, anyio.abc.TaskGroup], Awaitable[None]],
        open_timeout: float = 30.0,
    ) -> None:
        self.label = label
        self.open_timeout = open_timeout
        self._make_client = make_client
        self._on_open = on_open
        self._guard = threading.Lock()
        """Held briefly, for the fields below."""
        self._opening_lock = threading.Lock()
        """Held while a session is being opened, so two requests never open two."""
        self._opening: anyio.CancelScope | None = None
        """The scope of a session being opened (cancelled when the connection closes)."""
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._session: _Session | None = None
        self.connections = 0
        """How many sessions were opened (1 unless the server had to be reconnected)."""

    @property
    def is_open(self) -> bool:
        """Whether a session is open now."""
        return self._session is not None

    async def request(
        self, operation: Callable[[Client], Awaitable[T]], *, replay: bool = True
    ) -> T:
        """Run `operation` with the session (opened first if needed), from any loop.

        A broken session is opened again once and `operation` retried; when that fails too,
        `MCPConnectionError`. An operation with effects (`replay=False`: a tool call) is
        sent again only when it provably never reached the server (the connection was
        refused, or the server no longer knew the session); when the session broke while it
        was out, it may have run: the error says so and only the next request reconnects.
        Cancelling the caller cancels the operation (and the opening of a session).
        """
        for attempt in (1, 2):
            session = self._session  # open already: no thread hop
            if session is not None and session.lost:  # known gone: open anew, nothing sent
                await _in_thread(self._reopened, session)
                session = None
            if session is None:
                session = await _in_thread(self._opened)
            try:
                return await self._run(session, operation)
            except Exception as error:
                if not _broken(error):
                    raise
                if not replay and not _never_sent(error):
                    self._forget(session)
                    raise MCPConnectionError(
                        f"MCP server {self.label} broke while the call was out "
                        f"({_describe(error)}); it may or may not have run, so it was not "
                        "sent again; the next call starts a new session"
                    ) from error
                if attempt == 2:
                    raise MCPConnectionError(
                        f"MCP server {self.label}: the session broke again after reconnecting "
                        f"({_describe(error)})"
                    ) from error
                logger.info("MCP server %s broke (%s); reconnecting", self.label, error)
            await _in_thread(self._reopened, session)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def lost(self, client: Client) -> None:
        """The session of `client` lost its server (seen by a subscription, say)."""
        session = self._session
        if session is not None and session.client is client:
            session.lost = True

    async def aclose(self) -> None:
        """End the session and its thread (a later request starts both again)."""
        await _in_thread(self.close)

    def close(self) -> None:
        """`aclose()` for synchronous code (and interpreter exit)."""
        with self._guard:
            portal, portal_cm, session = self._portal, self._portal_cm, self._session
            self._portal = self._portal_cm = self._session = None
            opening = self._opening
        if portal is None or portal_cm is None:
            return
        try:
            if opening is not None:  # a server still being started: stop waiting for it
                portal.call(opening.cancel)
            if session is not None:
                portal.call(_end, session)
        finally:
            portal_cm.__exit__(None, None, None)

    # -- in a worker thread ---------------------------------------------------------------

    def _opened(self) -> _Session:
        with self._opening_lock:
            with self._guard:
                if self._session is not None:
                    return self._session
                if self._portal is None:
                    self._portal_cm = anyio.from_thread.start_blocking_portal(
                        name=f"agentkit-mcp {self.label}"
                    )
                    self._portal = self._portal_cm.__enter__()
                    _OPEN.add(self)
                portal = self._portal
            try:
                _, (client, closing, ended) = portal.start_task(self._hold)
            except Exception as error:
                raise MCPConnectionError(
                    f"MCP server {self.label} could not be started or reached: {_describe(error)}"
                ) from error
            with self._guard:
                if self._portal is not portal:
                    raise MCPConnectionError(f"MCP server {self.label}: closed while opening")
                self._session = _Session(client, closing, ended)
                self.connections += 1
                return self._session

    def _forget(self, broken: _Session) -> None:
        """Drop `broken` so the next request opens a new session; end it in the background."""
        self._reopened(broken, wait=False)

    def _reopened(self, broken: _Session, *, wait: bool = True) -> None:
        """Forget `broken` (unless a concurrent request already replaced it) and end it."""
        with self._guard:
            if self._session is not broken:
                return
            self._session = None
            portal = self._portal
        if portal is not None and wait:
            portal.call(_end, broken)
        elif portal is not None:
            portal.start_task_soon(_end, broken)

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
        # One scope around everything the session holds (task groups must nest inside it):
        # its deadline bounds the opening, and is lifted once the session is open.
        opening = anyio.CancelScope(deadline=anyio.current_time() + self.open_timeout)
        self._opening = opening
        try:
            with opening:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(self._make_client())
                    group = await stack.enter_async_context(anyio.create_task_group())
                    await self._on_open(client, group)
                    opening.deadline = math.inf
                    self._opening = None
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
            if self._opening is opening:
                self._opening = None
        if not started:
            raise TimeoutError(f"no answer to the handshake within {self.open_timeout:g} s")


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
    # Abandoned on cancel: a caller's deadline holds even while a server is being started
    # (the thread itself ends by `open_timeout`).
    return await anyio.to_thread.run_sync(function, *args, abandon_on_cancel=True)


def _broken(error: BaseException) -> bool:
    """Whether `error` means the session is gone (not that the request was refused)."""
    if isinstance(error, MCPError):
        return error.code == CONNECTION_CLOSED
    if isinstance(error, MCPConnectionError | TimeoutError):
        return False
    return isinstance(
        error, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream
    ) or type(error).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore")


def _never_sent(error: BaseException) -> bool:
    """Whether `error` proves the request never reached the server (safe to send again)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MCPError) and current.error.message == "Session terminated":
            return True  # the server answered 404: it knows no such session, ran nothing
        if type(current).__name__ in ("ConnectError", "ConnectTimeout"):
            return True  # no connection was made
        current = current.__cause__ or current.__context__
    return False


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
