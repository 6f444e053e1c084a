"""Layer 4 (run loop): how an `Agent`'s configuration is checked and assembled.

Tools by name, names that `tool_choice` and `stop_at_tools` may use, the output mode a
model's profile allows, and the tools of toolsets merged into a run's spec.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._exceptions import ConfigurationError, HistoryError, ToolDefinitionError
from ._media import Audio, Document, Image
from ._messages import (
    AssistantMessage,
    ImagePart,
    Message,
    PromptPart,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    repeated_call_ids,
)
from ._output import OUTPUT_TOOL_NAME, OutputMode, OutputSpec
from ._policy import LoopPolicy, RunSpec
from ._tool import BaseTool, ToolDefinition, tool
from ._toolset import Toolset
from .models._base import Model, ToolChoice, forced_tool
from .models._profile import ModelProfile

if TYPE_CHECKING:
    from .models._fallback import FallbackModel

logger = logging.getLogger("agentkit")

__all__ = [
    "check_names",
    "escalated",
    "output_mode",
    "pending_calls",
    "prompt_messages",
    "stop_names",
    "tools_by_name",
    "with_toolsets",
]


async def with_toolsets(
    spec: RunSpec,
    tools: Mapping[str, BaseTool],
    toolsets: Sequence[Toolset],
    tool_choice: ToolChoice | None,
) -> RunSpec:
    """`spec` with the toolsets' current tools added after the agent's own."""
    merged = dict(tools)
    added: list[ToolDefinition] = []
    reserved = reserved_names(spec.output)
    for toolset in toolsets:
        for each in await toolset.list_tools():
            if each.name in merged or each.name in reserved:
                raise ToolDefinitionError(
                    f"tool name {each.name!r} of {toolset!r} is already taken (by a tool "
                    "of the agent or of another toolset); give the toolset a prefix or "
                    "filter the tool out"
                )
            merged[each.name] = each
            added.append(each.definition())
    check_names(tool_choice, spec.stop_at_tools, merged)
    local = [d for d in spec.definitions if d.kind != "output"]
    output = [d for d in spec.definitions if d.kind == "output"]
    return dataclasses.replace(spec, tools=merged, definitions=(*local, *added, *output))


def output_mode(policy: LoopPolicy, profile: ModelProfile) -> OutputMode:
    """The policy's output mode, or the output tool where the model has no `json_schema`."""
    if policy.output_mode == "json_schema" and not profile.json_schema:
        return "tool"
    return policy.output_mode


def check_names(
    choice: ToolChoice | None, stop_names: frozenset[str], tools: Mapping[str, BaseTool]
) -> None:
    _check_tool_choice(choice, tools)
    unknown_stops = sorted(stop_names - set(tools))
    if unknown_stops:
        raise ConfigurationError(f"stop_at_tools names unknown tools: {', '.join(unknown_stops)}")


def _check_tool_choice(choice: ToolChoice | None, tools: Mapping[str, BaseTool]) -> None:
    """A mode stays a mode even beside a tool of that name (`UseTool(name)` forces the tool)."""
    named = forced_tool(choice)
    if named is not None and named not in tools:
        raise ConfigurationError(f"tool_choice {choice!r} names no tool of this agent")


def stop_names(stop_at_tools: Sequence[str | BaseTool]) -> frozenset[str]:
    names = set()
    for each in stop_at_tools:
        if isinstance(each, BaseTool):
            names.add(each.name)
        elif isinstance(each, str):
            names.add(each)
        else:
            raise ConfigurationError(
                f"stop_at_tools takes tools or tool names, not {type(each).__name__} {each!r}"
            )
    return frozenset(names)


def reserved_names(output: OutputSpec) -> frozenset[str]:
    """Names no tool may take: the output tools' (and `final_result` always)."""
    return output.names | {OUTPUT_TOOL_NAME}


