"""Layer 4 (run loop): how an `Agent`'s configuration is checked and assembled.

Tools by name, names that `tool_choice` and `stop_at_tools` may use, the output mode a
model's profile allows, and the tools of toolsets merged into a run's spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from ._dispatch import ApprovalRequest, Dispatcher, denial
from ._events import PendingApprovals, PendingCall
from ._exceptions import ToolDefinitionError
from ._messages import Message, ToolCall, ToolMessage, Usage, UserMessage
from ._output import OUTPUT_TOOL_NAME, OutputMode
from ._policy import LoopPolicy, RunSpec
from ._tool import Tool, ToolDefinition, tool
from ._toolset import Toolset
from .models._base import TOOL_CHOICE_MODES
from .models._profile import ModelProfile

__all__ = [
    "check_names",
    "output_mode",
    "prompt_messages",
    "stop_names",
    "tools_by_name",
    "with_toolsets",
]


async def with_toolsets(
    spec: RunSpec,
    tools: Mapping[str, Tool[..., Any]],
    toolsets: Sequence[Toolset],
    tool_choice: str | None,
) -> RunSpec:
    """`spec` with the toolsets' current tools added after the agent's own."""
    merged = dict(tools)
    added: list[ToolDefinition] = []
    for toolset in toolsets:
        for each in await toolset.list_tools():
            if each.name in merged or each.name == OUTPUT_TOOL_NAME:
                raise ToolDefinitionError(
                    f"tool name {each.name!r} of {toolset!r} is already taken (by a tool "
                    "of the agent or of another toolset); give the toolset a prefix or "
                    "filter the tool out"
                )
            merged[each.name] = each
            added.append(each.definition())
    check_names(tool_choice, spec.stop_at_tools, merged)
    local = [d for d in spec.definitions if d.name != OUTPUT_TOOL_NAME]
    output = [d for d in spec.definitions if d.name == OUTPUT_TOOL_NAME]
    return dataclasses.replace(spec, tools=merged, definitions=(*local, *added, *output))


def output_mode(policy: LoopPolicy, profile: ModelProfile) -> OutputMode:
    """The policy's output mode, or the output tool where the model has no `json_schema`."""
    if policy.output_mode == "json_schema" and not profile.json_schema:
        return "tool"
    return policy.output_mode


def check_names(
    choice: str | None, stop_names: frozenset[str], tools: Mapping[str, Tool[..., Any]]
) -> None:
    _check_tool_choice(choice, tools)
    unknown_stops = sorted(stop_names - set(tools))
    if unknown_stops:
        raise ValueError(f"stop_at_tools names unknown tools: {', '.join(unknown_stops)}")


def _check_tool_choice(choice: str | None, tools: Mapping[str, Tool[..., Any]]) -> None:
    if choice is not None and choice not in TOOL_CHOICE_MODES and choice not in tools:
        raise ValueError(f"tool_choice {choice!r} names no tool of this agent")
    if choice in TOOL_CHOICE_MODES and choice in tools:
        raise ValueError(
            f"tool_choice {choice!r} is ambiguous: it is a mode and a tool's name; "
            "rename the tool to force it by name"
        )


def stop_names(stop_at_tools: Sequence[str | Tool[..., Any]]) -> frozenset[str]:
    names = set()
    for each in stop_at_tools:
        if isinstance(each, Tool):
            names.add(each.name)
        elif isinstance(each, str):
            names.add(each)
        else:
            raise TypeError(
                f"stop_at_tools takes tools or tool names, not {type(each).__name__} {each!r}"
            )
    return frozenset(names)


def tools_by_name(
    tools: Sequence[Tool[..., Any] | Callable[..., Any]],
) -> dict[str, Tool[..., Any]]:
    made: dict[str, Tool[..., Any]] = {}
    for each in tools:
        item = each if isinstance(each, Tool) else tool(each)
        if item.name in made:
            raise ValueError(f"two tools are named {item.name!r}; give one another name")
        if item.name == OUTPUT_TOOL_NAME:
            raise ValueError(
                f"the tool name {OUTPUT_TOOL_NAME!r} is reserved for structured output"
            )
        made[item.name] = item
    return made


def prompt_messages(prompt: str | Sequence[Message]) -> list[Message]:
    if isinstance(prompt, str):
        return [UserMessage(content=prompt)]
    return list(prompt)


class Deny:
    """A decision for `Agent.resume`: the call does not run; the model is told `reason`."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason


class Supply:
    """A decision for `Agent.resume`: the call does not run; `result` is sent as its result."""

    def __init__(self, result: str) -> None:
        self.result = result


Decision = bool | Deny | Supply


async def decided(
    state: PendingApprovals,
    decisions: Mapping[str, Decision],
    tools: Mapping[str, Tool[..., Any]],
    deps: Any,
) -> list[Message]:
    """The conversation of `state` with a tool message for every call of its last answer.

    Calls that ran before the stop keep their results (they do not run again); approved
    calls run now; denied and supplied ones do not run.
    """
    waiting = {call.id: call for call in state.pending}
    missing = sorted(set(waiting) - set(decisions))
    unknown = sorted(set(decisions) - set(waiting))
    if missing or unknown:
        raise ValueError(
            f"decide every pending call, and only those: missing {missing or 'none'}, "
            f"unknown {unknown or 'none'}"
        )
    results = dict(state.finished)
    for call_id, decision in decisions.items():
        call = waiting[call_id]
        if decision is True:
            results[call_id] = await _run_approved(call, tools, deps)
        elif isinstance(decision, Supply):
            results[call_id] = decision.result
        else:
            why = decision.reason if isinstance(decision, Deny) else ""
            results[call_id] = f"Error: {denial(call.name, why)}"
    answer = state.messages[-1]
    calls = getattr(answer, "tool_calls", ())
    replies = [ToolMessage(tool_call_id=c.id, content=results[c.id]) for c in calls]
    return [*state.messages, *replies]


async def _run_approved(call: PendingCall, tools: Mapping[str, Tool[..., Any]], deps: Any) -> str:
    """Run one approved call: exactly the validated arguments the person saw."""
    chosen = tools.get(call.name)
    if chosen is None:
        return f"Error: tool {call.name!r} is not a tool of this agent any more; it did not run"
    if chosen.validate(call.raw_arguments) != call.arguments:
        return "Error: the arguments no longer validate to what was approved; it did not run"

    def approve(_: ApprovalRequest) -> bool:
        return True

    dispatcher = Dispatcher(tools=tools, limiter=anyio.CapacityLimiter(1), deps=deps,
                            approver=approve)  # fmt: skip
    request = ToolCall(id=call.id, name=call.name, arguments=call.raw_arguments)
    return (await dispatcher.run_one(request, Usage())).content
