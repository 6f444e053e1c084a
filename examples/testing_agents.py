"""Test an agent without a network: script the model with FakeModel, check what was sent.

python examples/testing_agents.py      (or run it with pytest)
"""

from __future__ import annotations

from pydantic import BaseModel

from agentkit import Agent, tool
from agentkit.testing import FakeModel, Reply


class Forecast(BaseModel):
    city: str
    summary: str


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: City name.
    """
    return "rain, 12 °C" if city == "Bergen" else "sun, 25 °C"


def test_forecast_agent() -> None:
    model = FakeModel(
        [
            Reply.tool_calls(("get_weather", {"city": "Bergen"})),
            Reply.tool_calls(("final_result", {"city": "Bergen", "summary": "Rainy and cool."})),
        ]
    )
    agent = Agent(model, tools=[get_weather], output_type=Forecast)
    result = agent.run_sync("Forecast for Bergen?")

    assert result.output == Forecast(city="Bergen", summary="Rainy and cool.")
    assert result.messages[2].content == "rain, 12 °C"  # the tool's answer went back
    assert model.requests[0].settings.tool_choice == "required"
    assert len(model.requests) == 2


if __name__ == "__main__":
    test_forecast_agent()
    print("test_forecast_agent passed")
