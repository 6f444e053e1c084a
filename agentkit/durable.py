"""Layer 5 (edges): durable agent runs on DBOS Transact (the `agentkit-loop[dbos]` extra).

```python
from dbos import DBOS
from agentkit.durable import DurableAgent

refunds = DurableAgent(Agent(model, tools=[issue_refund]), name="refunds")  # at import

DBOS(config={"name": "shop", "system_database_url": "sqlite:///shop.sqlite3"})
DBOS.launch()                          # also resumes every run a crash left unfinished
result = await refunds.run("Refund order 7", run_id="refund-order-7")
```

A run is a DBOS workflow whose id is the run id: the same `run_id` runs once, whatever
happens (asked again, it gives the first run's result). Every model request and every tool
call is a step, checkpointed in DBOS's database: after a crash, `DBOS.launch()` in a new
process replays the recorded answers and results (no request is made and no tool runs
again) and goes on from the first step that did not finish. A tool that was running when the
process died runs again: make such tools idempotent, or let them check what they did.

`stream()` yields the answers' text as it arrives (through a DBOS stream); its tools' return
values are checkpointed as the text the model sees (what
`result.turns[i].tool_results[j].value` holds after a replay). The rules and what is not built
yet are in `docs/durable.md`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from types import MappingProxyType
from typing import Any

import sniffio
from dbos import DBOS, SetWorkflowID
from pydantic import TypeAdapter

from ._agent import Agent
from ._dispatch import ApprovalRequest, Deferral
from ._exceptions import ConfigurationError, ModelStreamError
from ._messages import Completion, Message, Usage, messages_from_json, messages_to_json
from ._session import SQLiteSession
from ._tool import RunContext, canonical_arguments, serialize_result
from .models._base import ModelInfo, ModelRequest, ResponseCompleted, TextDelta, model_info

__all__ = ["DurableAgent", "DurableResult", "approve", "pending", "stranded"]

PENDING_EVENT = "agentkit.pending"
"""The workflow event listing the calls a durable run waits on (JSON), for `pending`."""

_AGENTS: dict[str, DurableAgent] = {}
"""Durable agents by name: a recovered run finds its agent here (made again at import)."""


class DurableResult:
    """What a durable run produced: its output, messages and usage.

    The output is text, or a value of the agent's output type (validated again).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.run_id: str = data["run_id"]
        self.output: Any = data["output"]
        self.messages: list[Message] = messages_from_json(data["messages"])
        self.usage: dict[str, Any] = data["usage"]

    def __repr__(self) -> str:
        return f"DurableResult(run_id={self.run_id!r}, output={self.output!r})"


