"""Run every benchmark scenario, frameworks interleaved, and write the results.

    python3 benchmarks/run.py            # full run
    python3 benchmarks/run.py --quick    # about a minute: one round, fewer units, no Agents
                                         # SDK or Pydantic AI; for development

Creates benchmarks/.venv with the peers (never agentkit's own dependencies), starts
MockChatServer in its own process, and runs each measurement in a fresh process. Rounds run
every framework once per scenario, in a shuffled order; a round is skipped and retried when
the machine was busy beforehand. Writes benchmarks/results/results.json, results.md and one
PNG chart per scenario.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
RESULTS = HERE / "results"
DOC_IMAGES = HERE.parent / "docs" / "images" / "benchmarks"  # the docs' benchmarks page
PYTHON = VENV / "bin" / "python"


PEERS = ["raw-aiohttp", "raw-httpx", "openai-sdk", "openai-agents", "pydantic-ai", "agentkit"]
BOUNDARY = ["raw-aiohttp", "raw-httpx", "agentkit"]
SLOW_TO_START = {"openai-agents", "pydantic-ai"}
"""Left out of the quick mode: importing them alone takes seconds per measurement."""


@dataclass(frozen=True)
class Scenario:
    latency: float
    units: tuple[int, int]
    """Units of work per measurement: (full, quick)."""
    metric: str
    """"cpu_per_unit", "wall_per_unit" or "wall" (of all units together)."""
    frameworks: list[str]
    tool_calls: int = 1
    description: str = ""
    chunk_size: int = 16
    chunk_delay: float = 0.0
    rounds: int | None = None
    """Rounds of this scenario, when not the run's (a long, deterministic one needs one)."""
    server_options: tuple[str, ...] = ()
    """More options for the scenario's mock server (`python -m agentkit.testing`)."""


