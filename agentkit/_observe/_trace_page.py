"""Layer 5 (edges): the timeline page itself: runs drawn as bars, a summary, the conversation.

One self-contained HTML file: styles, script and data inline, nothing fetched. Each run has a
summary line (duration, requests, tokens, tool calls, failures, denials, retries, cost), a
time axis with ticks, the model's requests on one row and each tool call on a row of its own
(its arguments beside its name, its result after the bar, its duration on it), and the
conversation beside it. Several runs: a picker, and `[` / `]` to switch. Keys: `j` / `k` (or
the arrows) move from bar to bar and show its details as readable JSON. Every recorded text
is escaped where it is drawn, and the embedded data writes `<` and `>` as escapes.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bar", "DrawnRun", "page"]


@dataclass
class Bar:
    """A request or a tool call, as drawn."""

    kind: str
    label: str
    start: float
    end: float | None = None
    state: str = "ok"
    streaming: float | None = None
    marks: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    """A tool call's arguments, short (drawn beside its name)."""
    outcome: str = ""
    """A tool call's result or error, short (drawn after its bar)."""


@dataclass
class DrawnRun:
    """One run: its bars, what it sent and received, and its totals."""

    header: dict[str, Any]
    requests: dict[int, Bar] = field(default_factory=dict)
    tools: dict[str, Bar] = field(default_factory=dict)
    end: float = 0.0
    footer: dict[str, Any] = field(default_factory=dict)
    left_out: int = 0
    """Requests and tool calls past the page's limit: counted, not kept."""
    sent: list[Any] = field(default_factory=list)
    """The messages of the latest request (each recorded once; rebuilt here)."""
    answer: Any = None
    """The latest response."""
    tokens: list[int] = field(default_factory=lambda: [0, 0])


def page(runs: list[DrawnRun], title: str) -> str:
    """The HTML page for `runs`."""
    details: list[dict[str, Any]] = []
    sections = [_section(number, run, details) for number, run in enumerate(runs)]
    # `<` and `>` as escapes: recorded text can never close the script or open a comment.
    data = json.dumps(details, default=str).replace("<", "\\u003c").replace(">", "\\u003e")
    picker = ""
    if len(runs) > 1:
        options = "".join(
            f'<option value="{n}">{n + 1}. {html.escape(_run_title(run))}</option>'
            for n, run in enumerate(runs)
        )
        picker = f'<label>Run <select id="runs">{options}</select></label> (keys [ and ])'
    body = "\n".join(sections) or "<p>No runs in this file.</p>"
    return _PAGE.format(title=html.escape(title), picker=picker, body=body, data=data)


def _run_title(run: DrawnRun) -> str:
    header = run.header
    return f"{header.get('agent', 'run')} · {header.get('model', '')} · {_ms(run.end)}"


def _section(number: int, run: DrawnRun, details: list[dict[str, Any]]) -> str:
    span = (run.end or 1e-6) * 1.03  # a little room after the last bar
    rows = [_row("model", "", [*run.requests.values()], span, details)]
    rows += [_row(bar.label, bar.note, [bar], span, details) for bar in run.tools.values()]
    if run.left_out:
        rows.append(f'<p class="more">{run.left_out} more requests and tool calls, not drawn</p>')
    failed = "" if run.footer.get("ok", True) else f" · failed: {run.footer.get('error')}"
    hidden = "" if number == 0 else " hidden"
    return (
        f'<section class="run" data-run="{number}"{hidden}>'
        f"<h2>{html.escape(_run_title(run) + failed)}</h2>"
        f'<p class="summary">{html.escape(_summary(run))}</p>'
        f'<div class="grid"><div class="timeline">{_axis(span)}{"".join(rows)}</div>'
        f'<div class="conversation"><h3>Conversation</h3>{_conversation(run)}</div></div>'
        "</section>"
    )


def _summary(run: DrawnRun) -> str:
    tools = [*run.tools.values()]
    retries = sum(len(bar.marks) for bar in run.requests.values())
    parts = [
        f"{_ms(run.end)}",
        f"{len(run.requests)} request{'' if len(run.requests) == 1 else 's'}",
        f"{run.tokens[0]}→{run.tokens[1]} tokens",
        f"{len(tools)} tool call{'' if len(tools) == 1 else 's'}",
        f"{sum(b.state == 'failed' for b in tools)} failed",
        f"{sum(b.state == 'denied' for b in tools)} denied",
        f"{retries} retr{'y' if retries == 1 else 'ies'}",
        _cost(run.footer.get("usage")),
    ]
    return " · ".join(parts)


