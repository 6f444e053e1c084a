"""The README's main job: an agent with two tools answers a question needing parallel calls.

    python examples/quickstart.py ["your question"]

With AIMLAPI_API_KEY set, it asks AI/ML API (openai/gpt-5-2-chat-latest). Without it, it runs
offline against agentkit's MockChatServer, whose scripted model calls the tools in parallel.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Literal

from agentkit import Agent, ChatModel, RunEvent, ToolCallFinished, tool
from agentkit.testing import MockChatServer, RecordedRequest, Reply

CITIES = {"paris": 21, "rome": 26, "oslo": 4}


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    """
    celsius = CITIES.get(city.lower(), 15)
    return {
        "city": city,
        "temperature": celsius if unit == "c" else celsius * 9 / 5 + 32,
        "unit": unit,
    }


@tool
def convert_currency(amount: float, rate: float) -> float:
    """Convert an amount with an exchange rate.

    Args:
        amount: The amount to convert.
        rate: Units of the target currency per unit of the source.
    """
    return round(amount * rate, 2)


def scripted_model(request: RecordedRequest) -> Reply:
    """Offline stand-in for the model: call both weather tools at once, then answer."""
    results = [m["content"] for m in request.messages if m["role"] == "tool"]
    if not results:
        return Reply.tool_calls(
            ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})
        )
    reports = [json.loads(result) for result in results]
    return Reply.text(" ".join(f"{r['city']}: {r['temperature']} °C." for r in reports))


def show(event: RunEvent) -> None:
    if isinstance(event, ToolCallFinished):
        call = event.result.call
        print(f"  -> {call.name}({call.arguments}) = {event.result.content}", file=sys.stderr)


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What's the weather in Paris and in Rome?"
    print(f"> {question}", file=sys.stderr)
    tools = [get_weather, convert_currency]
    if os.environ.get("AIMLAPI_API_KEY"):
        agent = Agent(ChatModel.from_env(), instructions="Be brief. Use the tools.", tools=tools)
        result = agent.run_sync(question, on_event=show)
        where = "AI/ML API"
    else:
        with MockChatServer(responder=scripted_model) as server:
            agent = Agent(server.chat_model(), instructions="Be brief.", tools=tools)
            result = agent.run_sync(question, on_event=show)
            where = f"offline, MockChatServer at {server.base_url}"
    print(result.output)
    calls = sum(len(turn.tool_results) for turn in result.turns)
    usage = (
        f"{result.usage.requests} requests, {calls} tool calls, {result.usage.total_tokens} tokens"
    )
    print(f"({usage}; {where})", file=sys.stderr)


if __name__ == "__main__":
    main()
