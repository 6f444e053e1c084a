"""Layer 4 (run loop): what one run is given: its limits, its policy, its whole specification.

Plain frozen records, kept apart from the loop that reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ._dispatch import Approver
from ._exceptions import ConfigurationError
from ._messages import Usage
from ._output import OutputMode, OutputSpec
from ._tool import BaseTool, ToolDefinition
from .models._base import Model, ModelSettings, ToolChoice

__all__ = ["LoopPolicy", "RunSpec", "UsageLimits"]


@dataclass(frozen=True, kw_only=True)
class UsageLimits:
    """Upper bounds for one run; reaching one raises `UsageLimitExceeded`."""

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    tool_calls: int | None = None
    request_input_tokens: int | None = None
    """The estimated prompt of one request (`input_tokens` is the run's total): a request
    estimated over it is not sent."""
    cost: Decimal | float | str | None = None
    """US dollars a run may spend: a request is not sent when the spend so far plus the
    dearest request of the run would pass it, and the run stops after any request that
    did. Needs costs to be known (reported, or estimated with `agentkit-loop[prices]`)."""

    def __post_init__(self) -> None:
        if self.cost is None:
            return
        try:
            dollars = Decimal(str(self.cost))
        except InvalidOperation:
            raise ConfigurationError(f"UsageLimits(cost={self.cost!r}) is not a number") from None
        if not dollars.is_finite() or dollars <= 0:
            raise ConfigurationError(
                f"UsageLimits(cost={self.cost!r}): a budget must be a positive number of US "
                "dollars (leave it None for no budget)"
            )
        object.__setattr__(self, "cost", dollars)

    def over_budget(self, spent: Usage) -> bool:
        """Whether `spent` already passed the cost limit."""
        return self.cost is not None and (spent.cost or 0) > Decimal(self.cost)

    def cost_problem(self, spent: Usage, dearest: Decimal) -> str | None:
        """Why the next request must not be sent under the cost limit, if it must not."""
        if self.cost is None:
            return None
        limit = Decimal(self.cost)
        if spent.requests and spent.cost is None:
            return (
                f"usage limit cost=${limit} cannot be kept: the cost of this run's requests "
                "is unknown (the provider reports none and the price table has no entry); "
                "install agentkit-loop[prices] or use a provider that reports costs"
            )
        used = spent.cost or Decimal(0)
        if used > limit:
            return f"usage limit cost=${limit} exceeded: ${used} spent"
        if used + dearest > limit:
            return (
                f"usage limit cost=${limit} would be passed: ${used} spent, and a request "
                f"has cost up to ${dearest}; the next request was not sent"
            )
        return None

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
    after_tool_choice: ToolChoice | None = "auto"
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
    tools: Mapping[str, BaseTool]
    output: OutputSpec
    settings: ModelSettings
    tool_choice: ToolChoice | None
    parallel_tool_calls: bool | None
    max_turns: int
    limits: UsageLimits
    policy: LoopPolicy
    stop_at_tools: frozenset[str]
    approver: Approver | None
    definitions: tuple[ToolDefinition, ...] = field(default=())
    history_processors: tuple[Any, ...] = ()
    """What of the conversation is sent (`_history`), applied in order before each request."""
    history_memo: dict[str, Any] | None = None
    """What processors keep with a stored conversation (a session's compaction)."""