class DurableAgent:
    """`agent`, whose runs survive a crash (see the module docs).

    Args:
        agent: The agent (its model, tools, instructions, limits...).
        name: Its name among the durable agents of the process: a recovered run finds its
            agent by it, so make it at import, before `DBOS.launch()`, with the same name.
        approval_timeout: Seconds a call waits for a decision (`approver=DEFER`).
        pure_tools: Tools that are pure and cheap (a calculator, a formatter): their calls
            are not recorded as steps, and run again when a run is resumed. Every other tool
            call is a step, recorded once it ends.

    Raises:
        ConfigurationError: Another durable agent has this name, or `pure_tools` names a
            tool the agent does not have.
    """

    def __init__(
        self,
        agent: Agent[Any],
        *,
        name: str,
        approval_timeout: float = 7 * 24 * 3600,
        pure_tools: Collection[str] = (),
    ) -> None:
        known = _AGENTS.get(name)
        if known is not None and known.agent is not agent:
            raise ConfigurationError(f"a durable agent is already named {name!r}")
        unknown = sorted(set(pure_tools) - set(agent.tools))
        if unknown:
            raise ConfigurationError(
                f"pure_tools names tools the agent does not have: {', '.join(unknown)}"
            )
        self.agent: Agent[Any] = agent
        self.name = name
        self.pure_tools: frozenset[str] = frozenset(pure_tools)
        self.approval_timeout = approval_timeout
        """Seconds a call waits for a decision (`approver=DEFER`) before it is denied."""
        _AGENTS[name] = self

    async def run(
        self, prompt: str, *, run_id: str | None = None, session: SQLiteSession | None = None
    ) -> DurableResult:
        """Run the agent on `prompt` as a workflow named `run_id` (exactly once per id).

        With `session`, the run continues that stored conversation: its history is read in a
        step (a resumed run sees what the first attempt saw), and the run's messages are
        added in a step, once, keyed by the run id. Every worker that may resume the run must
        reach the session's file.

        Raises:
            ConfigurationError: Not on asyncio (DBOS runs async workflows on asyncio only).
        """
        where = await _prepared(run_id, session)
        if run_id is None:
            data = await _durable_run(self.name, prompt, where)
        else:
            with SetWorkflowID(run_id):
                data = await _durable_run(self.name, prompt, where)
        return self._result(data)

    def _result(self, data: str) -> DurableResult:
        result = DurableResult(json.loads(data))
        if self.agent.output_type is not str:  # the structured output, validated again
            result.output = TypeAdapter(self.agent.output_type).validate_python(result.output)
        return result

    async def stream(
        self, prompt: str, *, run_id: str | None = None, session: SQLiteSession | None = None
    ) -> AsyncIterator[str]:
        """Run as `run` does, yielding the answers' text as it arrives.

        The model's requests are streamed inside their steps and each piece is written to a
        DBOS stream of the run, which this reads (from any process: `DBOS.read_stream`).
        A request cut off by a crash is asked again when the run resumes: pieces already
        yielded are not yielded twice. The result: `await self.run(prompt, run_id=run_id)`
        afterwards gives the recorded one at once.
        """
        run_id = run_id or f"ak-{uuid.uuid4().hex}"
        where = await _prepared(run_id, session)
        with SetWorkflowID(run_id):
            handle = await DBOS.start_workflow_async(_durable_run, self.name, prompt, where, True)
        seen: set[tuple[int, int]] = set()
        async for piece in DBOS.read_stream_async(run_id, STREAM_KEY):
            key = (int(piece["step"]), int(piece["n"]))
            if key not in seen:  # a request asked again after a crash writes its text again
                seen.add(key)
                yield str(piece["text"])
        await handle.get_result()  # the run's error, if it failed


async def stranded() -> list[tuple[str, str]]:
    """Unfinished runs another version of the code started: `(run id, its version)`.

    DBOS resumes a run only under the code version that started it (a hash of the workflow
    code, or `DBOS__APPVERSION`): after a change, such runs are not resumed here, so their
    recorded steps are never replayed into code that asks for other ones. Finish them with
    the old version, or cancel them. Call after `DBOS.launch()`.
    """
    current = DBOS.application_version
    found = await DBOS.list_workflows_async(
        status="PENDING", name=WORKFLOW, load_input=False, load_output=False
    )
    return [(w.workflow_id, str(w.app_version)) for w in found
            if w.app_version and w.app_version != current]  # fmt: skip


async def _prepared(run_id: str | None, session: SQLiteSession | None) -> list[str] | None:
    """What `run` and `stream` check first; where the session is, as the workflow's input.

    They need asyncio, and a run id that another version of the code did not leave unfinished.
    """
    if sniffio.current_async_library() != "asyncio":
        raise ConfigurationError(
            "durable runs need asyncio (DBOS runs its async workflows on asyncio): call "
            "them from asyncio.run() or anyio.run(..., backend='asyncio'), not trio"
        )
    if run_id is not None:
        await _refuse_other_version(run_id)
    return None if session is None else [str(session.path), session.session_id]


async def _refuse_other_version(run_id: str) -> None:
    status = await DBOS.get_workflow_status_async(run_id)
    if status is None or status.status != "PENDING" or not status.app_version:
        return
    if status.app_version != DBOS.application_version:
        raise ConfigurationError(
            f"run {run_id!r} was started by another version of the code "
            f"({status.app_version}, this is {DBOS.application_version}) and is unfinished: its "
            "recorded steps may not match this code, so it is not resumed here; finish it with "
            f"that version, or `agentkit durable cancel {run_id}` and start it anew"
        )


