"""OpenTelemetry spans and metrics for agent runs, per the GenAI semantic conventions.

Needs the `otel` extra (`pip install "agentkit-loop[otel]"`); nothing here is imported or done
unless `instrument()` is called.

```python
import agentkit

agentkit.instrument()  # the global tracer and meter providers; content left out
```

Spans: `invoke_agent {agent}` per run (extraction: `invoke_agent extract_{Type}`), with a
`chat {model}` child per model request and an `execute_tool {tool}` child per tool call.
Tool spans are children of the run span (not of the request that asked for them), so a tool
started while its request still streams overlaps that request's span. Retries are events
(`gen_ai.request.retry`) on the request's span: one span per logical request, as the model
sees it. Metrics: `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`.
Attribute names are the conventions' own, written out here: the extra needs `opentelemetry-api`
only, and installs beside any release of the SDK.
"""

from agentkit._observe._otel import OpenTelemetryInstrument, instrument, uninstrument

__all__ = ["OpenTelemetryInstrument", "instrument", "uninstrument"]
