"""tools/files.py stays inside its root: `..`, absolute paths and symbolic links are refused."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from agentkit import Agent, LoopPolicy
from agentkit.testing import FakeModel, Reply
from tests.ready_tools import load

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


def test_a_directory_swapped_for_a_link_mid_call_never_leads_outside(tmp_path: Path) -> None:
    """Another process swaps a directory inside the root for a link to outside, repeatedly.

    Before: 1,932 of 20,000 reads returned the outside file. The check and the open are one
    step now (O_NOFOLLOW at every component), so none may.
    """
    import threading

    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.txt").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("OUTSIDE")
    tools = files.FileTools(root)
    assert tools.read_file("d/f.txt") == "inside"  # before the race: the file is readable
    stop = threading.Event()

    def swap() -> None:
        real, link, spare = root / "d", root / "link", root / "d-real"
        os.symlink(outside, link)
        while not stop.is_set():
            # write_file may create a fresh `d` in a gap: then a rename fails, and the next
            # round goes on from whatever is there.
            with contextlib.suppress(OSError):
                os.rename(real, spare)
                os.rename(link, real)  # d is now a link to outside
                os.rename(real, link)
                os.rename(spare, real)  # d is the real directory again

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen: set[str] = set()
    wrote_outside = False
    try:
        for attempt in range(3000):
            try:
                seen.add(tools.read_file("d/f.txt"))
            except (PermissionError, FileNotFoundError, NotADirectoryError):
                seen.add("refused")
            if attempt % 10 == 0:
                with contextlib.suppress(
                    PermissionError, FileNotFoundError, FileExistsError, NotADirectoryError
                ):
                    tools.write_file(f"d/new{attempt}.txt", "x")
                wrote_outside = wrote_outside or any(outside.glob("new*"))
    finally:
        stop.set()
        swapper.join()
    # Whether a read lands in a moment when `d` is real depends on the scheduler (and a
    # write may leave a fresh, empty `d` behind): only "never outside" is the promise.
    assert "OUTSIDE" not in seen
    assert not wrote_outside


def test_links_inside_the_root_are_listed_not_followed(root: Path, tools: object) -> None:
    os.symlink(root / "docs" / "a.txt", root / "alias.txt")
    assert "alias.txt@" in tools.list_files()  # type: ignore[attr-defined]
    with pytest.raises(PermissionError, match="symbolic link"):
        tools.read_file("alias.txt")  # type: ignore[attr-defined]


def test_a_name_that_is_not_utf8_is_marked_and_the_rest_listed(root: Path, tools: object) -> None:
    os.close(os.open(os.fsencode(root / "docs") + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY))
    listed = tools.list_files("docs")  # type: ignore[attr-defined]
    assert "a.txt" in listed
    assert "bad\\xff.txt (this name is not valid UTF-8)" in listed
    found = tools.search_files("docs/*")  # type: ignore[attr-defined]
    assert "docs/a.txt" in found
    assert "docs/bad\\xff.txt (this name is not valid UTF-8)" in found
    model = FakeModel([Reply.tool_calls(("list_files", {"path": "docs"})), "ok"])
    result = Agent(model, tools=files.FileTools(root).tools()).run_sync("list")
    assert "a.txt" in str(result.messages[2].content)


@pytest.mark.parametrize(
    "path", ["/proc/self/root/etc/passwd", "docs/\0x", "a" * 300, "docs/../../root/../secret.txt"]
)
def test_odd_paths_are_refused_with_a_message(tools: object, path: str) -> None:
    with pytest.raises((PermissionError, FileNotFoundError, ValueError, OSError)) as caught:
        tools.read_file(path)  # type: ignore[attr-defined]
    assert str(caught.value)


def test_fifos_and_devices_are_not_files(root: Path, tools: object) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(FileNotFoundError, match="not a file"):
        tools.read_file("pipe")  # type: ignore[attr-defined]
