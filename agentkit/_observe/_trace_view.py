"""Layer 5 (edges): a recorded timeline (`run(trace_to=...)`) read, and drawn as one page.

The page is self-contained: styles, script and data inline, nothing fetched, so it opens from
a file with no network. Each run gets a time axis; each model request is a bar (its streaming
part darker, retries marked), each tool call a bar of its own row, so calls that ran at the
same time, or started while the answer was still streaming, line up visibly. Failures are
red, denials orange. Clicking a bar shows its messages, arguments or result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ._trace_page import Bar, DrawnRun, page

__all__ = ["MAX_BARS", "MAX_DETAIL", "iter_events", "read_events", "render", "render_runs"]

MAX_BARS = 2_000
"""Requests, and tool calls, drawn per run; a page with more would not load."""
MAX_DETAIL = 4_000
"""Characters of each recorded text kept in the page's details."""


def read_events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The events of a timeline file, as a list (see `iter_events`)."""
    return list(iter_events(lines))


def iter_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The events of a timeline file, one at a time; blank lines skipped.

    Raises:
        ValueError: A line is not a JSON object with an `event` (its number is given).
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number} is not JSON; is this a trace file?") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ValueError(f"line {number} is not a timeline event (no 'event' field)")
        if not isinstance(event.get("t", 0.0), int | float) or isinstance(event.get("t"), bool):
            raise ValueError(f"line {number}: its time 't' is not a number")
        yield event


def render(events: Iterable[dict[str, Any]], title: str = "agentkit run") -> str:
    """The HTML page for `events` (one or more runs)."""
    return render_runs(events, title)[0]


def render_runs(events: Iterable[dict[str, Any]], title: str) -> tuple[str, int]:
    """The HTML page for `events`, and how many runs it shows.

    Events are read one at a time, and what is drawn is bounded whatever the file's size: at
    most `MAX_BARS` bars a run (the page says how many more there were) and `MAX_DETAIL`
    characters of each recorded text.
    """
    runs = _runs(events)
    return page(list(runs.values()), title), len(runs)


def _runs(events: Iterable[dict[str, Any]]) -> dict[str, DrawnRun]:
    runs: dict[str, DrawnRun] = {}
    for event in events:
        key, kind, t = str(event.get("run", "")), event["event"], float(event.get("t", 0.0))
        if kind == "run_started" or key not in runs:
            runs.setdefault(key, DrawnRun(header=event if kind == "run_started" else {}))
        run = runs[key]
        run.end = max(run.end, t)
        _apply(run, kind, t, event)
    return runs


def _apply(run: DrawnRun, kind: str, t: float, event: dict[str, Any]) -> None:
    number = int(event.get("request", 0))
    if kind in ("request_started", "tool_started") and _full(run, kind):
        run.left_out += 1
    elif kind == "request_started":
        _request_started(run, number, t, event)
    elif kind == "request_streaming" and number in run.requests:
        run.requests[number].streaming = t
    elif kind == "request_retried" and number in run.requests:
        run.requests[number].marks.append(t)
        run.requests[number].details.setdefault("retries", []).append(event.get("error"))
    elif kind == "request_ended" and number in run.requests:
        _request_ended(run, run.requests[number], t, event)
    elif kind == "tool_started":
        call = str(event.get("call"))
        arguments = _bounded(event.get("arguments"))
        run.tools[call] = Bar("tool", str(event.get("name")), t, note=_brief(arguments))
        run.tools[call].details["arguments"] = _readable(arguments)
    elif kind == "tool_ended" and str(event.get("call")) in run.tools:
        bar = run.tools[str(event.get("call"))]
        bar.end = t
        bar.state = "denied" if event.get("denied") else ("ok" if event.get("ok") else "failed")
        result, error = _bounded(event.get("content")), _bounded(event.get("error"))
        bar.details.update(result=_readable(result), error=error)
        bar.outcome = "→ " + _brief(error if bar.state != "ok" and error else result)
    elif kind == "run_ended":
        run.footer = event


def _request_started(run: DrawnRun, number: int, t: float, event: dict[str, Any]) -> None:
    bar = run.requests[number] = Bar("request", f"request {number}", t)
    # Each message is recorded once: a request lists those new since the earlier ones.
    earlier = event.get("from", 0)
    earlier = earlier if isinstance(earlier, int) and earlier >= 0 else 0
    new = event.get("messages")
    new = [_bounded(m) for m in new] if isinstance(new, list) else []
    run.sent = [*run.sent[:earlier], *new]
    run.answer = None
    if earlier:
        bar.details["earlier_messages"] = earlier
    bar.details["messages"] = _readable(new)


def _request_ended(run: DrawnRun, bar: Bar, t: float, event: dict[str, Any]) -> None:
    bar.end, bar.state = t, "ok" if event.get("ok") else "failed"
    given = event.get("usage")
    usage: dict[str, Any] = given if isinstance(given, dict) else {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        run.tokens = [run.tokens[0] + prompt, run.tokens[1] + completion]
        if usage:
            bar.label += f" · {prompt}→{completion} tok"
    served = event.get("served_by")
    if isinstance(served, str):  # a fallback chain's member answered
        bar.label += f" · {served[:80]}"
    response = _bounded(event.get("response"))
    run.answer = response if isinstance(response, dict) else None
    bar.details.update(response=_readable(response), error=event.get("error"), usage=usage)


def _readable(value: Any, depth: int = 0) -> Any:
    """`value` with JSON held in strings (tool arguments, results) read as JSON.

    The details then show it once, pretty, instead of escaped inside a string.
    """
    if depth > 12:
        return value
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _readable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v, depth + 1) for v in value]
    return value


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= 60 else text[:59] + "…"


def _full(run: DrawnRun, kind: str) -> bool:
    bars = run.requests if kind == "request_started" else run.tools
    return len(bars) >= MAX_BARS


def _bounded(value: Any, depth: int = 0) -> Any:
    """`value` with every text cut to `MAX_DETAIL` characters (a page must stay loadable)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DETAIL else f"{value[:MAX_DETAIL]}… [cut]"
    if depth > 12:
        return "…"
    if isinstance(value, dict):
        return {str(k): _bounded(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v, depth + 1) for v in value[:200]]
    return value
