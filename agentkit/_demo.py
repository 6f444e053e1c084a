"""Layer 5 (edges): the conversation `agentkit demo` shows.

Two tools and a question that needs both of them, twice over, so the model calls them in
parallel. Offline, a MockChatServer plays a scripted model that does exactly that.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

from ._tool import Tool, tool
from .testing import RecordedRequest, Reply

__all__ = ["DEMO_QUESTION", "DEMO_TOOLS", "scripted_demo_model"]

DEMO_QUESTION = "What's the weather and the local time in Tokyo and in Lisbon?"
_WEATHER = {"tokyo": (18, "light rain"), "lisbon": (22, "sunny")}
_UTC_OFFSETS = {"tokyo": 9, "lisbon": 0}


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Tokyo".
        unit: Temperature unit.
    """
    celsius, sky = _WEATHER.get(city.lower(), (15, "cloudy"))
    temperature = celsius if unit == "c" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": temperature, "unit": unit, "sky": sky}


@tool
def local_time(city: str) -> str:
    """Get the current local time in a city (HH:MM, 24-hour clock).

    Args:
        city: City name.
    """
    offset = datetime.timedelta(hours=_UTC_OFFSETS.get(city.lower(), 0))
    return (datetime.datetime.now(datetime.UTC) + offset).strftime("%H:%M")


DEMO_TOOLS: list[Tool[..., Any]] = [get_weather, local_time]


def scripted_demo_model(request: RecordedRequest) -> Reply:
    """Offline stand-in for the model: four parallel calls, then an answer from their results."""
    results = [m["content"] for m in request.messages if m["role"] == "tool"]
    if not results:
        return Reply.tool_calls(
            *[
                (name, {"city": city})
                for city in ("Tokyo", "Lisbon")
                for name in ("get_weather", "local_time")
            ],
            chunk_size=12,
        )
    weather = {r["city"]: r for r in (json.loads(x) for x in results if x.startswith("{"))}
    times = [x for x in results if not x.startswith("{")]
    lines = [
        f"{city}: {report['sky']}, {report['temperature']} °{str(report['unit']).upper()}, "
        f"local time {time}."
        for (city, report), time in zip(weather.items(), times, strict=False)
    ]
    return Reply.text(" ".join(lines), chunk_size=8)
