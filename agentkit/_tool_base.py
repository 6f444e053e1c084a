"""Layer 2 (tool definition): what every tool is, `BaseTool`, and what a model sees of it.

Two kinds of tools are siblings under `BaseTool`: function tools (`Tool`, `@tool`) and the
tools of MCP servers (`agentkit.mcp`). The loop, the approvals and `mcp serve` know a tool
only through `BaseTool`: its name, description, schema and limits, `validate()` and `call()`.
A new option goes here once and every kind of tool has it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import ToolDefinitionError
from ._fixed import Fixed

__all__ = ["BaseTool", "ToolDefinition", "ToolKind"]

_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # used with fullmatch: "$" would allow a "\n"


ToolKind = Literal["function", "output"]
"""What a `ToolDefinition` is for: a tool to run, or the final-output tool."""


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as a model sees it, in no provider's wire shape.

    What tools produce (`Tool.definition()`) and what the loop, extraction and the model
    doubles pass around; a model's dialect renders it for its API (for Chat Completions:
    `agentkit.openai_tool(definition)`).
    """

    name: str
    """The name the model calls it by."""
    parameters: Mapping[str, Any]
    """The JSON schema of its arguments (the strict form when `strict`)."""
    description: str | None = None
    """What it does, for the model (None: no description)."""
    strict: bool = False
    """Whether the provider should hold the model to the schema exactly (strict mode)."""
    kind: ToolKind = "function"
    """`"function"`: a tool the loop runs. `"output"`: the final-output tool of structured
    output; calling it gives the answer (agents and extraction know it by this, not by its
    name)."""


class BaseTool(Fixed):
    """What every tool is: a name, a description, a schema, limits, and a way to be called.

    Subclasses set up their schema, then call `BaseTool.__init__` with the rest, then
    `self._fix()`; they give `parameters`, `strict_problems`, `validate()` and `call()`.
    """

    name: str
    description: str
    strict: bool
    timeout: float | None
    max_result_chars: int | None
    max_retries: int | None
    requires_approval: bool
    is_async: bool
    """`call()` returns an awaitable (else the loop runs it in a worker thread)."""
    takes_context: bool
    """`call()` wants the run's `RunContext`."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        strict: bool,
        timeout: float | None,
        max_result_chars: int | None,
        max_retries: int | None,
        requires_approval: bool,
        is_async: bool,
        takes_context: bool,
    ) -> None:
        self.name = checked_name(name)
        self.description = description
        self.strict = strict
        self.timeout = checked_timeout(timeout, self.name)
        self.max_result_chars = checked_limit(max_result_chars, self.name)
        self.max_retries = checked_retries(max_retries, self.name)
        self.requires_approval = requires_approval
        self.is_async = is_async
        self.takes_context = takes_context

    def _what(self) -> str:
        return f"tool {self.name!r}"

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The JSON schema of the arguments, as sent on the wire (strict form when strict)."""
        raise NotImplementedError

    @property
    def strict_problems(self) -> tuple[str, ...]:
        """Why strict mode is impossible for this tool (empty when it is possible)."""
        raise NotImplementedError

    def definition(self) -> ToolDefinition:
        """The tool as a model sees it (`agentkit.openai_tool(...)` gives the wire dict)."""
        return ToolDefinition(
            name=self.name,
            parameters=self.parameters,
            description=self.description or None,
            strict=self.strict,
        )

    def validate(self, raw_arguments: str) -> dict[str, Any]:
        """Check the model's raw JSON arguments and return them by parameter name.

        Raises:
            ToolArgumentsError: The arguments are invalid; its message is fit for the model.
        """
        raise NotImplementedError

    def call(self, arguments: Mapping[str, Any], context: Any = None) -> Any:
        """Run the tool with validated arguments (an awaitable when `is_async`)."""
        raise NotImplementedError


def checked_name(name: str) -> str:
    if not _TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"tool name {name!r} is not allowed: use 1 to 64 letters, digits, '_' or '-'"
        )
    return name


def checked_timeout(timeout: float | None, name: str) -> float | None:
    if timeout is not None and not timeout > 0:
        raise ToolDefinitionError(f"{name}: timeout must be a positive number of seconds")
    return timeout


def checked_limit(limit: int | None, name: str) -> int | None:
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ToolDefinitionError(f"{name}: max_result_chars must be a whole number >= 1 or None")
    return limit


def checked_retries(max_retries: int | None, name: str) -> int | None:
    if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
        raise ToolDefinitionError(f"{name}: max_retries must be a whole number >= 0")
    return max_retries
