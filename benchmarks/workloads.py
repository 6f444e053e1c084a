"""One measurement per process: `python workloads.py SCENARIO FRAMEWORK BASE_URL [N]`.

Prints one JSON line: wall seconds, CPU seconds and peak RSS of the measured part, plus the
count of units of work done. Each framework does the same work against the same server.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collections.abc import Awaitable, Callable
from typing import Any

BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"Authorization": "Bearer mock-key", "Content-Type": "application/json"}


# --- model-boundary workloads: one exchange = two sequential requests ------------------------


def raw_httpx() -> Callable[[str], Awaitable[None]]:
    import httpx

    client = httpx.AsyncClient()
    payload = json.dumps(BODY).encode()

    async def exchange(url: str) -> None:
        for _ in range(2):
            response = await client.post(
                f"{url}/chat/completions", content=payload, headers=HEADERS
            )
            json.loads(response.content)

    return exchange


def raw_aiohttp() -> Callable[[str], Awaitable[None]]:
    import aiohttp

    session: list[aiohttp.ClientSession] = []
    payload = json.dumps(BODY).encode()

    async def exchange(url: str) -> None:
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        for _ in range(2):
            async with session[0].post(
                f"{url}/chat/completions", data=payload, headers=HEADERS
            ) as r:
                json.loads(await r.read())

    return exchange


def agentkit_model() -> Callable[[str], Awaitable[None]]:
    from agentkit import ChatModel, ModelRequest, UserMessage

    models: dict[str, ChatModel] = {}
    request = ModelRequest(messages=[UserMessage(content="hi")])

    async def exchange(url: str) -> None:
        model = models.setdefault(
            url, ChatModel(base_url=url, api_key="mock-key", model="mock-model")
        )
        for _ in range(2):
            await model.complete(request)

    return exchange


EXCHANGES: dict[str, Callable[[], Callable[[str], Awaitable[None]]]] = {
    "raw-httpx": raw_httpx,
    "raw-aiohttp": raw_aiohttp,
    "agentkit": agentkit_model,
}


class Clock:
    """Wall and CPU time of the measured part only (warm-up excluded)."""

    extra: dict[str, float]
    """Scenario-specific figures reported next to wall and CPU."""

    def __enter__(self) -> Clock:
        self.extra = {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


async def sequential(work: Callable[[str], Awaitable[None]], url: str, count: int) -> Clock:
    await work(url)  # warm up: connect, import lazily-loaded parts
    with Clock() as clock:
        for _ in range(count):
            await work(url)
    close = getattr(work, "aclose", None)  # a session the work opened in this task
    if close is not None:
        await close()
    return clock


async def concurrent(work: Callable[[str], Awaitable[None]], url: str, count: int) -> Clock:
    await work(url)
    with Clock() as clock:
        await asyncio.gather(*(work(url) for _ in range(count)))
    return clock


async def concurrent_connections(
    work: Callable[[str], Awaitable[None]], url: str, count: int
) -> Clock:
    """`count` concurrent loops, counting the connections opened meanwhile (every client here
    connects through the event loop's `create_connection`: anyio's and aiohttp's alike)."""
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    opened = [0]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        opened[0] += 1
        return await original(*args, **kwargs)

    loop.create_connection = counted  # type: ignore[method-assign]
    await work(url)
    opened[0] = 0
    with Clock() as clock:
        await asyncio.gather(*(work(url) for _ in range(count)))
    clock.extra["connections"] = opened[0]
    return clock


def loop_factories(
    delay: float, streamed: bool = False, instrumented: bool = False
) -> dict[str, Callable[[], Callable[[str], Awaitable[Any]]]]:
    """Each framework's tool loop, as `work(url)` like the exchanges above."""
    from loops import INSTRUMENTED_LOOPS, LOOPS, STREAMED_LOOPS

    chosen = STREAMED_LOOPS if streamed else LOOPS
    if instrumented:
        chosen = INSTRUMENTED_LOOPS

    def factory(make: Any) -> Callable[[], Callable[[str], Awaitable[Any]]]:
        def build() -> Callable[[str], Awaitable[Any]]:
            runners: dict[str, Any] = {}

            async def work(url: str) -> Any:
                if url not in runners:
                    runners[url] = make(url, delay)
                return await runners[url]()

            return work

        return build

    return {name: factory(make) for name, make in chosen.items()}


async def traced_concurrent(work: Callable[[str], Awaitable[None]], url: str, count: int) -> Clock:
    """Peak Python memory (tracemalloc) of `count` concurrent runs, above what was allocated
    before them. RSS cannot show this: allocator arenas grow in steps and are not given back."""
    import gc
    import tracemalloc

    await work(url)
    await work(url)  # second warm-up: lazily built validators and caches exist by now
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    with Clock() as clock:
        await asyncio.gather(*(work(url) for _ in range(count)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    clock.extra["traced_kib"] = (peak - before) / 1024
    return clock


async def tool_phases(work: Callable[[str], Awaitable[None]], url: str, count: int) -> Clock:
    """`sequential`, plus the median tool phase of a loop: first tool start to last tool end."""
    from loops import TOOL_SPANS

    clock = await sequential(work, url, count)
    loops: list[list[tuple[float, float]]] = []
    for span in sorted(TOOL_SPANS):
        if loops and span[0] - loops[-1][0][0] < 0.05:  # loops are >= 100 ms apart
            loops[-1].append(span)
        else:
            loops.append([span])
    phases = [max(end for _, end in spans) - spans[0][0] for spans in loops[1:]]  # no warm-up
    clock.extra["tool_phase_ms"] = sorted(phases)[len(phases) // 2] * 1000
    return clock


def _person_type() -> type:
    """What the batch scenarios extract."""
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    return Person


def _people(count: int) -> list[dict[str, str]]:
    return [{"id": str(i), "text": f"Person {i}"} for i in range(count)]


RATE_LIMIT_RPM = 300


async def rate_limited_batch(work: Any, url: str, count: int) -> Clock:
    """`count` extractions through `run_batch(rpm=300)` in real time (about two minutes for
    750): how close every sliding minute comes to the limit, and that none goes over."""
    import tempfile

    from agentkit import ChatModel, Extractor
    from agentkit.batch import run_batch

    class Stamped:  # records when each request leaves
        def __init__(self, model: ChatModel) -> None:
            self.model, self.moments = model, list[float]()

        async def complete(self, request: Any) -> Any:
            self.moments.append(time.monotonic())
            return await self.model.complete(request)

        def stream(self, request: Any) -> Any:
            return self.model.stream(request)

    directory = Path(tempfile.mkdtemp())
    async with ChatModel(base_url=url, api_key="mock-key", model="mock-model") as model:
        stamped = Stamped(model)
        with Clock() as clock:
            summary = await run_batch(
                Extractor(_person_type(), model=stamped),
                _people(count),
                journal=directory / "journal",
                concurrency=64,
                rpm=RATE_LIMIT_RPM,
            )
    assert summary.done == count, summary
    moments = sorted(stamped.moments)
    starts = [moments[0] + step / 2 for step in range(int((moments[-1] - moments[0] - 60) * 2))]
    windows = [sum(1 for m in moments if start <= m < start + 60) for start in starts]
    clock.extra["fullest_minute_pct"] = max(windows) / RATE_LIMIT_RPM * 100
    clock.extra["emptiest_minute_pct"] = min(windows) / RATE_LIMIT_RPM * 100
    return clock


async def extraction_batch(work: Any, url: str, count: int) -> Clock:
    """`count` extractions through the batch runner (journal on), at concurrency 64."""
    import tempfile

    from agentkit import ChatModel, Extractor
    from agentkit.batch import run_batch

    directory = Path(tempfile.mkdtemp())
    source = directory / "in.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in _people(count)))
    async with ChatModel(base_url=url, api_key="mock-key", model="mock-model") as model:
        extractor = Extractor(_person_type(), model=model)
        await extractor.run("warm up")
        with Clock() as clock:
            summary = await run_batch(
                extractor,
                source,
                journal=directory / "journal",
                out=directory / "out.jsonl",
                concurrency=64,
            )
    assert summary.done == count, summary
    return clock


SCENARIOS: dict[str, tuple[Any, Callable[..., Awaitable[Clock]]]] = {
    "http-parse": (lambda: __import__("parsing").PARSERS, sequential),
    "sse-long-line": (lambda: __import__("parsing").LONG_LINE, sequential),
    "request-build": (lambda: __import__("parsing").BUILDS, sequential),
    "mcp-call": (lambda: __import__("mcp_calls").CALLS, sequential),
    "cache-hit": (lambda: __import__("storage").STORAGE["cache-hit"], sequential),
    "cache-hit-20": (lambda: __import__("storage").STORAGE["cache-hit-20"], sequential),
    "cache-hit-200": (lambda: __import__("storage").STORAGE["cache-hit-200"], sequential),
    "session-100": (lambda: __import__("storage").STORAGE["session-100"], sequential),
    "extraction-batch": ({"agentkit": lambda: None}, extraction_batch),
    "media-pdf": ({"agentkit": lambda: None}, lambda *a: __import__("media").big_pdf(*a)),
    "media-images": (
        {"agentkit": lambda: None},
        lambda *a: __import__("media").image_extractions(*a),
    ),
    "rate-limit": ({"agentkit": lambda: None}, rate_limited_batch),
    "exchange": (EXCHANGES, sequential),
    "concurrent-exchanges": (EXCHANGES, concurrent),
    "tool-loop": (lambda: loop_factories(0.0), sequential),
    "tool-loop-otel": (lambda: loop_factories(0.0, instrumented=True), sequential),
    "tool-loop-costs": (lambda: loop_factories(0.0), sequential),
    "parallel-tools": (lambda: loop_factories(0.1), tool_phases),
    "tool-loop-stream": (lambda: loop_factories(0.0, streamed=True), sequential),
    "eager-start": (lambda: loop_factories(0.1, streamed=True), sequential),
    "concurrent-runs": (lambda: loop_factories(0.0), concurrent),
    "concurrent-runs-1000": (lambda: loop_factories(0.0), concurrent_connections),
    "run-memory": (lambda: loop_factories(0.0), traced_concurrent),
}


def main() -> None:
    scenario, framework, url, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    factories, driver = SCENARIOS[scenario]
    if callable(factories):
        factories = factories()
    work = factories[framework]()
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = asyncio.run(driver(work, url, count))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"wall": clock.wall, "cpu": clock.cpu, "units": count, **clock.extra}
    print(json.dumps({**result, "peak_rss_kib": peak, "start_rss_kib": start_rss}))


if __name__ == "__main__":
    main()
