"""Ready-made responders: how a MockChatServer answers when no script is given."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable

from ._script import Fault, Reply, ScriptedCall
from ._server import RecordedRequest, Responder

__all__ = ["SCENARIOS", "echo", "flaky", "tool_loop"]


def echo(request: RecordedRequest) -> Reply:
    """Answer with the text of the last user message."""
    users = [m for m in request.messages if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    return Reply.text(content if isinstance(content, str) else json.dumps(content))


def flaky(
    responder: Responder, rate: float, *, fault: Fault | None = None, seed: int = 0
) -> Responder:
    """`responder`, except that a `rate` share of requests (0 to 1) get `fault` (a 503).

    Which requests fail is drawn from a generator seeded with `seed`, so a test or a
    benchmark sees the same failures on every run. Several servers with different rates
    (one dead, one flaky, one healthy) make a fallback chain's test bed.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"rate is a share of requests from 0 to 1, not {rate}")
    failure = fault or Fault.http(503, message="flaky: scripted overload")
    draws, lock = random.Random(seed), threading.Lock()

    def respond(request: RecordedRequest) -> Reply | Fault:
        with lock:
            fails = draws.random() < rate
        return failure if fails else responder(request)

    return respond


def tool_loop(
    calls: int = 2, final: str = "Done.", *, chunk_size: int = 16, chunk_delay: float = 0.0
) -> Responder:
    """A two-turn agent conversation: call every tool of the request, then answer.

    The first turn (last message not a tool result) calls the request's tools in turn,
    `calls` calls in all, with arguments made from each parameter's schema: its `examples`,
    `default`, `enum` or `const` where it has one, else an example its description gives
    (`e.g. "Paris"`, `e.g., 'Europe/London'`), else a plain value of its type, so a real
    tool (an MCP server's) gets arguments it accepts.
    Once tool results come back, it answers `final` followed by what the tools returned. When
    streamed, arguments come in `chunk_size` pieces `chunk_delay` seconds apart.
    """

    def respond(request: RecordedRequest) -> Reply:
        messages = request.messages
        if messages and messages[-1].get("role") == "tool":
            return Reply.text(_with_results(final, messages))
        tools = request.body.get("tools") if isinstance(request.body, dict) else None
        if not tools:
            return Reply.text(final)
        # Chat Completions nests a tool under "function"; Responses has it flat.
        functions = [each.get("function", each) for each in tools]
        scripted = [
            ScriptedCall(
                name=functions[i % len(functions)]["name"],
                arguments=json.dumps(_sample_arguments(functions[i % len(functions)])),
            )
            for i in range(calls)
        ]
        return Reply.tool_calls(*scripted, chunk_size=chunk_size, chunk_delay=chunk_delay)

    return respond


def _sample_arguments(function: dict[str, object]) -> dict[str, object]:
    parameters = function.get("parameters")
    properties = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
    samples: dict[str, object] = {}
    for name, schema in properties.items():
        given = _given(schema)
        if given is not _NOTHING:
            samples[name] = given
            continue
        kinds = schema.get("type") if isinstance(schema, dict) else None
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "integer" in kinds or "number" in kinds:
            samples[name] = 1
        elif "string" in kinds and "null" in kinds and not _example(schema):
            samples[name] = None
        elif "string" in kinds:
            samples[name] = _example(schema) or "x"
        elif "boolean" in kinds:
            samples[name] = True
        elif "null" in kinds:
            samples[name] = None
    return samples


_EXAMPLE = re.compile(r"""(?:e\.g\.,?|[Ff]or example,?)\s*(["'])([^"']+)\1""")
_NOTHING = object()


def _given(schema: object) -> object:
    """A value the schema itself offers: an example, its default, an allowed or fixed value."""
    if not isinstance(schema, dict):
        return _NOTHING
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    for key in ("default", "const"):
        if schema.get(key) is not None:
            return schema[key]
    allowed = schema.get("enum")
    if isinstance(allowed, list) and allowed:
        return allowed[0]
    return _NOTHING


def _example(schema: object) -> str | None:
    description = schema.get("description") if isinstance(schema, dict) else None
    found = _EXAMPLE.search(description) if isinstance(description, str) else None
    return found.group(2) if found else None


def _with_results(final: str, messages: list[dict[str, object]]) -> str:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(str(message.get("content", "")))
    return f"{final} The tools answered: {'; '.join(reversed(results))}."


SCENARIOS: dict[str, Callable[[int, int, float], Responder]] = {
    "echo": lambda calls, size, delay: echo,
    "tools": lambda calls, size, delay: tool_loop(calls, chunk_size=size, chunk_delay=delay),
}
