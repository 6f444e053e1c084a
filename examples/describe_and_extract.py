"""Images and PDFs: an agent describes a picture, an extraction reads a PDF invoice.

python examples/describe_and_extract.py

Both files are made on the spot (a PNG and a one-page PDF), and the local test server plays
the model, checking that every request is valid Chat Completions; with a key, point the same
code at a real vision model (`Agent("openai:gpt-4.1")`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel

from agentkit import Agent, Document, Image, extract_sync
from agentkit.testing import MockChatServer, Reply, make_pdf, make_png


class Invoice(BaseModel):
    number: str
    total: float
    currency: str


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "square.png").write_bytes(make_png(rgb=(200, 40, 40)))
    (folder / "invoice.pdf").write_bytes(make_pdf("Invoice INV-7", "Total: 42.50 EUR"))

    script = [
        Reply.text("A small red square."),
        Reply.tool_calls(("Invoice", {"number": "INV-7", "total": 42.5, "currency": "EUR"})),
    ]
    with MockChatServer(script) as server:
        agent = Agent(server.chat_model())
        picture = Image.from_path(folder / "square.png")
        print(picture.describe(), "->", agent.run_sync(["What is this?", picture]).output)

        invoice = extract_sync(
            Invoice, Document.from_path(folder / "invoice.pdf"), model=server.chat_model(),
            mode="tool",
        )  # fmt: skip
        print("invoice.pdf ->", invoice)

        sent = server.requests[1].messages[-1]["content"][0]
        print("the PDF went as a", sent["type"], "part named", sent["file"]["filename"])


if __name__ == "__main__":
    main()