SCENARIOS = {
    "exchange": Scenario(
        0.0,
        (300, 60),
        "cpu_per_unit",
        BOUNDARY,
        description="CPU ms per 2-request exchange, sequential, 0 ms latency",
    ),
    "concurrent-exchanges": Scenario(
        0.05,
        (200, 50),
        "wall",
        BOUNDARY,
        description="wall ms for 200 concurrent exchanges, 50 ms latency",
    ),
    "http-parse": Scenario(
        0.0,
        (2000, 400),
        "cpu_per_unit",
        ["h11", "httptools", "agentkit-h11", "agentkit-llhttp"],
        description="CPU ms to frame one plain and one streamed (24-event) response, 4 KiB reads",
    ),
    "sse-long-line": Scenario(
        0.0,
        (1, 1),
        "wall",
        ["agentkit"],
        description="wall ms to parse one 64 MB `data:` line of SSE, fed in 64 KiB pieces",
    ),
    "request-build": Scenario(
        0.0,
        (5000, 1000),
        "cpu_per_unit",
        ["no-profile", "agentkit"],
        description="CPU ms to build and serialise one tool-loop request body, without a "
        "profile and through OpenAI's reasoning-model profile",
    ),
    "cache-hit": Scenario(
        0.0,
        (2000, 200),
        "wall_per_unit",
        ["agentkit"],
        description="wall ms per request answered by a warm ResponseCache (SQLite): the "
        "second request of a tool loop (4 messages, the tool)",
    ),
    "cache-hit-20": Scenario(
        0.0,
        (2000, 200),
        "wall_per_unit",
        ["agentkit"],
        description="wall ms per cache hit, a 20-message tool-loop conversation",
    ),
    "cache-hit-200": Scenario(
        0.0,
        (2000, 200),
        "wall_per_unit",
        ["agentkit"],
        description="wall ms per cache hit, a 200-message tool-loop conversation",
    ),
    "session-100": Scenario(
        0.0,
        (300, 50),
        "wall_per_unit",
        ["agentkit"],
        description="wall ms to hold, load and append a 100-message SQLite session",
    ),
    "mcp-call": Scenario(
        0.0,
        (400, 50),
        "wall_per_unit",
        ["mcp-sdk", "agentkit"],
        description="wall ms per call of a local stdio MCP tool (echo), session kept open",
    ),
    "tool-loop-otel": Scenario(
        0.0,
        (200, 40),
        "cpu_per_unit",
        ["agentkit-off", "sdk-floor", "agentkit", "pydantic-ai-off", "pydantic-ai"],
        description="CPU ms per 2-request tool loop, OpenTelemetry off and on (SDK providers "
        "with a BatchSpanProcessor and a periodic metric reader, exporters that keep nothing), "
        "agentkit and pydantic-ai; sdk-floor: agentkit off plus the conventions' spans and "
        "records made by hand",
    ),
    "tool-loop": Scenario(
        0.0,
        (200, 40),
        "cpu_per_unit",
        [*PEERS, "agentkit-responses", "agentkit-fallback"],
        description="CPU ms per 2-request tool loop, sequential, 0 ms latency "
        "(agentkit-fallback: through a FallbackModel whose primary answers)",
    ),
    "tool-loop-costs": Scenario(
        0.0,
        (200, 40),
        "cpu_per_unit",
        ["agentkit-unbilled", "agentkit-billed"],
        description="CPU ms per 2-request tool loop against one server that reports AI/ML "
        "API's charges for one model name only: cost accounting off (no charge, an unknown "
        "model) and on (the charge read from the headers)",
        server_options=("--usd-per-request", "0.000123", "--bill-model", "mock-model-billed"),
    ),
    "tool-loop-wall": Scenario(
        0.0,
        (200, 40),
        "wall_per_unit",
        PEERS,
        description="wall ms per 2-request tool loop, sequential, 0 ms latency",
    ),
    "tool-loop-stream": Scenario(
        0.0,
        (100, 20),
        "cpu_per_unit",
        ["raw-aiohttp", "openai-sdk", "openai-agents", "pydantic-ai", "agentkit"],
        description="CPU ms per streamed 2-request tool loop, 0 ms latency",
    ),
    "tool-loop-stream-wall": Scenario(
        0.0,
        (0, 0),
        "wall_per_unit",
        [],
        description="wall ms per streamed 2-request tool loop, sequential, 0 ms latency",
    ),
    "eager-start": Scenario(
        0.0,
        (5, 1),
        "wall_per_unit",
        ["openai-sdk", "openai-sdk-one-by-one", "openai-agents", "pydantic-ai", "agentkit"],
        tool_calls=4,
        chunk_size=4,
        chunk_delay=0.025,
        description="wall ms per streamed loop: 4 calls, each streaming ~100 ms of arguments, tools of 100 ms",
    ),
    "parallel-tools": Scenario(
        0.0,
        (10, 3),
        "wall_per_unit",
        PEERS,
        tool_calls=8,
        description="wall ms per loop with 8 parallel tool calls of 100 ms",
    ),
    "tool-phase": Scenario(
        0.0,
        (10, 3),
        "tool_phase_ms",
        PEERS,
        description="ms from the first tool start to the last tool end, 8 parallel calls of 100 ms",
    ),
    "extraction-batch": Scenario(
        0.05,
        (10_000, 1_000),
        "items_per_second",
        ["agentkit"],
        description="items/s of a 10,000-item extraction batch, concurrency 64, 50 ms latency, journal on",
    ),
    "concurrent-runs": Scenario(
        0.05,
        (200, 50),
        "wall",
        [*PEERS, "agentkit-responses"],
        description="wall ms for 200 concurrent tool loops, 50 ms latency",
    ),
    "concurrent-runs-1000": Scenario(
        1.0,
        (1000, 1000),
        "wall",
        ["raw-aiohttp", "agentkit"],
        description="wall ms for 1,000 concurrent tool loops (2 requests each), 1 s latency",
    ),
    "concurrent-runs-1000-cpu": Scenario(
        1.0, (0, 0), "cpu_per_unit", [], description="CPU ms per run of the same 1,000"
    ),
    "concurrent-runs-1000-connections": Scenario(
        1.0, (0, 0), "connections", [], description="connections opened for the same 1,000"
    ),
    "run-memory": Scenario(
        0.05,
        (200, 50),
        "traced_kib_per_unit",
        PEERS,
        description="KiB of peak Python memory (tracemalloc) per run, 200 concurrent tool loops",
    ),
    "media-pdf": Scenario(
        0.0,
        (3, 1),
        "peak_x_file",
        ["agentkit"],
        description="peak Python memory (tracemalloc) while a 20 MB PDF is read and sent in one "
        "request, as a multiple of the file's size",
    ),
    "media-pdf-cost": Scenario(
        0.0,
        (3, 1),
        "ms_per_mb",
        ["agentkit"],
        description="ms per MB to read, encode and send a 20 MB PDF in one request (loopback)",
    ),
    "media-images": Scenario(
        0.0,
        (1000, 200),
        "growth_kib",
        ["agentkit"],
        rounds=1,
        description="KiB of traced memory grown from the 100th to the last of 1,000 image "
        "extractions in a row (100 KB each)",
    ),
    "rate-limit": Scenario(
        0.05,
        (750, 0),
        "emptiest_minute_pct",
        ["agentkit"],
        rounds=1,
        description="% of the limit in the emptiest sliding minute, 750 extractions at --rpm 300",
    ),
    "rate-limit-max": Scenario(
        0.05,
        (750, 0),
        "fullest_minute_pct",
        ["agentkit"],
        rounds=1,
        description="% of the limit in the fullest sliding minute, 750 extractions at --rpm 300",
    ),
}
DERIVED = {
    "tool-loop-wall": "tool-loop",
    "tool-loop-stream-wall": "tool-loop-stream",
    "tool-phase": "parallel-tools",
    "rate-limit-max": "rate-limit",
    "media-pdf-cost": "media-pdf",
    "concurrent-runs-1000-cpu": "concurrent-runs-1000",
    "concurrent-runs-1000-connections": "concurrent-runs-1000",
}
"""Scenarios read from another scenario's samples (another figure of the same runs)."""
UNITS = {
    "items_per_second": "items/s",
    "traced_kib_per_unit": "KiB",
    "growth_kib": "KiB",
    "peak_x_file": "x the file",
    "ms_per_mb": "ms/MB",
    "connections": "connections",
}
REPORTED = {
    "tool_phase_ms",
    "emptiest_minute_pct",
    "fullest_minute_pct",
    "peak_x_file",
    "ms_per_mb",
    "growth_kib",
    "connections",
}
"""Figures a workload reports itself, next to wall and CPU time."""
IMPORTS = {  # what a user's first line does
    "agentkit": "import agentkit",
    "agentkit-agent-model-tool": "from agentkit import Agent, ChatModel, tool",
    "openai-agents": "import agents",
    "pydantic-ai": "import pydantic_ai",
    "openai-sdk": "import openai",
}