WORKFLOW = "agentkit.durable.run"
STREAM_KEY = "agentkit.text"
"""The DBOS stream a streamed durable run writes its answers' text to."""


@DBOS.workflow(name=WORKFLOW)
async def _durable_run(
    agent_name: str, prompt: str, session: list[str] | None = None, streamed: bool = False
) -> str:
    """The workflow: the agent's loop, its model requests and tool calls made steps."""
    durable = _AGENTS.get(agent_name)
    if durable is None:
        raise ConfigurationError(
            f"no durable agent is named {agent_name!r} in this process; make it (at import, "
            "with the same name) before DBOS.launch() so its runs can be resumed"
        )
    history = []
    if session is not None:
        loaded = await DBOS.run_step_async({"name": "agentkit.session.load"}, _load, session)
        history = messages_from_json(loaded)
    try:
        result = await _stepped(durable, streamed).run(prompt, message_history=history)
    finally:
        if streamed:
            await DBOS.close_stream_async(STREAM_KEY)
    if session is not None:
        added = messages_to_json(result.messages[len(history) :]).decode()
        usage = result.usage.model_dump_json()
        await DBOS.run_step_async(
            {"name": "agentkit.session.append"}, _append, session, added, usage, DBOS.workflow_id
        )
    output = result.output
    if not isinstance(output, str):
        output = json.loads(serialize_result(output, tool_name="output"))
    return json.dumps(
        {
            "run_id": DBOS.workflow_id,
            "output": output,
            "messages": result.messages_json().decode(),
            "usage": result.usage.model_dump(mode="json"),
        }
    )


def _load(session: list[str]) -> str:
    """The stored conversation, as JSON (a step: a resumed run reads what was recorded)."""
    return messages_to_json(SQLiteSession(session[0], session[1]).messages()).decode()


def _append(session: list[str], messages: str, usage: str, run_id: str | None) -> None:
    """The run's messages added to the conversation, once per run id (a step)."""
    SQLiteSession(session[0], session[1]).append(
        messages_from_json(messages), usage=Usage.model_validate_json(usage), key=run_id
    )


def _stepped(durable: DurableAgent, streamed: bool = False) -> Agent[Any]:
    """The agent with its requests and tool calls as DBOS steps, deferrals as durable waits."""
    agent = durable.agent
    twin = agent.with_model(_StepModel(agent.model, streamed))
    tools = {
        name: tool if name in durable.pure_tools else _StepTool(tool)
        for name, tool in agent.tools.items()
    }
    object.__setattr__(twin, "tools", MappingProxyType(tools))
    object.__setattr__(twin, "toolsets", tuple(_StepToolset(t) for t in agent.toolsets))
    if isinstance(agent.approver, Deferral):
        object.__setattr__(twin, "approver", _DurableApprover(durable.approval_timeout))
    return twin