def _cost(usage: Any) -> str:
    """The run's cost as its footer recorded it (a file's value: checked, never trusted)."""
    cost = usage.get("cost") if isinstance(usage, dict) else None
    source = usage.get("cost_source") if isinstance(usage, dict) else None
    if not isinstance(cost, str | int | float) or isinstance(cost, bool):
        return "cost unknown"
    try:
        dollars = float(cost)
    except ValueError:
        return "cost unknown"
    kind = source if source in ("reported", "estimated", "mixed") else "unknown source"
    return f"${dollars:.6g} ({kind})"


def _axis(span: float) -> str:
    step = _nice_step(span / 6)
    ticks = []
    at = 0.0
    while at <= span:
        ticks.append(f'<span class="tick" style="left:{100 * at / span:.2f}%">{_ms(at)}</span>')
        at += step
    lane = f'<div class="lane">{"".join(ticks)}</div>'
    return f'<div class="row axis"><div class="name"></div>{lane}<div class="outcome"></div></div>'


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _row(name: str, note: str, bars: list[Bar], span: float, details: list[dict[str, Any]]) -> str:
    drawn, outcome = [], ""
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
        took = _ms(end - bar.start)
        drawn.append(
            f'<div class="bar {bar.kind} {bar.state}" tabindex="0" '
            f'data-detail="{len(details) - 1}" style="left:{left:.3f}%;width:{width:.3f}%" '
            f'title="{html.escape(bar.label)}: {took}">{inner}'
            f"<em>{html.escape(bar.label)} · {took}</em></div>"
        )
        outcome = outcome or bar.outcome
    shown = html.escape(name) + (f" <small>{html.escape(note)}</small>" if note else "")
    return (
        f'<div class="row"><div class="name" title="{html.escape(name + note)}">{shown}</div>'
        f'<div class="lane">{"".join(drawn)}</div>'
        f'<div class="outcome">{html.escape(outcome)}</div></div>'
    )


def _conversation(run: DrawnRun) -> str:
    messages = [*run.sent, *([run.answer] if run.answer else [])]
    items = [_message(m) for m in messages if isinstance(m, dict)]
    return "".join(items) or "<p>(no messages recorded)</p>"


def _message(message: dict[str, Any]) -> str:
    role = str(message.get("role", "?"))
    lines = []
    content = message.get("content")
    if isinstance(content, str) and content:
        lines.append(content)
    elif isinstance(content, list):
        lines += [_part_line(p) for p in content if isinstance(p, dict)]
    given = message.get("parts")
    attached = [p for p in (given if isinstance(given, list) else []) if isinstance(p, dict)]
    lines += [_part_line(p) for p in attached]
    parts = [p for p in (content if isinstance(content, list) else []) if isinstance(p, dict)]
    parts += attached
    for call in message.get("tool_calls") or ():
        # agentkit's own records; traces written before 0.1.0.dev0's #25 hold the wire shape
        found: dict[str, Any] = call if isinstance(call, dict) else {}
        nested = found.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else found
        lines.append(f"→ {function.get('name')}({_short(str(function.get('arguments', '')))})")
    label = role if role != "tool" else f"tool {message.get('tool_call_id', '')}"
    text = "\n".join(_short(line, 600) for line in lines)
    pictures = "".join(_thumbnail(p) for p in parts)
    return (
        f'<div class="message {html.escape(role)}"><b>{html.escape(label)}</b>'
        f"<pre>{html.escape(text)}</pre>{pictures}</div>"
    )


def _part_line(part: dict[str, Any]) -> str:
    if "text" in part:
        return str(part["text"])
    return f"[{part.get('attached') or part.get('type', 'part')}]"


_PICTURE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")


def _thumbnail(part: dict[str, Any]) -> str:
    """An attached image as a thumbnail, when the file holds one.

    Checked: a raster image's base64 `data:` URL and nothing else, or no picture at all.
    """
    source = part.get("thumbnail")
    if not isinstance(source, str) or len(source) > 80_000 or not _PICTURE.fullmatch(source):
        return ""
    return f'<img class="thumb" alt="attached image" src="{html.escape(source, quote=True)}">'


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split()) if limit <= 80 else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(seconds: float) -> str:
    milliseconds = seconds * 1000
    if milliseconds == 0:
        return "0"
    if milliseconds >= 10_000:
        return f"{milliseconds / 1000:.1f} s"
    return f"{milliseconds:.0f} ms" if milliseconds >= 10 else f"{milliseconds:.1f} ms"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; color: #222; }}
