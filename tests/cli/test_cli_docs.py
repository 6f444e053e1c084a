"""docs/cli.md's reference is the commands' --help, kept in step (regenerate with
AGENTKIT_UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from agentkit.cli import _parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
MARKER = "<!-- Generated from --help by tests/cli/test_cli_docs.py; do not edit below. -->"


def help_texts(parser: argparse.ArgumentParser, prefix: str = "agentkit") -> list[tuple[str, str]]:
    texts = [(prefix, parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                texts += help_texts(sub, f"{prefix} {name}")
    return texts


def reference() -> str:
    parts = [
        f"### `{command}`\n\n```text\n{text.rstrip()}\n```\n"
        for command, text in help_texts(_parser())
    ]
    return "\n".join(parts)


def test_cli_reference_matches_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    generated = reference()
    text = DOC.read_text()
    head, marker, body = text.partition(MARKER)
    assert marker, f"{DOC} lost its marker line"
    if os.environ.get("AGENTKIT_UPDATE_SNAPSHOTS") == "1":
        DOC.write_text(f"{head}{MARKER}\n\n{generated}")
        body = f"\n\n{generated}"
    assert body.strip() == generated.strip(), (
        "docs/cli.md is stale: AGENTKIT_UPDATE_SNAPSHOTS=1 pytest tests/cli/test_cli_docs.py"
    )