@dataclass(frozen=True)
class Target:
    scenario: str
    kind: str
    """"ratio": agentkit / baseline at most `limit`; "faster": baseline / agentkit at least
    `limit`; "at_most" / "at_least": agentkit's own figure; "saves": baseline - agentkit at
    least `limit`; "adds": agentkit - baseline under `limit`."""
    limit: float
    text: str
    baseline: str | None = None
    subject: str = "agentkit"
    """The row whose figure is judged (agentkit's, or another agentkit row)."""


TARGETS = [
    Target("exchange", "ratio", 0.6, "a single exchange costs at most 0.6x raw httpx's CPU, HTTP framed by a maintained parser (12, #26)", "raw-httpx"),
    Target("concurrent-exchanges", "ratio", 1.5, "200 concurrent exchanges at 50 ms within 1.5x raw aiohttp's wall time (12)", "raw-aiohttp"),
    Target("sse-long-line", "at_most", 5000.0, "a 64 MB SSE line parsed in linear time: under 5 s (12; 16 MB took 18.4 s before)"),
    Target("request-build", "ratio", 1.1, "a request built through a provider profile costs at most 1.1x one built without (15)", "no-profile"),
    Target("mcp-call", "adds", 2.0, "a call of a local stdio MCP tool adds under 2 ms to the bare SDK client's (16)", "mcp-sdk"),
    Target("tool-loop-otel", "adds", 0.05, "with exporters on (batch span processor, periodic metric reader), agentkit's own share over the SDK floor is under 0.05 ms per loop (#26)", "sdk-floor"),
    Target("tool-loop-otel", "ratio", 1.1, "with OpenTelemetry on, the 2-request tool loop costs under 1.1x the CPU of the same loop with it off (17: set with providers that exported nothing; since #26 the SDK's own export and aggregation run, and the share target above judges agentkit)", "agentkit-off"),
    Target("concurrent-runs-1000", "ratio", 1.1, "1,000 concurrent runs at 1 s latency: at most 1.1x raw aiohttp's wall time (#26)", "raw-aiohttp"),
    Target("concurrent-runs-1000-cpu", "ratio", 2.0, "... and at most 2x its CPU (#26)", "raw-aiohttp"),
    Target("concurrent-runs-1000-connections", "at_most", 1100, "... opening at most 1,100 connections (#26)"),
    Target("tool-loop", "ratio", 1.3, "a 2-request tool loop costs at most 1.3x raw aiohttp's CPU (#26)", "raw-aiohttp"),
    Target("tool-loop-stream-wall", "ratio", 1.5, "a streamed 2-request tool loop takes at most 1.5x raw aiohttp's wall time (#26)", "raw-aiohttp"),
    Target("cache-hit", "at_most", 0.3, "a response-cache hit costs under 0.3 ms (18)"),
    Target("cache-hit-20", "at_most", 0.05, "a cache hit on a 20-message conversation costs at most 0.05 ms (#26)"),
    Target("cache-hit-200", "at_most", 0.05, "... and stays flat: at most 0.05 ms at 200 messages (#26)"),
    Target("session-100", "at_most", 5.0, "a session load + append of a 100-message conversation under 5 ms (18)"),
    Target("tool-loop-costs", "adds", 0.02, "cost accounting adds at most 0.01 ms per request to the 2-request tool loop (29)", "agentkit-unbilled", subject="agentkit-billed"),
    Target("tool-loop", "adds", 0.01, "a FallbackModel whose primary answers adds under 0.01 ms to the 2-request tool loop (0.005 ms per request) (31)", "agentkit", subject="agentkit-fallback"),
    Target("tool-loop", "ratio", 1.5, "a 2-request tool loop costs at most 1.5x the raw httpx loop (4)", "raw-httpx"),
    Target("parallel-tools", "at_most", 105.0, "8 parallel tool calls of 100 ms under 105 ms, read as the whole loop with its two requests (4)"),
    Target("tool-phase", "at_most", 105.0, "8 parallel tool calls of 100 ms under 105 ms, read as the tool phase (4)"),
    Target("concurrent-runs", "faster", 5.0, "200 concurrent runs: at least 5x the runs/s of the OpenAI Agents SDK (4)", "openai-agents"),
    Target("concurrent-runs", "faster", 5.0, "200 concurrent runs: at least 5x the runs/s of Pydantic AI (4)", "pydantic-ai"),
    Target("run-memory", "at_most", 40.0, "peak memory under 40 KiB per concurrent run (4)"),
    Target("eager-start", "saves", 250.0, "eager tool start saves at least 250 ms against waiting for the whole response, then running the calls one by one (4)", "openai-sdk-one-by-one"),
    Target("eager-start", "saves", 250.0, "the same against running all calls at once after the response: ~0 by construction (4)", "openai-sdk"),
    Target("media-pdf", "at_most", 3.0, "a 20 MB PDF attached to one request: peak memory at most 3x the file's size (28)"),
    Target("media-images", "at_most", 1024.0, "1,000 image extractions in a row keep memory flat: under 1 MiB grown after the first 100 (28)"),
    Target("import", "at_most", 300.0, "import agentkit under 300 ms (4)"),
    Target("import", "at_most", 200.0, "from agentkit import Agent, ChatModel, tool under 200 ms (#26)", subject="agentkit-agent-model-tool"),
    Target("extraction-batch", "at_least", 400.0, "10,000-item extraction batch: at least 400 items/s (7)"),
    Target("rate-limit", "at_least", 95.0, "with --rpm set, every sliding minute reaches at least 95 % of the limit (7)"),
    Target("rate-limit-max", "at_most", 100.0, "with --rpm set, no sliding minute goes over the limit (7)"),
]  # fmt: skip


