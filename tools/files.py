"""Ready-made file tools, confined to one root directory.

    agentkit run "Summarize notes.txt" -T tools/files.py      # root: the current directory

In Python: `FileTools(root="data").tools()`. Every path is resolved (symbolic links followed)
and refused unless it stays inside the root; reads are capped in size; binary files are
refused with a message; writing asks for approval.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from agentkit import Tool, tool

MAX_READ_BYTES = 256 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_RESULTS = 200


class FileTools:
    """File tools bound to a root directory."""

    def __init__(
        self, root: str | os.PathLike[str] = ".", *, max_read_bytes: int = MAX_READ_BYTES
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ValueError(f"root {self.root} is not a directory")
        self.max_read_bytes = max_read_bytes

    def tools(self) -> list[Tool[..., Any]]:
        """The tools, bound to this root."""
        return [
            tool(self.read_file),
            tool(self.list_files),
            tool(self.search_files),
            tool(self.write_file, requires_approval=True),
        ]

    def resolve(self, path: str) -> Path:
        """The real path of `path` (relative to the root), refused if it leaves the root."""
        candidate = (self.root / path).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            raise PermissionError(f"{path!r} is outside the allowed directory")
        return candidate

    def read_file(self, path: str) -> str:
        """Read a text file.

        Args:
            path: The file, relative to the working directory.
        """
        target = self.resolve(path)
        if not target.is_file():
            raise FileNotFoundError(f"{path!r} is not a file")
        size = target.stat().st_size
        with target.open("rb") as handle:
            data = handle.read(self.max_read_bytes)
        text = _as_text(data, path)
        if size > self.max_read_bytes:
            text += f"\n[truncated: showing {self.max_read_bytes} of {size} bytes]"
        return text

    def list_files(self, path: str = ".", pattern: str = "*") -> list[str]:
        """List the files and directories in a directory (directories end with '/').

        Args:
            path: The directory, relative to the working directory.
            pattern: A glob pattern the names must match, e.g. "*.py".
        """
        directory = self.resolve(path)
        if not directory.is_dir():
            raise NotADirectoryError(f"{path!r} is not a directory")
        names = sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in directory.iterdir()
            if fnmatch.fnmatch(entry.name, pattern)
        )
        return names[:MAX_RESULTS]

    def search_files(self, glob: str = "**/*", text: str | None = None) -> list[str]:
        """Find files by name pattern, and optionally by a text they contain.

        Args:
            glob: A glob pattern relative to the working directory, e.g. "src/**/*.py".
            text: Only files containing this text (case-sensitive).
        """
        found: list[str] = []
        for candidate in sorted(self.root.glob(glob)):
            real = candidate.resolve()
            if not real.is_relative_to(self.root) or not real.is_file():
                continue  # a link out of the root, or a directory
            if text is not None and not _contains(real, text, self.max_read_bytes):
                continue
            found.append(str(candidate.relative_to(self.root)))
            if len(found) >= MAX_RESULTS:
                break
        return found

    def write_file(self, path: str, content: str, overwrite: bool = False) -> str:
        """Write a text file.

        Args:
            path: The file, relative to the working directory.
            content: The text to write.
            overwrite: Replace the file if it exists.
        """
        target = self.resolve(path)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{path!r} exists; pass overwrite=true to replace it")
        data = content.encode()
        if len(data) > MAX_WRITE_BYTES:
            raise ValueError(f"content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"wrote {len(data)} bytes to {path}"


def _as_text(data: bytes, path: str) -> str:
    if b"\0" in data[:8192]:
        raise ValueError(f"{path!r} is a binary file; only text files can be read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:  # a character cut by the size limit
            return data[: error.start].decode("utf-8")
        raise ValueError(f"{path!r} is not UTF-8 text") from None


def _contains(path: Path, text: str, limit: int) -> bool:
    try:
        with path.open("rb") as handle:
            return text.encode() in handle.read(limit)
    except OSError:
        return False


_default = FileTools(Path.cwd())
read_file, list_files, search_files, write_file = _default.tools()
