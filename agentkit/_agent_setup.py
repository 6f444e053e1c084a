"""Layer 4 (run loop): how an `Agent`'s configuration is checked and assembled.

Tools by name, names that `tool_choice` and `stop_at_tools` may use, the output mode a
model's profile allows, and the tools of toolsets merged into a run's spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._exceptions import ConfigurationError, ToolDefinitionError
from ._messages import Message, UserMessage
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
        raise ConfigurationError(f"stop_at_tools names unknown tools: {', '.join(unknown_stops)}")


def _check_tool_choice(choice: str | None, tools: Mapping[str, Tool[..., Any]]) -> None:
    if choice is not None and choice not in TOOL_CHOICE_MODES and choice not in tools:
        raise ConfigurationError(f"tool_choice {choice!r} names no tool of this agent")
    if choice in TOOL_CHOICE_MODES and choice in tools:
        raise ConfigurationError(
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
            raise ConfigurationError(
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
            raise ConfigurationError(f"two tools are named {item.name!r}; give one another name")
        if item.name == OUTPUT_TOOL_NAME:
            raise ConfigurationError(
                f"the tool name {OUTPUT_TOOL_NAME!r} is reserved for structured output"
            )
        made[item.name] = item
    return made


def prompt_messages(prompt: str | Sequence[Message]) -> list[Message]:
    if isinstance(prompt, str):
        return [UserMessage(content=prompt)]
    return list(prompt)
