"""Media workloads: a 20 MB PDF sent in one request, and 1,000 image extractions in a row.

What users run: `Document.from_path` / `Image.from_bytes`, then a real request through
`ChatModel` to the mock server (in its own process). Peak memory is Python's own
(tracemalloc), as a multiple of the file's size; the batch reports how much the process's
traced memory grew between the 100th and the 1,000th extraction.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from workloads import Clock

PDF_MB = 20


def _big_pdf(path: Path) -> int:
    """A 20 MB file that starts as a PDF (its body is filler: what is measured is the
    bytes' way through, not what a model would read)."""
    size = PDF_MB * 1024 * 1024
    with path.open("wb") as out:
        out.write(b"%PDF-1.4\n")
        block = bytes(range(256)) * 4096  # 1 MB
        written = 9
        while written < size:
            piece = block[: size - written]
            out.write(piece)
            written += len(piece)
    return size


async def big_pdf(work: Any, url: str, count: int) -> Clock:
    """`count` requests, each carrying the 20 MB PDF read from disk."""
    from agentkit import ChatModel, Document, TextPart, UserMessage
    from agentkit.models._base import ModelRequest

    path = Path(tempfile.mkdtemp()) / "big.pdf"
    size = _big_pdf(path)
    async with ChatModel(base_url=url, api_key="mock-key", model="mock-model") as model:
        await model.complete(ModelRequest(messages=[UserMessage(content="warm up")]))
        tracemalloc.start()
        peaks, seconds = [], []
        with Clock() as clock:
            for _ in range(count):
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                started = time.perf_counter()
                part = Document.from_path(path)
                request = ModelRequest(
                    messages=[UserMessage(content=(TextPart(text="Read"), part))]
                )
                await model.complete(request)
                seconds.append(time.perf_counter() - started)
                del part, request
                peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
    clock.extra["peak_x_file"] = max(peaks) / size
    clock.extra["ms_per_mb"] = sorted(seconds)[len(seconds) // 2] * 1000 / PDF_MB
    return clock


async def image_extractions(work: Any, url: str, count: int) -> Clock:
    """`count` extractions in a row, each from its own 100 KB image; memory growth after
    the first 100 is reported."""
    import os

    from pydantic import BaseModel

    from agentkit import ChatModel, Extractor, Image
    from agentkit.testing import make_png

    class Receipt(BaseModel):
        total: float

    picture = make_png(width=180, height=180)  # noise makes it incompressible below
    async with ChatModel(base_url=url, api_key="mock-key", model="mock-model") as model:
        extractor = Extractor(Receipt, model=model, mode="tool")
        tracemalloc.start()
        marks: dict[int, int] = {}
        with Clock() as clock:
            for number in range(1, count + 1):
                content = picture + os.urandom(100 * 1024)  # a fresh image each time
                await extractor.run(["The receipt:", Image.from_bytes(content)])
                if number in (100, count):
                    marks[number] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    clock.extra["growth_kib"] = (marks[count] - marks.get(100, marks[count])) / 1024
    return clock
