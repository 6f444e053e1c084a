"""The same two-turn tool loop written for each framework, against the same MockChatServer.

The server (scenario "tools") answers the first request with tool calls of the request's tool
and the second (after the tool results) with text. Each runner returns one coroutine function
that performs one complete loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Runner = Callable[[], Awaitable[Any]]
TOOL_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
HEADERS = {"Authorization": "Bearer mock-key", "Content-Type": "application/json"}


TOOL_SPANS: list[tuple[float, float]] = []
"""(start, end) of every tool call with a delay, in this process: the tool phase, seen from
inside the tools, is the same measurement for every framework."""


def tool_body(delay: float) -> Callable[[str], Awaitable[str]]:
    async def get_weather(city: str) -> str:
        """Get the weather for a city."""
        if delay:
            started = time.perf_counter()
            await asyncio.sleep(delay)
            TOOL_SPANS.append((started, time.perf_counter()))
        return f"sunny in {city}"

    return get_weather


async def _raw_loop(post: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], tool: Any) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather?"}]
    while True:
        body = {"model": "mock-model", "messages": messages, "tools": [TOOL_SCHEMA]}
        message = (await post(body))["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        if not calls:
            return str(message["content"])
        messages.append({"role": "assistant", "tool_calls": calls})
        results = await asyncio.gather(
            *(tool(**json.loads(c["function"]["arguments"])) for c in calls)
        )
        messages += [
            {"role": "tool", "tool_call_id": c["id"], "content": r}
            for c, r in zip(calls, results, strict=True)
        ]


def raw_httpx(url: str, delay: float) -> Runner:
    import httpx

    client = httpx.AsyncClient(timeout=60)
    tool = tool_body(delay)

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"{url}/chat/completions", json=body, headers=HEADERS)
        return response.json()  # type: ignore[no-any-return]

    return lambda: _raw_loop(post, tool)


def raw_aiohttp(url: str, delay: float) -> Runner:
    import aiohttp

    sessions: list[aiohttp.ClientSession] = []
    tool = tool_body(delay)

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        if not sessions:
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        async with sessions[0].post(f"{url}/chat/completions", json=body, headers=HEADERS) as r:
            return await r.json()  # type: ignore[no-any-return]

    return lambda: _raw_loop(post, tool)


def openai_sdk(url: str, delay: float) -> Runner:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="mock-key", max_retries=0)
    tool = tool_body(delay)

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        completion = await client.chat.completions.create(**body)
        return completion.model_dump()

    return lambda: _raw_loop(post, tool)


def openai_agents(url: str, delay: float) -> Runner:
    from agents import Runner as AgentsRunner

    agent = _agents_sdk_agent(url, delay)

    async def run() -> Any:
        return (await AgentsRunner.run(agent, "Weather?")).final_output

    return run


def pydantic_ai(url: str, delay: float) -> Runner:
    agent = _pydantic_ai_agent(url, delay)

    async def run() -> Any:
        return (await agent.run("Weather?")).output

    return run


def agentkit_agent(url: str, delay: float) -> Runner:
    agent = _agentkit_agent(url, delay)

    async def run() -> Any:
        return (await agent.run("Weather?")).output

    return run


def _agents_sdk_agent(url: str, delay: float) -> Any:
    import openai
    from agents import Agent, OpenAIChatCompletionsModel, function_tool, set_tracing_disabled

    set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=url, api_key="mock-key", max_retries=0)
    model = OpenAIChatCompletionsModel(model="mock-model", openai_client=client)
    return Agent(
        name="bench", instructions="Be brief.", tools=[function_tool(tool_body(delay))], model=model
    )


def _pydantic_ai_agent(url: str, delay: float) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("mock-model", provider=OpenAIProvider(base_url=url, api_key="mock-key"))
    return Agent(model, instructions="Be brief.", tools=[tool_body(delay)])


def _agentkit_agent(url: str, delay: float, dialect: str = "chat") -> Any:
    from agentkit import Agent, ChatModel, tool
    from agentkit.models import ResponsesModel

    kind = ResponsesModel if dialect == "responses" else ChatModel
    model = kind(base_url=url, api_key="mock-key", model="mock-model")
    return Agent(model, instructions="Be brief.", tools=[tool(tool_body(delay))])


def agentkit_responses(url: str, delay: float) -> Runner:
    """The same agentkit loop on the Responses dialect (`/v1/responses`)."""
    agent = _agentkit_agent(url, delay, "responses")

    async def run() -> Any:
        return (await agent.run("Weather?")).output

    return run


def agentkit_billed(url: str, delay: float) -> Runner:
    """The agentkit loop on a model the server reports charges for (cost read per request)."""
    return _agentkit_named(url, delay, "mock-model-billed")


def agentkit_unbilled(url: str, delay: float) -> Runner:
    """The same loop on a model the server reports nothing for (cost unknown)."""
    return _agentkit_named(url, delay, "mock-model")


def _agentkit_named(url: str, delay: float, name: str) -> Runner:
    from agentkit import Agent, ChatModel, tool

    model = ChatModel(base_url=url, api_key="mock-key", model=name)
    agent = Agent(model, instructions="Be brief.", tools=[tool(tool_body(delay))])

    async def run() -> Any:
        return (await agent.run("Weather?")).output

    return run


def agentkit_fallback(url: str, delay: float) -> Runner:
    """The same agentkit loop through a `FallbackModel` whose primary answers every time."""
    from agentkit import Agent, ChatModel, tool
    from agentkit.models import FallbackModel

    chain = FallbackModel(
        ChatModel(base_url=url, api_key="mock-key", model="mock-model"),
        ChatModel(base_url=url, api_key="mock-key", model="mock-model-2"),
    )
    agent = Agent(chain, instructions="Be brief.", tools=[tool(tool_body(delay))])

    async def run() -> Any:
        return (await agent.run("Weather?")).output

    return run


def agentkit_instrumented(url: str, delay: float) -> Runner:
    """The agentkit loop with OpenTelemetry on: the SDK's providers, exporting nowhere."""
    import agentkit

    agentkit.instrument(*sdk_providers())
    return agentkit_agent(url, delay)


