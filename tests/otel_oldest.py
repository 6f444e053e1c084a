"""Run by tests/observe/test_otel.py in a process whose OpenTelemetry is an older release (1.30).

Instruments a scripted run with the SDK's in-memory exporter and prints the span names and
the SDK's version as JSON.
"""

from __future__ import annotations

import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.version import __version__ as sdk_version

import agentkit
from agentkit import Agent, tool
from agentkit.testing import FakeModel, Reply


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
agentkit.instrument(provider)
Agent(FakeModel([Reply.tool_calls(("add", {"a": 1, "b": 2})), "3"]), tools=[add]).run_sync("1+2")
names = sorted(span.name for span in exporter.get_finished_spans())
print(json.dumps({"sdk": sdk_version, "spans": names}))
