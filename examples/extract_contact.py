"""Extract a validated contact card from free text.

    python examples/extract_contact.py ["some text"]

With AIMLAPI_API_KEY set, AI/ML API does the extraction; without it, a scripted FakeModel
plays the model, first with a mistake (a bad email) that agentkit sends back for correction.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import anyio
from pydantic import BaseModel, Field

from agentkit import Extractor
from agentkit.testing import FakeModel, Reply

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Contact(BaseModel):
    """A person's contact card."""

    name: str
    email: Email | None = None
    phone: str | None = None
    company: str | None = None


TEXT = "Met Ada Lovelace (Analytical Engines Ltd): ada@engines.example, +44 20 7946 0958."


def offline_model() -> FakeModel:
    card = {
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0958",
        "company": "Analytical Engines Ltd",
    }
    return FakeModel(
        [
            Reply.tool_calls(("Contact", {**card, "email": "ada at engines"})),  # invalid
            Reply.tool_calls(("Contact", {**card, "email": "ada@engines.example"})),
        ]
    )


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else TEXT
    model = None if os.environ.get("AIMLAPI_API_KEY") else offline_model()
    result = anyio.run(Extractor(Contact, model=model, seed=1).run, text)
    for number, attempt in enumerate(result.attempts, start=1):
        for error in attempt.errors:
            print(f"attempt {number} was sent back: {error}", file=sys.stderr)
    print(result.value.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
