"""Before and after in one run: agentkit from another checkout against this one.

    git worktree add /tmp/old <commit>
    python3 benchmarks/before_after.py /tmp/old [rounds] [scenario,scenario...]

The same harness (this folder), the same mock server process per scenario, agentkit imported
from `/tmp/old` ("old", through `PYTHONPATH`) or from this checkout ("new"), rounds
interleaved and shuffled, quick unit counts. Prints medians; writes nothing. Run
`benchmarks/run.py` once first: it creates `benchmarks/.venv` with the peers.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import run as bench

PLAN = {
    "exchange": ["agentkit", "raw-aiohttp"],
    "tool-loop": ["agentkit", "raw-aiohttp"],
    "tool-loop-stream": ["agentkit", "openai-sdk"],
    "parallel-tools": ["agentkit", "raw-aiohttp"],
    "concurrent-runs": ["agentkit", "raw-aiohttp"],
    "concurrent-runs-1000": ["agentkit", "raw-aiohttp"],
    "tool-loop-otel": ["agentkit", "sdk-floor", "agentkit-off"],
    "cache-hit": ["agentkit"],
    "cache-hit-20": ["agentkit"],
    "cache-hit-200": ["agentkit"],
    "extraction-batch": ["agentkit"],
}


def ours(framework: str) -> bool:
    return framework.startswith("agentkit") or framework == "sdk-floor"


def main() -> None:
    old, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    chosen = sys.argv[3].split(",") if len(sys.argv) > 3 else list(PLAN)
    unknown = sorted(set(chosen) - set(PLAN))
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(PLAN)}")
    for scenario in chosen:
        frameworks = PLAN[scenario]
        spec = bench.SCENARIOS[scenario]
        count = spec.units[1]
        samples: dict[str, list[dict[str, Any]]] = {}
        with bench.mock_server(spec) as url:
            for _ in range(rounds):
                jobs = [(f, v) for f in frameworks for v in (("old", "new") if ours(f) else ("-",))]
                for framework, variant in random.sample(jobs, len(jobs)):
                    os.environ["PYTHONPATH"] = old if variant == "old" else ""
                    sample = bench.measure(scenario, framework, url, count)
                    samples.setdefault(f"{framework} {variant}", []).append(sample)
        os.environ["PYTHONPATH"] = ""
        print(f"\n{scenario} ({spec.metric}, {count} units, {rounds} rounds)", flush=True)
        for name, found in sorted(samples.items()):
            values = [bench._value(s, spec.metric) for s in found]
            line = f"  {name:24s} median {statistics.median(values):9.3f}  min {min(values):9.3f}"
            if spec.metric == "wall":
                cpu = statistics.median(s["cpu"] / s["units"] * 1000 for s in found)
                line += f"  cpu/unit {cpu:.3f} ms"
            if "connections" in found[0]:
                line += f"  connections {statistics.median(s['connections'] for s in found):.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
