"""OpenTelemetry spans and metrics for agent runs (public as `agentkit.otel`).

The implementation of the `agentkit.otel` module; see its docstring.
"""

from __future__ import annotations

import contextlib
import json
import time
import weakref
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agentkit._events import RunResult, ToolResult
from agentkit._messages import Completion, ToolCall, Usage
from agentkit._version import __version__
from agentkit.models._base import ModelRequest, ModelSettings, model_info, model_name

from ._genai import genai_input, genai_output
from ._protocol import RunInfo, RunObserver, add_instrument, remove_instrument

# The GenAI semantic conventions' names, written out: the conventions package keeps every
# gen_ai name in its private `_incubating` module (they may still move), and depending on it
# would pin one release of it on every user. A rename there is a rename here, on purpose.
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
AGENTKIT_SERVED_BY = "agentkit.model.served_by"
AGENTKIT_COST_USD = "agentkit.cost.usd"
"""What a request or a run cost, in US dollars (the GenAI conventions have no cost
attribute yet); left out when unknown."""
AGENTKIT_COST_SOURCE = "agentkit.cost.source"
AGENTKIT_CLIENT_REQUEST_ID = "agentkit.request.client_id"
"""The request's `X-Client-Request-Id`, as the provider's logs know it."""
AGENTKIT_PROVIDER_REQUEST_ID = "agentkit.response.request_id"
"""The provider's id of the request (`x-inference-id`, `x-request-id`)."""
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

__all__ = ["OpenTelemetryInstrument", "instrument", "uninstrument"]

_SETTING_ATTRIBUTES = {
    "max_tokens": GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": GEN_AI_REQUEST_TEMPERATURE,
    "top_p": GEN_AI_REQUEST_TOP_P,
    "seed": GEN_AI_REQUEST_SEED,
    "presence_penalty": GEN_AI_REQUEST_PRESENCE_PENALTY,
    "frequency_penalty": GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "n": GEN_AI_REQUEST_CHOICE_COUNT,
}
_PROVIDERS = {"azure": "azure.ai.openai"}  # the conventions' well-known name where it differs
_INSTALLED: list[OpenTelemetryInstrument] = []


def instrument(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    *,
    include_content: bool = False,
) -> OpenTelemetryInstrument:
    """Trace and measure every run of every agent (and every extraction) from now on.

    Args:
        tracer_provider: Where spans go (default: the global one).
        meter_provider: Where metrics go (default: the global one).
        include_content: Record messages, tool arguments and tool results (off by default:
            they may hold personal data).

    Calling it again replaces the previous instrumentation. `Agent(instrument=False)` keeps
    an agent out.
    """
    uninstrument()
    made = OpenTelemetryInstrument(tracer_provider, meter_provider, include_content)
    _INSTALLED.append(made)
    add_instrument(made)
    return made


def uninstrument() -> None:
    """Stop tracing and measuring runs."""
    while _INSTALLED:
        remove_instrument(_INSTALLED.pop())


class OpenTelemetryInstrument:
    """Spans and metrics for runs; made by `instrument()`."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        include_content: bool,
    ) -> None:
        self.tracer: Any = trace.get_tracer("agentkit", __version__, tracer_provider)
        meter = metrics.get_meter("agentkit", __version__, meter_provider)
        self.tokens: Any = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
        )  # fmt: skip
        self.duration: Any = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration."
        )
        self.include_content = include_content
        # Per model and per answering model: the attribute dicts, built once, not per request.
        self._models: weakref.WeakKeyDictionary[Any, _ModelAttributes] = weakref.WeakKeyDictionary()

    def attributes_of(self, model: Any) -> _ModelAttributes:
        """The span and metric attributes of `model`, cached while it lives."""
        try:
            found = self._models.get(model)
        except TypeError:  # a model that cannot be weakly referenced: built each time
            return _ModelAttributes(model)
        if found is None:
            found = self._models[model] = _ModelAttributes(model)
        return found

    def start_run(self, info: RunInfo) -> _RunSpans:
        """Open the run's span (a child of whatever span is current)."""
        return _RunSpans(self, info)

    @contextlib.contextmanager
    def item_scope(self, batch: str, item_id: str, attempt: int) -> Iterator[None]:
        """A batch item's span, current while its task runs: its runs are its children."""
        span = self.tracer.start_span(
            f"batch_item {item_id}",
            context=Context(),  # one trace per item: a batch of a million is not one trace
            kind=SpanKind.INTERNAL,
            attributes={"agentkit.batch.name": batch, "agentkit.batch.item.id": item_id,
                        "agentkit.batch.item.attempt": attempt},
        )  # fmt: skip
        with trace.use_span(span, end_on_exit=True, record_exception=False):
            yield