def sdk_providers() -> tuple[Any, Any]:
    """OpenTelemetry SDK providers as users run them (#26): spans through a
    `BatchSpanProcessor`, metrics through a `PeriodicExportingMetricReader` (every second),
    both to exporters that receive everything and keep nothing (no network, no memory growth)
    so export and aggregation run as they would against a collector."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Spans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class Metrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **_: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **_: Any) -> None:
            return None

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Spans()))
    reader = PeriodicExportingMetricReader(Metrics(), export_interval_millis=1000)
    return tracer_provider, MeterProvider(metric_readers=[reader])


LOOPS: dict[str, Callable[[str, float], Runner]] = {
    "raw-httpx": raw_httpx,
    "raw-aiohttp": raw_aiohttp,
    "openai-sdk": openai_sdk,
    "openai-agents": openai_agents,
    "pydantic-ai": pydantic_ai,
    "agentkit": agentkit_agent,
    "agentkit-responses": agentkit_responses,
    "agentkit-fallback": agentkit_fallback,
    "agentkit-billed": agentkit_billed,
    "agentkit-unbilled": agentkit_unbilled,
}


def sdk_floor(url: str, delay: float) -> Runner:
    """The uninstrumented agentkit loop plus, by hand, exactly the SDK calls the GenAI
    conventions ask of it (4 spans, each current while it lasts, 6 histogram records made
    while the request's span is current, the same attributes): what any instrumentation must
    cost at least, if its own code were free."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
    from opentelemetry.trace import SpanKind

    tracer_provider, meter_provider = sdk_providers()
    tracer = tracer_provider.get_tracer("agentkit")
    meter = meter_provider.get_meter("agentkit")
    tokens = gen_ai_metrics.create_gen_ai_client_token_usage(meter)
    duration = gen_ai_metrics.create_gen_ai_client_operation_duration(meter)
    common = {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "mock-model",
        "server.address": "127.0.0.1",
        "server.port": 8000,
    }
    chat = {"gen_ai.operation.name": "chat", **common}
    timed = {**chat, "gen_ai.response.model": "mock-model"}
    tokens_in = {**timed, "gen_ai.token.type": "input"}
    tokens_out = {**timed, "gen_ai.token.type": "output"}
    tool_attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": "function",
    }
    response = {
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.model": "mock-model",
        "gen_ai.response.finish_reasons": ("tool_calls",),
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 10,
    }
    loop = agentkit_agent(url, delay)

    def spans() -> None:
        run = tracer.start_span(
            "invoke_agent agent",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "agent",
                **common,
            },
        )
        context = trace.set_span_in_context(run)
        outer = otel_context.attach(context)  # current, as any instrumentation's spans must
        for first in (True, False):  # be for the user's and the HTTP client's spans to nest
            request = tracer.start_span("chat mock-model", context, SpanKind.CLIENT, chat)
            inner = otel_context.attach(trace.set_span_in_context(request, context))
            request.set_attributes(response)
            tokens.record(20, tokens_in)  # while the request's span is current: the SDK
            tokens.record(10, tokens_out)  # offers each record as an exemplar of that trace
            duration.record(0.001, timed)
            request.end()
            otel_context.detach(inner)
            if first:
                called = tracer.start_span(
                    "execute_tool get_weather", context, None, tool_attributes
                )
                inner = otel_context.attach(trace.set_span_in_context(called, context))
                called.end()
                otel_context.detach(inner)
        run.set_attributes({"gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 20})
        run.end()
        otel_context.detach(outer)

    async def run() -> Any:
        output = await loop()
        spans()
        return output

    return run


def pydantic_ai_instrumented(url: str, delay: float) -> Runner:
    """The pydantic-ai loop with its OpenTelemetry instrumentation on, the same providers,
    content left out as agentkit's default does."""
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    tracer_provider, meter_provider = sdk_providers()
    settings = InstrumentationSettings(
        tracer_provider=tracer_provider, meter_provider=meter_provider, include_content=False
    )
    Agent.instrument_all(settings)
    return pydantic_ai(url, delay)


INSTRUMENTED_LOOPS: dict[str, Callable[[str, float], Runner]] = {
    "agentkit-off": agentkit_agent,
    "sdk-floor": sdk_floor,
    "agentkit": agentkit_instrumented,
    "pydantic-ai-off": pydantic_ai,
    "pydantic-ai": pydantic_ai_instrumented,
}


# --- the same loop, streamed -----------------------------------------------------------------


def openai_sdk_streamed(url: str, delay: float, one_by_one: bool = False) -> Runner:
    """The openai SDK with stream=True: accumulate text and tool-call deltas by hand."""
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="mock-key", max_retries=0)
    tool = tool_body(delay)

    async def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather?"}]
        while True:
            body = {
                "model": "mock-model",
                "messages": messages,
                "tools": [TOOL_SCHEMA],
                "stream": True,
            }
            text, calls = "", {}
            async for chunk in await client.chat.completions.create(**body):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for delta in choice.delta.tool_calls or []:
                        call = calls.setdefault(
                            delta.index, {"id": "", "name": "", "arguments": ""}
                        )
                        call["id"] = delta.id or call["id"]
                        if delta.function:
                            call["name"] = delta.function.name or call["name"]
                            call["arguments"] += delta.function.arguments or ""
            if not calls:
                return text
            ordered = [calls[i] for i in sorted(calls)]
            messages.append({"role": "assistant", "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in ordered
            ]})  # fmt: skip
            if one_by_one:
                results = [await tool(**json.loads(c["arguments"])) for c in ordered]
            else:
                results = await asyncio.gather(
                    *(tool(**json.loads(c["arguments"])) for c in ordered)
                )
            messages += [
                {"role": "tool", "tool_call_id": c["id"], "content": r}
                for c, r in zip(ordered, results, strict=True)
            ]

    return run