h2 {{ font-size: 14px; margin: 16px 0 2px; }} h3 {{ font-size: 13px; margin: 0 0 6px; }}
.summary {{ color: #555; margin: 0 0 8px; }}
.thumb {{ max-width: 160px; max-height: 120px; display: block; margin: 4px 0; }}
.grid {{ display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }}
.row {{ display: flex; align-items: center; min-height: 24px; border-bottom: 1px solid #eee; }}
.name {{ width: 190px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.name small {{ color: #666; }}
.lane {{ position: relative; flex: 1; height: 18px; background: #fafafa; }}
.outcome {{ width: 160px; padding-left: 6px; color: #555; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }}
.axis .lane {{ background: none; border-bottom: 1px solid #bbb; }}
.tick {{ position: absolute; bottom: 0; font-size: 10px; color: #777; padding-left: 2px;
  border-left: 1px solid #bbb; }}
.bar {{ position: absolute; top: 2px; height: 14px; border-radius: 3px; cursor: pointer;
  overflow: hidden; white-space: nowrap; min-width: 3px; }}
.bar:focus {{ outline: 2px solid #0d6efd; }}
.bar em {{ font-style: normal; font-size: 11px; padding-left: 3px; position: relative; }}
.bar.request {{ background: #9ec5fe; }} .bar.tool {{ background: #a3cfbb; }}
.bar.failed {{ background: #f1aeb5; }} .bar.denied {{ background: #ffda6a; }}
.streaming {{ position: absolute; top: 0; bottom: 0; right: 0; background: #6ea8fe; }}
.retry {{ position: absolute; top: 0; bottom: 0; width: 4px; background: #dc3545; }}
.conversation {{ max-height: 60vh; overflow: auto; }}
.message {{ border-left: 3px solid #ccc; padding-left: 6px; margin-bottom: 6px; }}
.message.user {{ border-color: #0d6efd; }} .message.assistant {{ border-color: #198754; }}
.message.tool {{ border-color: #a3cfbb; }}
.message pre {{ margin: 2px 0; white-space: pre-wrap; font: 12px ui-monospace, monospace; }}
pre#details {{ background: #f6f8fa; padding: 8px; white-space: pre-wrap; max-height: 50vh;
  overflow: auto; }}
</style></head>
<body><h1>{title}</h1>{picker}
<p>Bars: model requests (darker: streaming; red marks: retries) and tool calls
(green; red: failed; orange: denied). Click a bar, or move with j / k, for its details.</p>
{body}
<h2>Details</h2><pre id="details">Click a bar.</pre>
<script type="application/json" id="data">{data}</script>
<script>
const details = JSON.parse(document.getElementById("data").textContent);
const shown = document.getElementById("details");
function show(bar) {{
  bar.focus();
  shown.textContent = JSON.stringify(details[Number(bar.dataset.detail)], null, 2);
}}
for (const bar of document.querySelectorAll(".bar")) {{
  bar.addEventListener("click", () => show(bar));
}}
const sections = [...document.querySelectorAll("section.run")];
const picker = document.getElementById("runs");
function pick(n) {{
  sections.forEach((s, i) => {{ s.hidden = i !== n; }});
  if (picker) picker.value = String(n);
}}
if (picker) picker.addEventListener("change", () => pick(Number(picker.value)));
document.addEventListener("keydown", (event) => {{
  const current = sections.findIndex((s) => !s.hidden);
  if (event.key === "]" || event.key === "[") {{
    const step = event.key === "]" ? 1 : -1;
    pick((current + step + sections.length) % sections.length);
  }} else if (["j", "k", "ArrowDown", "ArrowUp"].includes(event.key)) {{
    const bars = [...sections[current].querySelectorAll(".bar")];
    if (!bars.length) return;
    const at = bars.indexOf(document.activeElement);
    const step = event.key === "j" || event.key === "ArrowDown" ? 1 : -1;
    show(bars[at < 0 ? 0 : (at + step + bars.length) % bars.length]);
    event.preventDefault();
  }} else if (event.key === "Enter" && document.activeElement.classList.contains("bar")) {{
    show(document.activeElement);
  }}
}});
</script>
</body></html>
"""
