"""Layer 4 (run loop): observability in one place: what instrumentation sees of a run.

An `Instrument` is asked, when a run starts, for a `RunObserver`; the loop tells the observer
of each model request (its retries included) and each tool call as they start and end. With
no instrument registered, a run asks nobody and pays nothing: the loop checks one attribute.

The instruments agentkit ships live here too: the JSONL timeline (`Timeline`), OpenTelemetry
(`_otel`, public as `agentkit.otel`; imported only when `instrument()` is called, since it
needs the `otel` extra) with the GenAI conventions' message shape (`_genai`), and the
timeline's page (`_trace_view`, `_trace_page`; `agentkit trace view`).
"""

from ._protocol import (
    Instrument,
    ObservedRequest,
    RunInfo,
    RunObserver,
    add_instrument,
    observed_call,
    observed_item,
    remove_instrument,
    start_observing,
)
from ._timeline import Timeline

__all__ = [
    "Instrument",
    "ObservedRequest",
    "RunInfo",
    "RunObserver",
    "Timeline",
    "add_instrument",
    "observed_call",
    "observed_item",
    "remove_instrument",
    "start_observing",
]