class _DurableApprover:
    """`approver=DEFER` in a durable run: publish the call, wait for a decision message.

    The wait is DBOS's `recv`: it survives restarts (a recovered run waits again, and a
    decision sent meanwhile is kept); while it waits, the run is a suspended coroutine in its
    process, holding no thread. What a person decides on is the validated arguments the tool
    will receive.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.waiting: dict[str, dict[str, Any]] = {}

    async def __call__(self, request: ApprovalRequest) -> bool:
        call = request.call
        shown = canonical_arguments(dict(request.arguments))
        self.waiting[call.id] = {"call_id": call.id, "tool": call.name, "arguments": shown}
        await DBOS.set_event_async(PENDING_EVENT, json.dumps(list(self.waiting.values())))
        decision = await DBOS.recv_async(topic=_topic(call.id), timeout_seconds=self.timeout)
        del self.waiting[call.id]
        await DBOS.set_event_async(PENDING_EVENT, json.dumps(list(self.waiting.values())))
        return decision is True


def _topic(call_id: str) -> str:
    return f"agentkit.approval.{call_id}"


def _client(system_database_url: str) -> Any:
    from dbos import DBOSClient

    return DBOSClient(system_database_url=system_database_url)


def pending(run_id: str, *, system_database_url: str) -> list[dict[str, Any]]:
    """The calls the durable run `run_id` waits on: `{call_id, tool, arguments}` each.

    The arguments are the validated ones the tool will receive. From any process: no
    `DBOS.launch()` is needed.
    """
    client = _client(system_database_url)
    try:
        found = client.get_event(run_id, PENDING_EVENT, timeout_seconds=0)
    finally:
        client.destroy()
    return list(json.loads(found)) if isinstance(found, str) else []


def approve(run_id: str, decisions: Mapping[str, bool], *, system_database_url: str) -> None:
    """Deliver decisions (call id -> approve?) to the durable run `run_id`, from any process.

    A decision is delivered once (a repeat is ignored); the run goes on when its process
    (or the one that recovers it) receives it.

    Raises:
        ConfigurationError: A call id the run is not waiting on.
    """
    waiting = {each["call_id"] for each in pending(run_id, system_database_url=system_database_url)}
    unknown = sorted(set(decisions) - waiting)
    if unknown:
        raise ConfigurationError(
            f"run {run_id!r} is not waiting on {', '.join(unknown)} (it waits on: "
            f"{', '.join(sorted(waiting)) or 'nothing'})"
        )
    client = _client(system_database_url)
    try:
        for call_id, approved in decisions.items():
            client.send(run_id, bool(approved), _topic(call_id), f"{run_id}:{call_id}")
    finally:
        client.destroy()


class _StepModel:
    """A model whose every request is a checkpointed step (replayed after a crash)."""

    def __init__(self, model: Any, streamed: bool = False) -> None:
        self.inner = model
        self.streamed = streamed

    @property
    def info(self) -> ModelInfo:
        return model_info(self.inner)

    async def complete(self, request: ModelRequest) -> Completion:
        recorded = await DBOS.run_step_async({"name": "agentkit.model"}, self._ask, request)
        return Completion.model_validate_json(str(recorded))

    async def _ask(self, request: ModelRequest) -> str:
        if not self.streamed:
            completion: Completion = await self.inner.complete(request)
            return completion.model_dump_json()
        step, n, done = DBOS.step_id or 0, 0, None
        async with self.inner.stream(request) as deltas:
            async for delta in deltas:
                if isinstance(delta, TextDelta) and delta.choice == 0 and delta.text:
                    piece = {"step": step, "n": n, "text": delta.text}
                    await DBOS.write_stream_async(STREAM_KEY, piece)
                    n += 1
                elif isinstance(delta, ResponseCompleted):
                    done = delta.completion
        if done is None:
            raise ModelStreamError("the stream ended without its completed response")
        return done.model_dump_json()

    def stream(self, request: ModelRequest) -> Any:
        raise ConfigurationError("a durable run is not streamed; use DurableAgent.run")

    async def aclose(self) -> None:
        await self.inner.aclose()


class _StepToolset:
    """A toolset (an MCP server) whose tools' calls are steps.

    Its listing is not a step: a resumed run lists the server's tools again.
    """

    def __init__(self, toolset: Any) -> None:
        self.inner = toolset

    async def list_tools(self) -> list[Any]:
        return [_StepTool(tool) for tool in await self.inner.list_tools()]

    async def aclose(self) -> None:
        await self.inner.aclose()


class _StepTool:
    """A tool whose every call is a checkpointed step.

    After a crash its result is replayed and it is not called again (unless it was running
    when the process died).
    """

    is_async = True

    def __init__(self, tool: Any) -> None:
        self._tool = tool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tool, name)

    async def call(self, arguments: dict[str, Any], context: RunContext[Any] | None = None) -> Any:
        name = f"agentkit.tool.{self._tool.name}"
        return str(await DBOS.run_step_async({"name": name}, self._run, arguments, context))

    async def _run(self, arguments: dict[str, Any], context: RunContext[Any] | None) -> str:
        tool = self._tool
        if tool.is_async:
            value = await tool.call(arguments, context)
        else:
            import anyio.to_thread

            value = await anyio.to_thread.run_sync(lambda: tool.call(arguments, context))
        return serialize_result(value, tool_name=tool.name)
