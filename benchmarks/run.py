"""Run every benchmark scenario, frameworks interleaved, and write the results.

    python3 benchmarks/run.py            # full run
    python3 benchmarks/run.py --quick    # about a minute, for development

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
RESULTS = HERE / "results"
PYTHON = VENV / "bin" / "python"


# scenario: (latency seconds, units per measurement (full, quick), what to report, frameworks)
SCENARIOS = {
    "exchange": (0.0, (300, 60), "cpu_per_unit", ["raw-aiohttp", "raw-httpx", "agentkit"]),
    "concurrent-exchanges": (0.05, (200, 200), "wall", ["raw-aiohttp", "raw-httpx", "agentkit"]),
}
# target: (scenario, framework, baseline, metric ratio at most)
TARGETS = [
    (
        "exchange",
        "agentkit",
        "raw-httpx",
        1.3,
        "a single exchange costs at most 1.3x raw httpx's CPU",
    ),
    (
        "concurrent-exchanges",
        "agentkit",
        "raw-aiohttp",
        2.0,
        "200 concurrent exchanges at 50 ms finish within 2x raw aiohttp's wall time",
    ),
]


def ensure_venv() -> None:
    """Create the benchmark environment and re-run this script inside it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
        check=True,
        cwd=HERE,
    )
    os.execv(str(PYTHON), [str(PYTHON), __file__, *sys.argv[1:]])


@contextmanager
def mock_server(latency: float) -> Iterator[str]:
    process = subprocess.Popen(
        [str(PYTHON), "-m", "agentkit.testing", "--scenario", "tools", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def run(rounds: int, quick: bool, only: list[str]) -> dict[str, dict[str, list[dict[str, float]]]]:
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for scenario, (latency, units, _, frameworks) in SCENARIOS.items():
        if only and scenario not in only:
            continue
        count = units[1] if quick else units[0]
        with mock_server(latency) as url:
            done = 0
            attempts = 0
            while done < rounds and attempts < rounds * 3:
                attempts += 1
                if not machine_is_quiet():
                    print(f"  {scenario}: machine busy, round skipped", file=sys.stderr)
                    continue
                order = random.sample(frameworks, len(frameworks))
                for framework in order:
                    sample = measure(scenario, framework, url, count)
                    results.setdefault(scenario, {}).setdefault(framework, []).append(sample)
                done += 1
                print(f"  {scenario}: round {done}/{rounds} done", file=sys.stderr)
    return results


def summarize(
    results: dict[str, dict[str, list[dict[str, float]]]],
) -> dict[str, dict[str, dict[str, float]]]:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, by_framework in results.items():
        metric = SCENARIOS[scenario][2]
        for framework, samples in by_framework.items():
            values = [
                s["cpu"] / s["units"] * 1000 if metric == "cpu_per_unit" else s[metric] * 1000
                for s in samples
            ]
            summary.setdefault(scenario, {})[framework] = {
                "median_ms": statistics.median(values),
                "min_ms": min(values),
                "max_ms": max(values),
            }
    return summary


def report(summary: dict[str, dict[str, dict[str, float]]], command: str) -> str:
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
        metric = SCENARIOS[scenario][2]
        unit = "CPU ms per exchange" if metric == "cpu_per_unit" else "wall ms"
        lines += [
            f"### {scenario} ({unit})",
            "",
            "| framework | median | min | max |",
            "|---|---|---|---|",
        ]
        for framework, stats in sorted(by_framework.items(), key=lambda item: item[1]["median_ms"]):
            lines.append(
                f"| {framework} | {stats['median_ms']:.2f} | {stats['min_ms']:.2f} | {stats['max_ms']:.2f} |"
            )
        lines.append("")
    lines += ["### Targets", "", "| target | measured ratio | met |", "|---|---|---|"]
    for scenario, framework, baseline, limit, text in TARGETS:
        if scenario in summary and framework in summary[scenario]:
            ratio = (
                summary[scenario][framework]["median_ms"] / summary[scenario][baseline]["median_ms"]
            )
            lines.append(f"| {text} | {ratio:.2f}x | {'yes' if ratio <= limit else 'no'} |")
    return "\n".join(lines) + "\n"


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
        metric = SCENARIOS[scenario][2]
        axes.set_xlabel("CPU ms per exchange" if metric == "cpu_per_unit" else "wall ms")
        axes.set_title(scenario)
        figure.tight_layout()
        figure.savefig(RESULTS / f"{scenario}.png", dpi=100)
        plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and units (about a minute)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario")
    parser.add_argument("--only", nargs="*", default=[], help="run only these scenarios")
    options = parser.parse_args()
    ensure_venv()
    rounds = options.rounds or (2 if options.quick else 7)
    raw = run(rounds, options.quick, options.only)
    summary = summarize(raw)
    RESULTS.mkdir(exist_ok=True)
    command = " ".join(["python3 benchmarks/run.py", *sys.argv[1:]])
    (RESULTS / "results.json").write_text(json.dumps({"raw": raw, "summary": summary}, indent=2))
    markdown = report(summary, command)
    (RESULTS / "results.md").write_text(markdown)
    plot(summary)
    print(markdown)


if __name__ == "__main__":
    main()
