"""Layer 0: the one exception tree every other module raises from.

    AgentkitError                      base of everything agentkit raises
    ├── ToolDefinitionError            a function cannot become a tool (raised at decoration)
    ├── ToolError                      one tool call failed; the loop turns these into data
    │   ├── ToolArgumentsError         the model's arguments are not valid JSON or fail validation
    │   └── ToolResultError            the tool's return value cannot be sent back as text
    └── ModelError                     talking to the model failed (see `_chat` for the subtree)

Messages say what was wrong, where, and what to do about it. Errors meant for the model
(`ToolArgumentsError`) are short and never echo the model's input back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AgentkitError",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolError",
    "ToolResultError",
]


class AgentkitError(Exception):
    """Base class of every error agentkit raises."""


class ToolDefinitionError(AgentkitError, TypeError):
    """A function cannot be turned into a tool.

    Raised when `@tool` is applied, never later, naming the function and the parameter at fault.
    """


class ToolError(AgentkitError):
    """A single tool call failed.

    Attributes:
        tool_name: The name of the tool that was called.
    """

    def __init__(self, message: str, *, tool_name: str) -> None:
        super().__init__(message)
        self.tool_name = tool_name


class ToolArgumentsError(ToolError, ValueError):
    """The model's arguments for a tool are not valid.

    `str(error)` is a short, model-readable summary (field path and reason for each problem,
    bounded in length, never the input itself). `errors` holds the same facts for programs.

    Attributes:
        errors: One dict per problem with `loc` (a tuple path), `msg` and `type`.
    """

    def __init__(
        self, message: str, *, tool_name: str, errors: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message, tool_name=tool_name)
        self.errors = list(errors)


class ToolResultError(ToolError):
    """A tool returned a value that cannot be serialized for the model."""