def raw_aiohttp_streamed(url: str, delay: float) -> Runner:
    """The floor of a streamed loop: aiohttp reading SSE lines, deltas accumulated by hand."""
    import aiohttp

    sessions: list[aiohttp.ClientSession] = []
    tool = tool_body(delay)

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        if not sessions:
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        text, calls = "", {}
        async with sessions[0].post(
            f"{url}/chat/completions", json={**body, "stream": True}, headers=HEADERS
        ) as response:
            async for line in response.content:
                if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                    continue
                for choice in json.loads(line[6:])["choices"]:
                    delta = choice["delta"]
                    text += delta.get("content") or ""
                    for part in delta.get("tool_calls") or []:
                        call = calls.setdefault(part["index"], {"id": "", "arguments": ""})
                        call["id"] = part.get("id") or call["id"]
                        function = part.get("function") or {}
                        call["name"] = function.get("name") or call.get("name", "")
                        call["arguments"] += function.get("arguments") or ""
        tool_calls = [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ]  # fmt: skip
        message = {"role": "assistant", "content": text, "tool_calls": tool_calls}
        return {"choices": [{"message": message}]}

    return lambda: _raw_loop(post, tool)


def openai_sdk_streamed_sequential(url: str, delay: float) -> Runner:
    """The textbook loop: wait for the whole response, then run its calls one by one."""
    return openai_sdk_streamed(url, delay, one_by_one=True)


def openai_agents_streamed(url: str, delay: float) -> Runner:
    from agents import Runner as AgentsRunner

    agent = _agents_sdk_agent(url, delay)

    async def run() -> Any:
        result = AgentsRunner.run_streamed(agent, "Weather?")
        async for _ in result.stream_events():
            pass
        return result.final_output

    return run


def pydantic_ai_streamed(url: str, delay: float) -> Runner:
    agent = _pydantic_ai_agent(url, delay)

    async def run() -> Any:
        async with agent.run_stream("Weather?") as result:
            async for _ in result.stream_text():
                pass
            return await result.get_output()

    return run


def agentkit_streamed(url: str, delay: float) -> Runner:
    agent = _agentkit_agent(url, delay)

    async def run() -> Any:
        async with agent.stream("Weather?") as streamed:
            async for _ in streamed:
                pass
        assert streamed.result is not None
        return streamed.result.output

    return run


STREAMED_LOOPS: dict[str, Callable[[str, float], Runner]] = {
    "raw-aiohttp": raw_aiohttp_streamed,
    "openai-sdk": openai_sdk_streamed,
    "openai-sdk-one-by-one": openai_sdk_streamed_sequential,
    "openai-agents": openai_agents_streamed,
    "pydantic-ai": pydantic_ai_streamed,
    "agentkit": agentkit_streamed,
}
