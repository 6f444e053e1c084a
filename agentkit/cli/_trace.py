"""Layer 5 (edges): `agentkit trace view FILE -o PAGE.html`: a recorded run, drawn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agentkit._observe._trace_view import iter_events, render_runs

from ._common import ExitCode, UsageError, say

__all__ = ["add_trace_command"]


def add_trace_command(commands: Any, add_common: Any) -> None:
    """Register `agentkit trace view`."""
    trace = commands.add_parser("trace", help="look at recorded runs (agentkit run --trace)")
    actions = trace.add_subparsers(title="actions", metavar="ACTION")
    trace.set_defaults(usage_of=trace)
    view = actions.add_parser(
        "view", help="draw a recorded run as one self-contained HTML page",
        description="Draw the runs of a timeline file (agentkit run --trace FILE, or "
        "run(trace_to=FILE) in Python) on a time axis, as an HTML page that needs no network.",
    )  # fmt: skip
    view.add_argument("file", help="the JSONL timeline")
    view.add_argument("-o", "--output", help="the page to write (default: FILE with .html)")
    add_common(view)
    view.set_defaults(handler=_view)


def _view(options: argparse.Namespace) -> int:
    source = Path(options.file)
    if not source.is_file():
        raise UsageError(f"{source}: no such file; record one with agentkit run --trace FILE")
    try:
        with source.open(encoding="utf-8") as lines:  # read a line at a time: files get big
            page, runs = render_runs(iter_events(lines), title=source.name)
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{source}: {error}") from None
    except (KeyError, TypeError, AttributeError, IndexError) as error:  # crafted or foreign
        raise UsageError(
            f"{source} is not a timeline agentkit wrote (an event lacks or mistypes "
            f"{type(error).__name__}: {str(error)[:80]}); record one with agentkit run --trace"
        ) from None
    target = Path(options.output) if options.output else source.with_suffix(".html")
    target.write_text(page, encoding="utf-8")
    say(f"wrote {target} ({runs} run{'' if runs == 1 else 's'})")
    return ExitCode.OK
