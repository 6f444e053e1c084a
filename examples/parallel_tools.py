"""Eight slow tool calls in one answer run at once: the turn takes ~0.1 s, not ~0.8 s.

python examples/parallel_tools.py
"""

from __future__ import annotations

import time

import anyio

from agentkit import Agent, tool
from agentkit.testing import FakeModel, Reply


@tool
async def fetch_price(symbol: str) -> float:
    """Fetch a stock price.

    Args:
        symbol: The ticker symbol.
    """
    await anyio.sleep(0.1)  # a slow API
    return round(100 + len(symbol) * 1.5, 2)


def main() -> None:
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "IBM"]
    calls = [("fetch_price", {"symbol": symbol}) for symbol in symbols]
    model = FakeModel([Reply.tool_calls(*calls), "All eight prices fetched."])
    started = time.perf_counter()
    result = Agent(model, tools=[fetch_price]).run_sync("Prices of my portfolio?")
    elapsed = time.perf_counter() - started
    turn = result.turns[0]
    print(result.output)
    print(f"{len(turn.tool_results)} calls in {turn.tool_seconds:.2f} s (run: {elapsed:.2f} s)")


if __name__ == "__main__":
    main()