def ensure_venv() -> None:
    """Create the benchmark environment and re-run this script inside it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "-q", "-r", "requirements.txt", "-c", "peers.lock"],
        check=True,
        cwd=HERE,
    )
    os.execv(str(PYTHON), [str(PYTHON), __file__, *sys.argv[1:]])


@contextmanager
def mock_server(spec: Scenario) -> Iterator[str]:
    command = ["-m", "agentkit.testing", "--scenario", "tools", "--latency", str(spec.latency)]
    command += ["--tool-calls", str(spec.tool_calls), "--chunk-size", str(spec.chunk_size)]
    process = subprocess.Popen(
        [str(PYTHON), *command, "--chunk-delay", str(spec.chunk_delay), *spec.server_options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure_imports(rounds: int) -> dict[str, list[dict[str, float]]]:
    """Wall time of `python -c "import X"`, less that of `python -c pass`, in fresh processes.

    Byte code is cached first, as `pip install` does for the peers: agentkit is installed
    editable here, and PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise make it
    compile its sources on every import.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([str(PYTHON), "-c", code], check=True, env=env)
        return time.perf_counter() - started

    for statement in IMPORTS.values():
        timed(statement)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in IMPORTS}
    for _ in range(rounds):
        baseline = timed("pass")
        for name, statement in random.sample(list(IMPORTS.items()), len(IMPORTS)):
            samples[name].append({"wall": timed(statement) - baseline, "cpu": 0.0, "units": 1})
    return samples


