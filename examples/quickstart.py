"""The main job of the README: define tools from plain functions and show what the model sees.

Run: python examples/quickstart.py
(Once the agent loop lands, this becomes a real agent run: offline against the built-in
MockChatServer, or against AI/ML API when AIMLAPI_API_KEY is set.)
"""

from __future__ import annotations

import json
from typing import Literal

from agentkit import tool


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    """
    return {"city": city, "temperature": 21 if unit == "c" else 70, "unit": unit}


@tool(requires_approval=True)
def send_email(to: str, subject: str, body: str = "") -> str:
    """Send an email.

    Args:
        to: The recipient's address.
        subject: The subject line.
        body: The message text.
    """
    return f"sent to {to}"


def main() -> None:
    for each in (get_weather, send_email):
        print(json.dumps(each.definition(), indent=2))
    arguments = get_weather.validate('{"city": "Paris", "unit": null}')
    print("validated:", arguments, "->", get_weather.call(arguments))


if __name__ == "__main__":
    main()
