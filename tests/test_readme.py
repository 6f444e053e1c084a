"""The README's two set-up commands stay true: CI runs the test command exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.DOTALL)[:2]


def test_readme_starts_with_the_two_commands() -> None:
    main_job, test_suite = readme_commands()
    assert main_job.startswith("python3 -m venv .venv && ")
    for step in ("ruff check", "mypy", "pytest"):
        assert step in test_suite


def test_ci_runs_the_readme_test_command_exactly() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_the_suite_needs_nothing_beside_the_checkout() -> None:
    """Both wire schemas are in the repository, and no test reads ../shared."""
    import pathlib

    tests = pathlib.Path(__file__).parent
    for name in ("chat-completions.schema.json", "aimlapi-gpt-5-2-chat-latest.schema.json"):
        assert (tests / "data" / "spec" / name).is_file()
    for source in tests.rglob("*.py"):
        if source == pathlib.Path(__file__):
            continue
        text = source.read_text()
        assert '"shared"' not in text, source
        assert "../shared" not in text, source


def test_the_first_example_runs_offline_as_the_readme_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The tool definition of the first example, then the offline variant shown beside it."""
    first, offline = re.findall(r"```python\n(.+?)```", (ROOT / "README.md").read_text(), re.S)[:2]
    definitions = first.split("agent = Agent(")[0]
    exec(compile(definitions + offline, "README.md", "exec"), {})
    assert capsys.readouterr().out == "Paris: 21 °C.\n"


def test_the_provider_lines_name_real_providers() -> None:
    """The README's OpenAI and local-server lines make agents (no request is sent)."""
    blocks = re.findall(r"```python\n(.+?)```", (ROOT / "README.md").read_text(), re.S)
    definitions = blocks[0].split("agent = Agent(")[0]
    providers = [block for block in blocks if 'Agent("' in block]
    assert len(providers) == 2
    for block in providers:
        namespace: dict[str, object] = {}
        exec(compile(definitions + block, "README.md", "exec"), namespace)
        assert "agent" in namespace
