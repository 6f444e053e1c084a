"""The documentation site builds in strict mode, and its Python snippets are valid code."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").rglob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_site_builds_strictly(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "index.html").exists()
    check_snippets_were_included(tmp_path / "site")


INCLUDE = re.compile(r'^-+8\s*<\s*-+\s*"([^"]+)"', re.MULTILINE)
MARKER_LEFT = re.compile(r"-+8\s*(?:<|&lt;)\s*-+")


def check_snippets_were_included(site: Path) -> None:
    """Every `--8<--` include shows its file in the built page, and no marker is left.

    `mkdocs build --strict` does not notice an include a formatter mangled (`--8 < --`): the
    page then shows the marker as text. Read the built HTML instead.
    """
    import html

    for page in PAGES:
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        folder = relative.parent if relative.name == "index" else relative
        built = site / folder / "index.html"
        text = html.unescape(built.read_text())
        assert not MARKER_LEFT.search(text), f"{page.name}: an include marker is left in the page"
        for included in INCLUDE.findall(page.read_text()):
            lines = (ROOT / included).read_text().splitlines()
            telling = next(line.strip() for line in lines if len(line.strip()) > 20)
            visible = re.sub(r"<[^>]+>", "", text)
            assert telling in visible, f"{page.name}: {included} is not shown in the page"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_snippets_compile(page: Path) -> None:
    for number, block in enumerate(BLOCK.findall(page.read_text()), start=1):
        if block.startswith("--8<--"):
            continue  # included from examples/, which run in test_examples.py
        try:
            compile(block, f"{page.name}#{number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as error:
            pytest.fail(f"{page.name}, python block {number}: {error}")


def test_the_testing_page_examples_run() -> None:
    """FakeModel and FunctionModel as docs/testing.md shows them (their asserts included)."""
    fake, function = BLOCK.findall((ROOT / "docs" / "testing.md").read_text())[:2]
    namespace: dict[str, object] = {}
    exec(compile(fake + function, "docs/testing.md", "exec"), namespace)
    assert "result" in namespace