def machine_is_quiet(threshold: float = 20.0) -> bool:
    import psutil

    return psutil.cpu_percent(interval=0.5) < threshold


def measure(scenario: str, framework: str, url: str, units: int) -> dict[str, float]:
    completed = subprocess.run(
        [str(PYTHON), str(HERE / "workloads.py"), scenario, framework, url, str(units)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


SKIPPED: list[str] = []
"""Scenarios whose every round was skipped as busy: they have no fresh figures."""


def run(rounds: int, quick: bool, only: list[str]) -> dict[str, dict[str, list[dict[str, float]]]]:
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for scenario, spec in SCENARIOS.items():
        if (only and scenario not in only) or scenario in DERIVED:
            continue
        count = spec.units[1] if quick else spec.units[0]
        if count == 0:  # too long for the quick mode
            continue
        frameworks = [f for f in spec.frameworks if not (quick and f in SLOW_TO_START)]
        wanted = spec.rounds or rounds
        with mock_server(spec) as url:
            done = 0
            attempts = 0
            while done < wanted and attempts < wanted * 3:
                attempts += 1
                if not machine_is_quiet():
                    print(f"  {scenario}: machine busy, round skipped", file=sys.stderr)
                    continue
                order = random.sample(frameworks, len(frameworks))
                for framework in order:
                    sample = measure(scenario, framework, url, count)
                    results.setdefault(scenario, {}).setdefault(framework, []).append(sample)
                done += 1
                print(f"  {scenario}: round {done}/{wanted} done", file=sys.stderr)
            if done == 0:
                SKIPPED.append(scenario)
                print(f"  {scenario}: SKIPPED, the machine stayed busy", file=sys.stderr)
    for derived, source in DERIVED.items():
        if source in results:
            results[derived] = results[source]
    return results


def summarize(
    results: dict[str, dict[str, list[dict[str, float]]]],
) -> dict[str, dict[str, dict[str, float]]]:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, by_framework in results.items():
        metric = SCENARIOS[scenario].metric if scenario in SCENARIOS else "wall"
        for framework, samples in by_framework.items():
            values = [_value(s, metric) for s in samples]
            summary.setdefault(scenario, {})[framework] = {
                "median_ms": statistics.median(values),
                "min_ms": min(values),
                "max_ms": max(values),
            }
    return summary


def _value(sample: dict[str, float], metric: str) -> float:
    if metric in REPORTED:
        return sample[metric]
    if metric == "traced_kib_per_unit":
        return sample["traced_kib"] / sample["units"]
    if metric == "items_per_second":
        return sample["units"] / sample["wall"]
    if metric == "cpu_per_unit":
        return sample["cpu"] / sample["units"] * 1000
    if metric == "wall_per_unit":
        return sample["wall"] / sample["units"] * 1000
    return sample["wall"] * 1000


def report(
    summary: dict[str, dict[str, dict[str, float]]],
    command: str,
    measured: dict[str, dict[str, str]] | None = None,
) -> str:
    versions = subprocess.run(
        [str(PYTHON), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wanted = {"agentkit", "httpx", "aiohttp", "openai", "openai-agents", "pydantic-ai-slim"}
    listed = ", ".join(
        f"{p['name']} {p['version']}" for p in json.loads(versions) if p["name"] in wanted
    )
    lines = [
        f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {listed}.",
        f"Command: `{command}`. Medians (min-max) over interleaved rounds, each in a fresh process.",
        "",
    ]
    for scenario, by_framework in summary.items():
        unit = (
            SCENARIOS[scenario].description
            if scenario in SCENARIOS
            else "ms to import, fresh process"
        )
        taken = (measured or {}).get(scenario)
        when = f"measured at {taken['commit']}, {taken['at']}" if taken else "when: not recorded"
        lines += [
            f"### {scenario} ({unit})",
            "",
            when + ("; SKIPPED in the latest run" if scenario in SKIPPED else ""),
            "",
            "| framework | median | min | max |",
            "|---|---|---|---|",
        ]
        for framework, stats in sorted(by_framework.items(), key=lambda item: item[1]["median_ms"]):
            lines.append(
                f"| {framework} | {stats['median_ms']:.2f} | {stats['min_ms']:.2f} | {stats['max_ms']:.2f} |"
            )
        lines.append("")
    lines += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in TARGETS:
        line = _target_line(target, summary)
        if line:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _target_line(target: Target, summary: dict[str, dict[str, dict[str, float]]]) -> str:
    measured = summary.get(target.scenario, {})
    if target.subject not in measured or (target.baseline and target.baseline not in measured):
        return ""
    value = measured[target.subject]["median_ms"]
    base = measured[target.baseline]["median_ms"] if target.baseline else 0.0
    metric = SCENARIOS[target.scenario].metric if target.scenario in SCENARIOS else "wall"
    unit = UNITS.get(metric, "%" if metric.endswith("pct") else "ms")
    if target.kind in ("ratio", "faster"):
        ratio = value / base if target.kind == "ratio" else base / value
        shown = f"{ratio:.2f}x"
        met = ratio <= target.limit if target.kind == "ratio" else ratio >= target.limit
    elif target.kind == "saves":
        shown, met = f"{base - value:.0f} ms saved", base - value >= target.limit
    elif target.kind == "adds":
        shown, met = f"{value - base:.3f} ms added", value - base < target.limit
    else:
        shown = f"{value:.3f} {unit}" if value < 1 else f"{value:.1f} {unit}"
        met = value <= target.limit if target.kind == "at_most" else value >= target.limit
    return f"| {target.text} | {shown} | {'yes' if met else 'no'} |"


def plot(summary: dict[str, dict[str, dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for scenario, by_framework in summary.items():
        names = sorted(by_framework, key=lambda name: by_framework[name]["median_ms"])
        medians = [by_framework[name]["median_ms"] for name in names]
        errors = [
            [m - by_framework[n]["min_ms"] for n, m in zip(names, medians, strict=True)],
            [by_framework[n]["max_ms"] - m for n, m in zip(names, medians, strict=True)],
        ]
        colors = ["#d62728" if name == "agentkit" else "#7f7f7f" for name in names]
        figure, axes = plt.subplots(figsize=(7, 0.6 * len(names) + 1.2))
        axes.barh(names, medians, xerr=errors, color=colors)
        axes.set_xlabel(
            SCENARIOS[scenario].description if scenario in SCENARIOS else "ms to import"
        )
        axes.set_title(scenario)
        figure.tight_layout()
        figure.savefig(RESULTS / f"{scenario}.png", dpi=100)
        figure.savefig(DOC_IMAGES / f"{scenario}.png", dpi=100)
        plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a minute: one round, fewer units, without the two slowest peers",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario")
    parser.add_argument(
        "--only", nargs="*", default=[], help="run only these scenarios (others kept from before)"
    )
    parser.add_argument("--report-only", action="store_true", help="redo the report and plots")
    parser.add_argument(
        "--allow-skips",
        action="store_true",
        help="exit 0 even when a scenario was skipped (the machine stayed busy)",
    )
    options = parser.parse_args()
    ensure_venv()
    # A quick run is a look, not a measurement: it never replaces the tracked figures.
    results = RESULTS / "quick" if options.quick else RESULTS
    saved = results / "results.json"
    previous = json.loads(saved.read_text()) if saved.exists() else {}
    raw = dict(previous.get("raw", {})) if options.only or options.report_only else {}
    measured = dict(previous.get("measured", {})) if options.only or options.report_only else {}
    if not options.report_only:
        rounds = options.rounds or (1 if options.quick else 5)
        fresh = run(rounds, options.quick, options.only)
        if not options.only or "import" in options.only:
            fresh["import"] = measure_imports(rounds)
        raw.update(fresh)
        stamp = {"commit": _commit(), "at": datetime.datetime.now().isoformat(timespec="seconds")}
        measured.update(dict.fromkeys(fresh, stamp))  # every figure says when it was taken
    summary = summarize(raw)
    results.mkdir(parents=True, exist_ok=True)
    command = (
        previous.get("command", "")
        if options.report_only
        else " ".join(["python3 benchmarks/run.py", *sys.argv[1:]])
    )
    document = {"command": command, "raw": raw, "summary": summary, "measured": measured}
    saved.write_text(json.dumps(document, indent=2))
    markdown = report(summary, command, measured)
    (results / "results.md").write_text(markdown)
    if not options.quick:
        plot(summary)
    print(markdown)
    if SKIPPED and not options.allow_skips:
        print(f"skipped (no fresh figures): {', '.join(SKIPPED)}", file=sys.stderr)
        sys.exit(3)


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return found.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
