"""tools/files.py stays inside its root: `..`, absolute paths and symbolic links are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentkit import Agent, LoopPolicy
from agentkit.testing import FakeModel, Reply

from .ready_tools import load

files = load("files")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "docs").mkdir(parents=True)
    (base / "docs" / "a.txt").write_text("alpha beta\n")
    (base / "docs" / "b.md").write_text("gamma\n")
    (base / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (tmp_path / "secret.txt").write_text("top secret")
    return base


@pytest.fixture
def tools(root: Path) -> object:
    return files.FileTools(root)


def test_reads_lists_and_searches(tools: object) -> None:
    assert tools.read_file("docs/a.txt") == "alpha beta\n"  # type: ignore[attr-defined]
    assert tools.list_files() == ["docs/", "image.png"]  # type: ignore[attr-defined]
    assert tools.list_files("docs", "*.md") == ["b.md"]  # type: ignore[attr-defined]
    assert tools.search_files("**/*.txt") == ["docs/a.txt"]  # type: ignore[attr-defined]
    assert tools.search_files("**/*", text="gamma") == ["docs/b.md"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["../secret.txt", "docs/../../secret.txt", "/etc/passwd", "~/.ssh/id_rsa"]
)
def test_escapes_are_refused(tools: object, path: str) -> None:
    with pytest.raises((PermissionError, FileNotFoundError)) as caught:
        tools.read_file(path)  # type: ignore[attr-defined]
    if path.startswith(("..", "docs/..", "/")):
        assert "outside the allowed directory" in str(caught.value)


def test_symlinks_out_of_the_root_are_refused(root: Path, tools: object) -> None:
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    os.symlink(root.parent, root / "up")
    with pytest.raises(PermissionError, match="outside"):
        tools.read_file("link.txt")  # type: ignore[attr-defined]
    with pytest.raises(PermissionError, match="outside"):
        tools.read_file("up/secret.txt")  # type: ignore[attr-defined]
    assert "link.txt" not in tools.search_files("**/*", text="secret")  # type: ignore[attr-defined]
    with pytest.raises(PermissionError, match="outside"):
        tools.write_file("up/new.txt", "x")  # type: ignore[attr-defined]


def test_binary_files_are_refused(tools: object) -> None:
    with pytest.raises(ValueError, match="binary file"):
        tools.read_file("image.png")  # type: ignore[attr-defined]


def test_size_limit(root: Path) -> None:
    (root / "big.txt").write_text("x" * 5000)
    small = files.FileTools(root, max_read_bytes=1000)
    text = small.read_file("big.txt")
    assert text.startswith("x" * 1000)
    assert "[truncated: showing 1000 of 5000 bytes]" in text


def test_write_needs_overwrite_to_replace(tools: object, root: Path) -> None:
    assert tools.write_file("out/new.txt", "hello") == "wrote 5 bytes to out/new.txt"  # type: ignore[attr-defined]
    assert (root / "out" / "new.txt").read_text() == "hello"
    with pytest.raises(FileExistsError, match="overwrite"):
        tools.write_file("out/new.txt", "again")  # type: ignore[attr-defined]


def test_writing_asks_for_approval_and_is_denied_without_it(root: Path) -> None:
    made = {each.name: each for each in files.FileTools(root).tools()}
    assert made["write_file"].requires_approval
    assert not made["read_file"].requires_approval
    model = FakeModel([Reply.tool_calls(("write_file", {"path": "x.txt", "content": "hi"})), "ok"])
    Agent(model, tools=list(made.values()), policy=LoopPolicy()).run_sync("write")
    assert not (root / "x.txt").exists()


def test_errors_reach_the_model_as_messages(root: Path) -> None:
    model = FakeModel([Reply.tool_calls(("read_file", {"path": "../secret.txt"})), "ok"])
    result = Agent(model, tools=files.FileTools(root).tools()).run_sync("read")
    content = result.messages[2].content
    assert "outside the allowed directory" in str(content)
    assert "top secret" not in str(content)


def test_module_tools_are_rooted_at_the_current_directory() -> None:
    assert files._default.root == Path.cwd().resolve()
    assert {t.name for t in (files.read_file, files.list_files, files.search_files, files.write_file)} == {
        "read_file", "list_files", "search_files", "write_file",
    }  # fmt: skip
