"""Layer 4 (run loop): what one run is given: its limits, its policy, its whole specification.

Plain frozen records, kept apart from the loop that reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._dispatch import Approver
from ._messages import Usage
from ._output import OutputMode, OutputSpec
from ._tool import Tool, ToolDefinition
from .models._base import Model, ModelSettings

__all__ = ["LoopPolicy", "RunSpec", "UsageLimits"]


@dataclass(frozen=True, kw_only=True)
class UsageLimits:
    """Upper bounds for one run; reaching one raises `UsageLimitExceeded`."""

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    tool_calls: int | None = None

    def check_tokens(self, usage: Usage) -> tuple[str, int] | None:
        """The first token limit `usage` exceeds, if any."""
        for name, used in (
            ("input_tokens", usage.prompt_tokens),
            ("output_tokens", usage.completion_tokens),
            ("total_tokens", usage.total_tokens),
        ):
            limit = getattr(self, name)
            if limit is not None and used > limit:
                return name, limit
        return None


@dataclass(frozen=True, kw_only=True)
class LoopPolicy:
    """How the loop behaves; the defaults suit most agents."""

    max_concurrency: int = 16
    """Tool calls of one run running at the same time."""
    tool_retries: int = 2
    """Failed calls a tool may have in one run before the run stops (per tool; a tool's own
    `max_retries` wins)."""
    output_retries: int = 2
    """Correction rounds for invalid structured output."""
    after_tool_choice: str | None = "auto"
    """What a forced `tool_choice` becomes once a tool ran (`None` keeps it forced)."""
    raise_tool_errors: bool = False
    """Let tool exceptions propagate instead of sending them to the model."""
    output_mode: OutputMode = "tool"
    """Structured output through a final-output tool, or `response_format` json_schema."""


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything one run needs; built by `Agent` from its configuration."""

    model: Model
    instructions: str | None
    tools: Mapping[str, Tool[..., Any]]
    output: OutputSpec
    settings: ModelSettings
    tool_choice: str | None
    parallel_tool_calls: bool | None
    max_turns: int
    limits: UsageLimits
    policy: LoopPolicy
    stop_at_tools: frozenset[str]
    approver: Approver | None
    definitions: tuple[ToolDefinition, ...] = field(default=())
