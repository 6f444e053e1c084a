"""Layer 4 (run loop): a run's limits kept: usage, cost, requests, tool calls, retry budgets.

Each check raises the limit's error carrying the partial `RunResult`, so nothing done is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._events import RunResult
from ._exceptions import ToolRetriesExhausted, UsageLimitExceeded
from ._messages import Usage
from ._policy import LoopPolicy, UsageLimits

__all__ = ["check_request", "check_retry_budgets", "check_tool_calls", "usage_added"]


def usage_added(limits: UsageLimits, result: RunResult[Any], usage: Usage) -> None:
    """Add `usage` to the run's; raise when a token limit or the budget is now passed."""
    result.usage = result.usage + usage
    exceeded = limits.check_tokens(result.usage)
    if exceeded is None and limits.over_budget(result.usage):
        raise UsageLimitExceeded(
            f"usage limit cost=${limits.cost} exceeded: ${result.usage.cost} spent",
            limit="cost", value=Decimal(limits.cost or 0), result=result,
        )  # fmt: skip
    if exceeded is not None:
        name, limit = exceeded
        raise UsageLimitExceeded(
            f"usage limit {name}={limit} exceeded", limit=name, value=limit, result=result
        )


def check_request(limits: UsageLimits, result: RunResult[Any], dearest: Decimal) -> None:
    """Raise when the next request must not be sent.

    The request limit, or the budget, with the dearest request so far as the next one's
    estimate.
    """
    if limits.cost is not None:
        problem = limits.cost_problem(result.usage, dearest)
        if problem is not None:
            raise UsageLimitExceeded(
                problem, limit="cost", value=Decimal(limits.cost), result=result
            )
    limit = limits.requests
    if limit is not None and result.usage.requests >= limit:
        raise UsageLimitExceeded(
            f"usage limit requests={limit} reached; the next request was not sent",
            limit="requests", value=limit, result=result,
        )  # fmt: skip


def check_tool_calls(limits: UsageLimits, made: int, more: int, result: RunResult[Any]) -> None:
    """Raise when `more` calls after `made` would pass the tool-call limit."""
    limit = limits.tool_calls
    if limit is not None and made + more > limit:
        raise UsageLimitExceeded(
            f"usage limit tool_calls={limit} would be exceeded; the calls were not run",
            limit="tool_calls", value=limit, result=result,
        )  # fmt: skip


def check_retry_budgets(
    failures: Mapping[str, Sequence[str]],
    tools: Mapping[str, Any],
    policy: LoopPolicy,
    result: RunResult[Any],
) -> None:
    """Raise when a tool failed more often than its retry budget (its own, or the policy's)."""
    for name, errors in failures.items():
        tool = tools.get(name)
        own = tool.max_retries if tool is not None else None
        budget = own if own is not None else policy.tool_retries
        if len(errors) > budget:
            raise ToolRetriesExhausted(
                f"tool {name!r} failed {len(errors)} times (retry budget {budget}); "
                f"last error: {errors[-1]}",
                tool_name=name,
                errors=list(errors),
                result=result,
            )
