"""Layer 5 (edges): `agentkit run` (and `agentkit demo`, and continuing after approvals).

The agent is set up from the options, run (streamed or not), and its answer printed: text,
or JSON with `--json`; a run that waits for approvals writes its state (`--defer`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import anyio
from pydantic_core import to_json

from agentkit._agent import Agent
from agentkit._approvals import requests_of
from agentkit._dispatch import DEFER
from agentkit._events import RunEvent, ToolCallFinished
from agentkit._history import compact
from agentkit._loading import load_tools
from agentkit.models._base import TextDelta
from agentkit.models._chat import ChatModel

from ._approve import read_state, write_state
from ._common import (
    ExitCode,
    UsageError,
    attachments,
    read_text,
    say,
    settings_of,
    short,
    show,
)
from ._durable import approve_run, durable_db
from ._mcp import mcp_toolsets
from ._models import chat_model
from ._prompt import TerminalApprover
from ._schema import schema_type
from ._sessions import session_for

__all__ = ["approve_and_continue", "demo_command", "run_command"]


def run_command(options: argparse.Namespace) -> int:
    """`agentkit run`."""
    parts = attachments(options)
    prompt: Any = _prompt(options.prompt)
    prompt = [prompt, *parts] if parts else prompt
    approver = TerminalApprover(yes=options.yes, deny=options.deny)
    agent = _agent(options, DEFER if options.defer else approver)
    return _execute(agent, prompt, options, approver)


def _prompt(given: str) -> str:
    """The prompt: the argument, standard input (`-`), or text piped in before the argument."""
    piped = "" if sys.stdin.isatty() else sys.stdin.read()
    if given != "-":
        return f"{piped.rstrip()}\n\n{given}" if piped.strip() else given
    if sys.stdin.isatty():
        raise UsageError("give a prompt, or pipe one in: echo 'What is 2+3?' | agentkit run")
    if not piped.strip():
        raise UsageError("the prompt read from standard input is empty")
    return piped.strip()


def approve_and_continue(options: argparse.Namespace) -> int:
    """`agentkit approve STATE`: check the state, ask about each call, continue the run."""
    if (db := durable_db(options.state, options.db)) is not None:  # a durable run's id
        return approve_run(options.state, db, yes=options.yes, deny=options.deny)
    pending = read_state(options.state)  # its seal first: an edited state shows nothing
    if not (options.yes or options.deny) and not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask on, so nothing was decided; pass --yes or --deny "
            "(the state is unchanged)"
        )
    approver = TerminalApprover(yes=options.yes, deny=options.deny)
    options.defer = options.state
    agent = _agent(options, DEFER)

    async def main() -> Any:
        try:
            await agent.check_resumable(pending)  # before anything is shown or asked
            decisions = {r.call.id: await approver(r) for r in requests_of(pending)}
            return await agent.resume(pending, decisions)
        finally:
            await _close(agent)

    result = anyio.run(main)
    if result.pending is not None:
        return write_state(options.state, result.pending, options)
    show(json.dumps(_json_result(result)) if options.json else str(result.output))
    return ExitCode.DENIED if approver.denied else ExitCode.OK


def _agent(options: argparse.Namespace, approver: Any) -> Agent[Any]:
    tools = [each for spec in options.tool for each in load_tools(spec)]
    schema = getattr(options, "schema", None)
    try:
        agent = Agent(
            chat_model(options),
            instructions=_instructions(options),
            output_type=schema_type(schema) if schema else str,
            tools=tools,
            tool_choice=options.tool_choice,
            parallel_tool_calls=False if options.no_parallel else None,
            max_turns=options.max_turns,
            settings=settings_of(options),
            approver=approver,
            toolsets=mcp_toolsets(options),
            history_processors=[compact()] if getattr(options, "compact", False) else (),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return agent


def _instructions(options: argparse.Namespace) -> str | None:
    path = getattr(options, "system_file", None)
    if path is None:
        return options.instructions  # type: ignore[no-any-return]
    text = read_text(path)
    if not text.strip():
        raise UsageError(f"--system-file {path} is empty")
    return text


def demo_command(options: argparse.Namespace) -> int:
    """`agentkit demo`: the offline demo (the built-in local server when no key is set)."""
    from agentkit._demo import DEMO_QUESTION, DEMO_TOOLS, scripted_demo_model
    from agentkit.testing import MockChatServer

    approver = TerminalApprover(yes=False, deny=False)
    say(f"> {DEMO_QUESTION}")
    if os.environ.get("AIMLAPI_API_KEY") or os.environ.get("AIML_API_KEY"):
        say("(asking AI/ML API)")
        agent = Agent(
            ChatModel.from_env(), instructions="Be brief. Use the tools.", tools=DEMO_TOOLS
        )
        return _execute(agent, DEMO_QUESTION, options, approver)
    with MockChatServer(responder=scripted_demo_model) as server:
        say(
            f"(offline: a scripted model on {server.base_url}; "
            "set AIMLAPI_API_KEY to use AI/ML API)"
        )
        agent = Agent(server.chat_model(), instructions="Be brief.", tools=DEMO_TOOLS)
        options.verbose = True
        return _execute(agent, DEMO_QUESTION, options, approver)


def _execute(
    agent: Agent[Any], prompt: Any, options: argparse.Namespace, approver: TerminalApprover
) -> int:
    as_json, stream = getattr(options, "json", False), options.stream
    verbose = getattr(options, "verbose", False)

    async def main() -> Any:
        try:
            trace_to = getattr(options, "trace", None)
            session = session_for(options) if hasattr(options, "no_session") else None
            if not stream:
                return await agent.run(
                    prompt, on_event=_tracer(verbose), trace_to=trace_to, session=session
                )
            async with agent.stream(prompt, trace_to=trace_to, session=session) as run:
                async for event in run:
                    if isinstance(event, TextDelta) and not as_json:
                        show(event.text, end="")
                    _tracer(verbose)(event)
            if not as_json:
                show("")
            return run.result
        finally:
            await _close(agent)

    result = anyio.run(main)
    if result.pending is not None:
        return write_state(options.defer, result.pending, options)
    if as_json:
        print(json.dumps(_json_result(result), ensure_ascii=False))
    elif not stream:
        show(str(result.output))
    if getattr(options, "verbose", False) and not as_json:
        say(_footer(result.usage, len(result.turns)))
    return ExitCode.DENIED if approver.denied else ExitCode.OK


def _footer(usage: Any, turns: int) -> str:
    """`-v`'s last line: requests, tokens and what they cost (or that it is unknown)."""
    if usage.cost is None:
        cost = "cost unknown"
    else:
        cost = f"${usage.cost.normalize():f} ({usage.cost_source})"
    return f"  {turns} turns, {usage.total_tokens} tokens, {cost}"


