"""OpenTelemetry spans of an agent run, printed to the console.

    pip install "agentkit-loop[otel]" opentelemetry-sdk
    python examples/otel_console.py

Uses AI/ML API when AIMLAPI_API_KEY is set; otherwise a scripted FakeModel answers. The spans
are the GenAI conventions' `invoke_agent`, `chat` and `execute_tool` (see docs/observability.md).
"""

from __future__ import annotations

import os

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import agentkit
from agentkit import Agent, tool
from agentkit.testing import FakeModel, Reply


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city.

    Args:
        city: The city.
    """
    return f"{city}: 21 °C, sunny"


def main() -> None:
    provider = TracerProvider()
    exporter = ConsoleSpanExporter(
        formatter=lambda span: f"{span.name:<28} {span.attributes.get('gen_ai.operation.name')}\n"
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agentkit.instrument(tracer_provider=provider)

    offline = FakeModel([Reply.tool_calls(("get_weather", {"city": "Paris"})), "Sunny in Paris."])
    model = None if os.environ.get("AIMLAPI_API_KEY") else offline
    agent = Agent(model, name="weather", tools=[get_weather])
    print(agent.run_sync("Weather in Paris?").output)


if __name__ == "__main__":
    main()