def tools_by_name(
    tools: Sequence[BaseTool | Callable[..., Any]], output: OutputSpec
) -> dict[str, BaseTool]:
    made: dict[str, BaseTool] = {}
    reserved = reserved_names(output)
    for each in tools:
        item = each if isinstance(each, BaseTool) else tool(each)
        if item.name in made:
            raise ConfigurationError(f"two tools are named {item.name!r}; give one another name")
        if item.name in reserved:
            raise ConfigurationError(
                f"the tool name {item.name!r} is reserved for structured output; "
                "give the tool another name"
            )
        made[item.name] = item
    return made


_PARTS = (TextPart, ImagePart, Image, Document, Audio)


def prompt_messages(
    prompt: str | PromptPart | Sequence[Message | str | PromptPart],
) -> list[Message]:
    """The messages a prompt stands for.

    Text is one user message; a part (`Image`, `Document`, `Audio`) or a list of text and
    parts is one user message with those parts; a list of messages is those messages.

    Raises:
        ConfigurationError: A list mixing messages with text or parts, or holding anything else.
    """
    if isinstance(prompt, str):
        return [UserMessage(content=prompt)]
    if isinstance(prompt, _PARTS):
        return [UserMessage(content=(prompt,))]
    items = list(prompt)
    if items and all(isinstance(item, (str, *_PARTS)) for item in items):
        parts = tuple(TextPart(text=i) if isinstance(i, str) else i for i in items)
        return [UserMessage(content=parts)]
    if any(isinstance(item, (str, *_PARTS)) for item in items):
        raise ConfigurationError(
            "a prompt is text and parts (one user message) or messages, not both; put the "
            "parts in a UserMessage(content=(...)) among the messages"
        )
    return items  # type: ignore[return-value]


def pending_calls(messages: list[Message]) -> list[ToolCall]:
    """Tool calls the history's last assistant message left unanswered (to resume).

    Raises:
        HistoryError: Calls left unanswered earlier in the history.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    last_assistant = max(
        (i for i, m in enumerate(messages) if isinstance(m, AssistantMessage)), default=-1
    )
    for position, message in enumerate(messages):
        if isinstance(message, AssistantMessage) and position != last_assistant:
            missing = [c.id for c in message.tool_calls if c.id not in answered]
            if missing:
                raise HistoryError(
                    f"message_history has tool calls without results ({', '.join(missing)}) "
                    f"in message {position}; add their tool messages or drop the calls"
                )
    if last_assistant < 0:
        return []
    tail = messages[last_assistant]
    assert isinstance(tail, AssistantMessage)
    if repeated := repeated_call_ids(tail.tool_calls):
        raise HistoryError(
            f"message_history: the last answer has two or more tool calls with the id "
            f"{repeated[0]!r}, so their results cannot be told apart; drop that answer"
        )
    return [c for c in tail.tool_calls if c.id not in answered]


def escalated(model: Model, served_by: str) -> FallbackModel | None:
    """The rest of `model`'s fallback chain after `served_by`, or None.

    Only for a `FallbackModel(on_invalid_output=True)`: output that stayed invalid past its
    retries goes on to the next model.
    """
    from .models._fallback import FallbackModel  # imported already when `model` is one

    if not isinstance(model, FallbackModel) or not model.on_invalid_output:
        return None
    rest = model.after(served_by)
    if rest is not None:
        logger.warning("output of %s still invalid; going on with %s", served_by, rest.labels[0])
    return rest


@dataclass(frozen=True, slots=True)
class RunCall:
    """One run as asked: what `run`, `stream` and a session's run pass down to the loop."""

    prompt: Any
    deps: Any = None
    history: Sequence[Message] = ()
    emit: Any = None
    """Where events go (`on_event`, or a stream's channel); None when nobody listens."""
    trace_to: str | os.PathLike[str] | None = None
    stream: bool = False
    into: list[Message] | None = None
    """The list the run's messages are written into (a session's, a stream's), read after a
    failure too; None: a list of the run's own."""
    memo: dict[str, Any] | None = None
    """A session's compaction memo, kept with it."""

    def in_session(self, record: Any) -> RunCall:
        """This run on a session's recording: its history, its messages and its memo."""
        return dataclasses.replace(
            self, history=record.history, into=record.messages, memo=record.memo
        )