def _json_result(result: Any) -> dict[str, Any]:
    """Everything a script needs of a run, as JSON (docs/cli.md describes each field)."""
    output = result.output
    calls = [r for turn in result.turns for r in turn.tool_results]
    denied = any(r.denied for r in calls)
    return {
        "output": output if isinstance(output, str) else json.loads(to_json(output)),
        "exit_reason": "denied" if denied else "final_answer",
        "usage": result.usage.model_dump(mode="json"),
        "cost": float(result.usage.cost) if result.usage.cost is not None else None,
        "cost_source": result.usage.cost_source,
        "turns": len(result.turns),
        "models": {name: u.requests for name, u in result.usage_by_model().items()},
        "tool_calls": [
            {
                "id": r.call.id,
                "name": r.call.name,
                "arguments": r.call.arguments,
                "ok": r.ok,
                "denied": r.denied,
                "result": r.content,
            }
            for r in calls
        ],
        "messages": json.loads(result.messages_json()),
    }


async def _close(agent: Agent[Any]) -> None:
    await agent.aclose()


def _tracer(verbose: bool) -> Callable[[RunEvent], None]:
    def trace(event: RunEvent) -> None:
        if verbose and isinstance(event, ToolCallFinished):
            result = event.result
            if result.deferred is not None:
                status = " (waiting for approval)"
            else:
                status = "" if result.ok else (" (denied)" if result.denied else " (failed)")
            call = f"{result.call.name}({result.call.arguments})"
            took = f"{result.duration * 1000:.0f} ms"
            say(f"  -> {call} = {short(result.content)}{status} [{took}]")

    return trace
