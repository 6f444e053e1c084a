"""Ready-made file tools, confined to one root directory.

    agentkit run "Summarize notes.txt" -T files      # root: the current directory

In Python: `FileTools(root="data").tools()`. Paths are opened component by component from
the root's directory, never following a symbolic link (`O_NOFOLLOW` at every step), so the
check and the open are one step: another process swapping a directory for a link between
the two cannot lead a read or a write outside the root. Links inside the root are refused
too. Hard links cannot be told apart from ordinary files by their path: a hard link placed
inside the root by someone who can write there is read like any file. Reads are capped in
size; binary files are refused with a message; writing asks for approval.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from agentkit import Tool, tool

MAX_READ_BYTES = 256 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_RESULTS = 200
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block


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

    def parts(self, path: str) -> list[str]:
        """`path` as components below the root, `..` resolved; refused if it leaves the root."""
        if "\0" in path:
            raise ValueError("the path contains a NUL character")
        if posixpath.isabs(path):
            path = posixpath.relpath(posixpath.normpath(path), str(self.root))
        normal = posixpath.normpath(path)
        if normal == ".." or normal.startswith("../") or posixpath.isabs(normal):
            raise PermissionError(f"{path!r} is outside the allowed directory")
        return [part for part in normal.split("/") if part not in ("", ".")]

    @contextmanager
    def directory(self, parts: list[str], *, create: bool = False) -> Iterator[int]:
        """A file descriptor of the directory `parts` below the root, opened link-free."""
        fd = os.open(self.root, _DIRECTORY)
        try:
            for part in parts:
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                child = _opened(part, _DIRECTORY, fd, "/".join(parts))
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def read_file(self, path: str) -> str:
        """Read a text file.

        Args:
            path: The file, relative to the working directory.
        """
        *folders, name = self.parts(path) or ["."]
        with self.directory(folders) as parent:
            fd = _opened(name, _READ, parent, path)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise FileNotFoundError(f"{path!r} is not a file")
                data = handle.read(self.max_read_bytes)
        text = _as_text(data, path)
        if info.st_size > self.max_read_bytes:
            text += f"\n[truncated: showing {self.max_read_bytes} of {info.st_size} bytes]"
        return text

    def list_files(self, path: str = ".", pattern: str = "*") -> list[str]:
        """List the files and directories in a directory (directories end with '/').

        Args:
            path: The directory, relative to the working directory.
            pattern: A glob pattern the names must match, e.g. "*.py".
        """
        with self.directory(self.parts(path)) as fd, os.scandir(fd) as entries:
            names = sorted(
                _shown(entry.name) + _kind(entry)
                for entry in entries
                if fnmatch.fnmatchcase(entry.name, pattern)
            )
        return names[:MAX_RESULTS]

    def search_files(self, glob: str = "**/*", text: str | None = None) -> list[str]:
        """Find files by name pattern, and optionally by a text they contain.

        Args:
            glob: A glob pattern relative to the working directory, e.g. "src/**/*.py".
            text: Only files containing this text (case-sensitive).
        """
        pattern = [part for part in glob.split("/") if part not in ("", ".")]
        found: list[str] = []
        with self.directory([]) as root_fd:
            walk = os.fwalk(".", dir_fd=root_fd, follow_symlinks=False)
            for folder, dirs, names, folder_fd in walk:
                dirs.sort()
                for name in sorted(names):
                    relative = posixpath.normpath(posixpath.join(folder, name))
                    if not _glob_matches(pattern, relative.split("/")):
                        continue
                    if text is None or _contains(folder_fd, name, text, self.max_read_bytes):
                        found.append(_shown(relative))
                    if len(found) >= MAX_RESULTS:
                        return found
        return found

    def write_file(self, path: str, content: str, overwrite: bool = False) -> str:
        """Write a text file.

        Args:
            path: The file, relative to the working directory.
            content: The text to write.
            overwrite: Replace the file if it exists.
        """
        data = content.encode()
        if len(data) > MAX_WRITE_BYTES:
            raise ValueError(f"content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES}")
        *folders, name = self.parts(path) or ["."]
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        flags |= os.O_TRUNC if overwrite else os.O_EXCL  # O_EXCL: the check is the open
        with self.directory(folders, create=True) as parent:
            try:
                fd = _opened(name, flags, parent, path)
            except FileExistsError:
                raise FileExistsError(
                    f"{path!r} exists; pass overwrite=true to replace it"
                ) from None
            with os.fdopen(fd, "wb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise PermissionError(f"{path!r} is not a regular file")
                handle.write(data)
        return f"wrote {len(data)} bytes to {path}"


def _opened(name: str, flags: int, dir_fd: int, shown: str) -> int:
    try:
        return os.open(name, flags, 0o644, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP or (error.errno == errno.ENOTDIR and _is_link(name, dir_fd)):
            raise PermissionError(
                f"{shown!r} goes through a symbolic link; links are not followed, as they "
                "could lead outside the allowed directory"
            ) from None
        if error.errno == errno.ENOENT:
            raise FileNotFoundError(f"{shown!r} does not exist") from None
        raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "@"  # a link: listed, never followed
    return "/" if entry.is_dir(follow_symlinks=False) else ""


def _shown(name: str) -> str:
    """A file name as text; one that is not valid UTF-8 is escaped and marked."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        escaped = os.fsencode(name).decode("utf-8", "backslashreplace")
        return f"{escaped} (this name is not valid UTF-8)"
    return name


def _glob_matches(pattern: list[str], path: list[str]) -> bool:
    """Whether path components match glob components (`**` is any number of directories)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_matches(rest, path[start:]) for start in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _glob_matches(rest, path[1:])


def _as_text(data: bytes, path: str) -> str:
    if b"\0" in data[:8192]:
        raise ValueError(f"{path!r} is a binary file; only text files can be read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:  # a character cut by the size limit
            return data[: error.start].decode("utf-8")
        raise ValueError(f"{path!r} is not UTF-8 text") from None


def _contains(dir_fd: int, name: str, text: str, limit: int) -> bool:
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        return text.encode() in handle.read(limit)


_default = FileTools(Path.cwd())
read_file, list_files, search_files, write_file = _default.tools()
