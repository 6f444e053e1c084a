"""Batch throughput on a DBOS queue in Postgres: one process against four (issue 32).

    python benchmarks/dbos_batch.py [ITEMS] [CONCURRENCY]

A latency-bound batch: each item is one model request that the mock server answers after
1 s (`python -m agentkit.testing --latency 1`, its own process). The same ITEMS run twice on a
fresh Postgres started for the purpose (tests/postgres.py: Debian's `postgresql`): by the
driver alone (`agentkit batch run --executor dbos:URL --concurrency C`), then by the driver and
three `agentkit batch worker` processes. Prints items per second for each and the ratio
(target: four processes at least 3x one). Needs the `dbos` extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


async def one_request(record: dict[str, Any], context: Any) -> str:
    """The task: one model request (1 s at the mock server)."""
    from agentkit import ChatModel, ModelRequest, UserMessage

    async with ChatModel(base_url=os.environ["MOCK_URL"], api_key="k", model="m") as model:
        completion = await model.complete(
            ModelRequest(messages=[UserMessage(content=str(record["text"]))])
        )
    return str(completion.choices[0].message.content)


def run(url: str, mock: str, items: int, concurrency: int, workers: int, folder: Path) -> float:
    task = f"{Path(__file__).resolve()}:one_request"
    source = folder / f"in-{workers}.jsonl"
    source.write_text("".join(json.dumps({"text": f"item {n}"}) + "\n" for n in range(items)))
    env = {**os.environ, "MOCK_URL": mock}
    helpers = []
    for n in range(workers - 1):
        command = [sys.executable, "-m", "agentkit", "batch", "worker", task, "--executor",
                   f"dbos:{url}", "--worker-id", f"w{n}"]  # fmt: skip
        helpers.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        for helper in helpers:  # ready once DBOS polls the queue
            assert helper.stderr is not None
            while "taking items" not in (line := helper.stderr.readline()):
                assert line, "a worker ended before it was ready"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "agentkit", "batch", "run", task, str(source), "--journal",
             str(folder / f"job-{workers}.journal"), "--executor", f"dbos:{url}",
             "--concurrency", str(concurrency), "--quiet"],
            env=env, capture_output=True, text=True, check=True, timeout=900,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        assert json.loads(done.stdout.strip().splitlines()[-1])["done"] == items
        return items / seconds
    finally:
        for helper in helpers:
            helper.terminate()
            helper.wait(timeout=30)


def main() -> None:
    from tests.postgres import postgres_server

    items = int(sys.argv[1]) if len(sys.argv) > 1 else 160
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    mock = subprocess.Popen(
        [sys.executable, "-m", "agentkit.testing", "--scenario", "echo", "--latency", "1.0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert mock.stdout is not None
        mock_url = mock.stdout.readline().strip()
        with postgres_server() as url, tempfile.TemporaryDirectory() as scratch:
            one = run(url, mock_url, items, concurrency, 1, Path(scratch))
            four = run(url, mock_url, items, concurrency, 4, Path(scratch))
    finally:
        mock.terminate()
    print(f"{items} items, 1 s per request, --concurrency {concurrency} per process")
    print(f"one process:   {one:.2f} items/s")
    print(f"four processes: {four:.2f} items/s ({four / one:.2f}x; target at least 3x)")


if __name__ == "__main__":
    main()
