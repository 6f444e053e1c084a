"""Layer 5 (edges): a recorded timeline (`run(trace_to=...)`) drawn as one HTML page.

The page is self-contained: styles, script and data inline, nothing fetched, so it opens from
a file with no network. Each run gets a time axis; each model request is a bar (its streaming
part darker, retries marked), each tool call a bar of its own row, so calls that ran at the
same time, or started while the answer was still streaming, line up visibly. Failures are
red, denials orange. Clicking a bar shows its messages, arguments or result.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class _Bar:
    kind: str
    label: str
    start: float
    end: float | None = None
    state: str = "ok"
    streaming: float | None = None
    marks: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    header: dict[str, Any]
    requests: dict[int, _Bar] = field(default_factory=dict)
    tools: dict[str, _Bar] = field(default_factory=dict)
    end: float = 0.0
    footer: dict[str, Any] = field(default_factory=dict)
    left_out: int = 0
    """Requests and tool calls past `MAX_BARS`: counted, not kept."""


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
    details: list[dict[str, Any]] = []
    sections = [_section(run, details) for run in runs.values()]
    # `<` written as \u003c: recorded text can never close the script or open a comment
    # (`<!--<script>` in a message used to stop the whole viewer).
    data = json.dumps(details, default=str).replace("<", "\\u003c").replace(">", "\\u003e")
    body = "\n".join(sections) or "<p>No runs in this file.</p>"
    return _PAGE.format(title=html.escape(title), body=body, data=data), len(runs)


def _runs(events: Iterable[dict[str, Any]]) -> dict[str, _Run]:
    runs: dict[str, _Run] = {}
    for event in events:
        key, kind, t = str(event.get("run", "")), event["event"], float(event.get("t", 0.0))
        if kind == "run_started" or key not in runs:
            runs.setdefault(key, _Run(header=event if kind == "run_started" else {}))
        run = runs[key]
        run.end = max(run.end, t)
        _apply(run, kind, t, event)
    return runs


def _apply(run: _Run, kind: str, t: float, event: dict[str, Any]) -> None:
    number = int(event.get("request", 0))
    if kind in ("request_started", "tool_started") and _full(run, kind):
        run.left_out += 1
    elif kind == "request_started":
        run.requests[number] = _Bar("request", f"request {number}", t)
        # Each message is recorded once: a request lists those new since the earlier ones.
        earlier = event.get("from", 0)
        if isinstance(earlier, int) and earlier:
            run.requests[number].details["earlier_messages"] = earlier
        run.requests[number].details["messages"] = _bounded(event.get("messages"))
    elif kind == "request_streaming" and number in run.requests:
        run.requests[number].streaming = t
    elif kind == "request_retried" and number in run.requests:
        run.requests[number].marks.append(t)
        run.requests[number].details.setdefault("retries", []).append(event.get("error"))
    elif kind == "request_ended" and number in run.requests:
        bar = run.requests[number]
        bar.end, bar.state = t, "ok" if event.get("ok") else "failed"
        usage = event.get("usage") or {}
        if usage:
            bar.label += (
                f" · {usage.get('prompt_tokens', 0)}→{usage.get('completion_tokens', 0)} tok"
            )
        bar.details.update(response=event.get("response"), error=event.get("error"), usage=usage)
    elif kind == "tool_started":
        call = str(event.get("call"))
        run.tools[call] = _Bar("tool", str(event.get("name")), t)
        run.tools[call].details["arguments"] = _bounded(event.get("arguments"))
    elif kind == "tool_ended" and str(event.get("call")) in run.tools:
        bar = run.tools[str(event.get("call"))]
        bar.end = t
        bar.state = "denied" if event.get("denied") else ("ok" if event.get("ok") else "failed")
        bar.details.update(
            result=_bounded(event.get("content")), error=_bounded(event.get("error"))
        )
    elif kind == "run_ended":
        run.footer = event


def _section(run: _Run, details: list[dict[str, Any]]) -> str:
    span = (run.end or 1e-6) * 1.03  # a little room after the last bar
    header = run.header
    title = (
        f"{html.escape(str(header.get('agent', 'run')))} · "
        f"{html.escape(str(header.get('model', '')))} · {run.end * 1000:.0f} ms"
        + (" · streamed" if header.get("stream") else "")
    )
    rows = [_row("model", [*run.requests.values()], span, details)]
    rows += [_row(bar.label, [bar], span, details) for bar in run.tools.values()]
    if run.left_out:
        rows.append(f'<p class="more">{run.left_out} more requests and tool calls, not drawn</p>')
    failed = "" if run.footer.get("ok", True) else f" · failed: {run.footer.get('error')}"
    return (
        f'<section class="run"><h2>{title}{html.escape(failed)}</h2>'
        f'<div class="axis"><span>0 ms</span><span>{span * 1000:.0f} ms</span></div>'
        + "".join(rows)
        + "</section>"
    )


def _row(name: str, bars: list[_Bar], span: float, details: list[dict[str, Any]]) -> str:
    drawn = []
    for bar in bars:
        end = bar.end if bar.end is not None else span
        left, width = 100 * bar.start / span, max(100 * (end - bar.start) / span, 0.4)
        details.append({"title": bar.label, **bar.details})
        inner = ""
        if bar.streaming is not None and end > bar.start:
            offset = 100 * (bar.streaming - bar.start) / (end - bar.start)
            inner += f'<span class="streaming" style="left:{offset:.2f}%"></span>'
        for mark in bar.marks:
            offset = 100 * (mark - bar.start) / max(end - bar.start, 1e-9)
            inner += f'<span class="retry" style="left:{offset:.2f}%" title="retry"></span>'
        drawn.append(
            f'<div class="bar {bar.kind} {bar.state}" data-detail="{len(details) - 1}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%" '
            f'title="{html.escape(bar.label)}: {(end - bar.start) * 1000:.1f} ms">{inner}'
            f"<em>{html.escape(bar.label)}</em></div>"
        )
    return (
        f'<div class="row"><div class="name">{html.escape(name)}</div>'
        f'<div class="lane">{"".join(drawn)}</div></div>'
    )


def _full(run: _Run, kind: str) -> bool:
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


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; color: #222; }}
h2 {{ font-size: 14px; margin: 20px 0 6px; }}
.axis {{ display: flex; justify-content: space-between; margin-left: 160px; color: #888; }}
.row {{ display: flex; align-items: center; height: 24px; border-bottom: 1px solid #eee; }}
.name {{ width: 160px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.lane {{ position: relative; flex: 1; height: 18px; background: #fafafa; }}
.bar {{ position: absolute; top: 2px; height: 14px; border-radius: 3px; cursor: pointer;
  overflow: hidden; white-space: nowrap; }}
.bar em {{ font-style: normal; font-size: 11px; padding-left: 3px; position: relative; }}
.request {{ background: #9ec5fe; }}
.tool {{ background: #a3cfbb; }}
.failed {{ background: #f1aeb5; }}
.denied {{ background: #ffda6a; }}
.streaming {{ position: absolute; top: 0; bottom: 0; right: 0; background: #6ea8fe; }}
.retry {{ position: absolute; top: 0; bottom: 0; width: 2px; background: #dc3545; }}
pre {{ background: #f6f8fa; padding: 8px; white-space: pre-wrap; max-height: 50vh;
  overflow: auto; }}
</style></head>
<body><h1>{title}</h1>
<p>Bars: model requests (darker: streaming; red marks: retries) and tool calls
(green; red: failed; orange: denied). Click a bar for its messages.</p>
{body}
<h2>Details</h2><pre id="details">Click a bar.</pre>
<script type="application/json" id="data">{data}</script>
<script>
const details = JSON.parse(document.getElementById("data").textContent);
for (const bar of document.querySelectorAll(".bar")) {{
  bar.addEventListener("click", () => {{
    document.getElementById("details").textContent =
      JSON.stringify(details[Number(bar.dataset.detail)], null, 2);
  }});
}}
</script></body></html>
"""