class _ModelAttributes:
    """What every span and measurement of one model carries, built once per model."""

    def __init__(self, model: Any) -> None:
        self.name: str = model_name(model)
        self.common: dict[str, Any] = _model_attributes(model, self.name)
        self.chat: dict[str, Any] = {GEN_AI_OPERATION_NAME: "chat", **self.common}
        self.span_name: str = f"chat {self.name}"
        self._answered: dict[str, tuple[dict[str, Any], ...]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._sent: tuple[ModelSettings | None, dict[str, Any]] = (None, self.chat)

    def run_attributes(self, agent_name: str) -> dict[str, Any]:
        """The `invoke_agent` span's attributes for runs of the agent named `agent_name`."""
        found = self._runs.get(agent_name)
        if found is None:
            found = {
                GEN_AI_OPERATION_NAME: "invoke_agent",
                GEN_AI_AGENT_NAME: agent_name,
                **self.common,
            }
            if len(self._runs) < 64:
                self._runs[agent_name] = found
        return found

    def request_attributes(self, settings: ModelSettings) -> dict[str, Any]:
        """A `chat` span's attributes: the model's, and the settings sent.

        A run sends the same settings object request after request, so the last is kept.
        """
        last, found = self._sent
        if settings is not last:
            sent = _settings(settings)
            found = {**self.chat, **sent} if sent else self.chat
            self._sent = (settings, found)
        return found

    def metric_attributes(self, response_model: str) -> tuple[dict[str, Any], ...]:
        """(duration, input tokens, output tokens) attributes for answers by `response_model`."""
        found = self._answered.get(response_model)
        if found is None:
            base = {**self.chat, GEN_AI_RESPONSE_MODEL: response_model}
            found = (
                base,
                {**base, GEN_AI_TOKEN_TYPE: "input"},
                {**base, GEN_AI_TOKEN_TYPE: "output"},
            )
            if len(self._answered) < 64:  # a server that invents names cannot grow this
                self._answered[response_model] = found
        return found


class _Current:
    """A span, current (for the code that runs meanwhile) until it ends."""

    __slots__ = ("span", "started", "token")

    def __init__(self, span: Span, parent: Context) -> None:
        self.span: Any = span
        self.started: float = time.perf_counter()
        self.token: Any = otel_context.attach(trace.set_span_in_context(span, parent))

    def end(self) -> None:
        self.span.end()
        otel_context.detach(self.token)


class _RunSpans(RunObserver["_Current", "_Current"]):
    """One run: its span, and the spans of its requests and tool calls."""

    def __init__(self, owner: OpenTelemetryInstrument, info: RunInfo) -> None:
        self.owner: OpenTelemetryInstrument = owner
        self.tracer: Any = owner.tracer
        self.model: _ModelAttributes = owner.attributes_of(info.model)
        name = info.name if info.kind == "agent" else f"extract_{info.name}"
        attributes = self.model.run_attributes(name)
        self.span: Any = owner.tracer.start_span(
            f"invoke_agent {name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.context: Any = trace.set_span_in_context(self.span)
        self._current = otel_context.attach(self.context)  # the user's spans in the run nest

    def request_started(self, request: ModelRequest) -> _Current:
        attributes = self.model.request_attributes(request.settings)
        if request.client_request_id is not None:  # one dict: set_attribute takes a lock
            attributes = {**attributes, AGENTKIT_CLIENT_REQUEST_ID: request.client_request_id}
        span = self.tracer.start_span(
            self.model.span_name, context=self.context, kind=SpanKind.CLIENT, attributes=attributes
        )
        if self.owner.include_content:
            messages = genai_input(request.messages)
            span.set_attribute(GEN_AI_INPUT_MESSAGES, json.dumps(messages))
        return _Current(span, self.context)  # an instrumented HTTP client's spans nest

    def request_streaming(self, token: _Current) -> None:
        token.span.add_event("gen_ai.response.first_chunk")

    def request_retried(
        self, token: _Current, attempt: int, error: BaseException, wait: float
    ) -> None:
        token.span.add_event(
            "gen_ai.request.retry",
            {"attempt": attempt, ERROR_TYPE: type(error).__name__, "wait": wait},
        )

    def request_ended(
        self, token: _Current, completion: Completion | None, error: BaseException | None
    ) -> None:
        span, seconds = token.span, time.perf_counter() - token.started
        if completion is not None:
            span.set_attributes(_response_attributes(completion))
            timed, tokens_in, tokens_out = self.model.metric_attributes(
                completion.model or self.model.name
            )
            self.owner.tokens.record(completion.usage.prompt_tokens, tokens_in)
            self.owner.tokens.record(completion.usage.completion_tokens, tokens_out)
            self.owner.duration.record(seconds, timed)
            if self.owner.include_content:
                output = genai_output(completion.choices)
                span.set_attribute(GEN_AI_OUTPUT_MESSAGES, json.dumps(output))
        if error is not None:
            failed = {**self.model.chat, ERROR_TYPE: type(error).__name__}
            self.owner.duration.record(seconds, failed)
            _failed(span, error, self.owner.include_content)
        token.end()

    def tool_started(self, call: ToolCall) -> _Current:
        span = self.tracer.start_span(
            f"execute_tool {call.name}",
            context=self.context,
            kind=SpanKind.INTERNAL,
            attributes={
                GEN_AI_OPERATION_NAME: "execute_tool",
                GEN_AI_TOOL_NAME: call.name,
                GEN_AI_TOOL_CALL_ID: call.id,
                GEN_AI_TOOL_TYPE: "function",
            },
        )
        if self.owner.include_content:
            span.set_attribute(GEN_AI_TOOL_CALL_ARGUMENTS, call.arguments)
        return _Current(span, self.context)  # the tool's own spans nest under its call

    def tool_ended(
        self, token: _Current, result: ToolResult | None, error: BaseException | None
    ) -> None:
        span = token.span
        if error is not None:  # cancelled, or raised (raise_errors=True)
            _failed(span, error, self.owner.include_content)
        elif result is not None and not result.ok:
            kind = "denied" if result.denied else "tool_error"
            span.set_attribute(ERROR_TYPE, kind)
            # A tool's error text often quotes its arguments: content, like them.
            span.set_status(
                Status(StatusCode.ERROR, result.error if self.owner.include_content else kind)
            )
        if result is not None and self.owner.include_content:
            span.set_attribute(GEN_AI_TOOL_CALL_RESULT, result.content)
        token.end()

    def run_ended(self, result: RunResult[Any] | None, error: BaseException | None) -> None:
        if result is not None:
            usage = result.usage
            self.span.set_attributes(
                {
                    GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
                    GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
                    **_cost_attributes(usage),
                }
            )
        if error is not None:
            _failed(self.span, error, self.owner.include_content)
        self.span.end()
        otel_context.detach(self._current)


def _model_attributes(model: Any, model_name: str) -> dict[str, Any]:
    info = model_info(model)
    provider = info.provider or "openai"
    attributes: dict[str, Any] = {
        GEN_AI_PROVIDER_NAME: _PROVIDERS.get(provider, provider),
        GEN_AI_REQUEST_MODEL: model_name,
    }
    base_url = info.base_url
    if base_url is not None:
        parts = urlsplit(base_url)  # the host and port only: never a userinfo or a query
        if parts.hostname:
            attributes[SERVER_ADDRESS] = parts.hostname
            attributes[SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return attributes


def _settings(settings: ModelSettings) -> dict[str, Any]:
    found = {
        attribute: getattr(settings, name)
        for name, attribute in _SETTING_ATTRIBUTES.items()
        if getattr(settings, name) is not None
    }
    if settings.stop is not None:
        stop = [settings.stop] if isinstance(settings.stop, str) else list(settings.stop)
        found[GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    return found


def _response_attributes(completion: Completion) -> dict[str, Any]:
    found = {
        GEN_AI_RESPONSE_ID: completion.id,
        GEN_AI_RESPONSE_MODEL: completion.model,
        GEN_AI_RESPONSE_FINISH_REASONS: tuple(c.finish_reason or "" for c in completion.choices),
        GEN_AI_USAGE_INPUT_TOKENS: completion.usage.prompt_tokens,
        GEN_AI_USAGE_OUTPUT_TOKENS: completion.usage.completion_tokens,
    }
    if completion.served_by is not None:  # which model of a FallbackModel answered
        found[AGENTKIT_SERVED_BY] = completion.served_by
    found.update(_cost_attributes(completion.usage))
    if completion.request_id is not None:
        found[AGENTKIT_PROVIDER_REQUEST_ID] = completion.request_id
    return found


def _cost_attributes(usage: Usage) -> dict[str, Any]:
    if usage.cost is None:
        return {}
    return {AGENTKIT_COST_USD: float(usage.cost), AGENTKIT_COST_SOURCE: usage.cost_source}


def _failed(span: Span, error: BaseException, content: bool) -> None:
    """Mark `span` failed with `error`: its type as `error.type`, and a status.

    The status is the error's text with content, or only its type and HTTP status without
    (an error's text may quote the prompt, the arguments or a path).
    """
    name = type(error).__name__
    span.set_attribute(ERROR_TYPE, name)
    status = getattr(error, "status_code", None)
    said = f"{name}: {error}" if content else name + (f" (HTTP {status})" if status else "")
    span.set_status(Status(StatusCode.ERROR, said[:500]))
