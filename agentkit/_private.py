"""Layer 0 (foundation): files only their user can read, and the per-user secret.

Everything agentkit saves for a person (sessions, the response cache, approval states, the
batch journal, traces) is theirs alone: the folders it makes are 700, the files 600, and it
never writes through a symbolic link (a symlinked store once added tables to another
program's database). The per-user secret (32 random bytes in the data folder, 600) keys the
MAC that seals approval states, so an edited state is found out before anything is shown.

Where the data folder is: `$AGENTKIT_DATA_DIR` if set; else the platform's place for user
data (`$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application Support` on
macOS, `%APPDATA%` on Windows) under `agentkit/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import IO

from ._exceptions import PrivateFileError

__all__ = [
    "PrivateFileError",
    "data_dir",
    "open_private",
    "private_file",
    "private_folder",
    "seal",
    "sealed",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_SECRET_NAME = "secret.key"


def data_dir() -> Path:
    """Where agentkit keeps its user's data (see the module docs)."""
    if os.environ.get("AGENTKIT_DATA_DIR"):
        return Path(os.environ["AGENTKIT_DATA_DIR"])
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "agentkit"


def private_folder(path: Path) -> Path:
    """Make `path` (and missing parents) as folders only their user may enter (700).

    A folder that exists already keeps its mode: it may be the user's own choice (`/tmp`).
    """
    missing = []
    for each in (path, *path.parents):
        if each.exists():
            break
        missing.append(each)
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            each.mkdir(mode=0o700)
    return path


def private_file(path: Path) -> Path:
    """Make `path` an existing regular file only its user may read (600), never a symlink.

    Raises:
        PrivateFileError: `path` is a symbolic link or not a regular file.
    """
    private_folder(path.parent)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | _NOFOLLOW, 0o600)
    except OSError as error:
        if path.is_symlink():
            raise PrivateFileError(_symlink(path)) from None
        raise PrivateFileError(f"{path}: cannot open it ({error.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise PrivateFileError(f"{path} is not a regular file; name a file for agentkit")
    finally:
        os.close(descriptor)
    return path


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open `path` for text writing (`"a"` or `"w"`), created 600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW
    flags |= os.O_APPEND if mode == "a" else os.O_TRUNC
    private_folder(path.parent)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        if path.is_symlink():
            raise PrivateFileError(_symlink(path)) from None
        raise PrivateFileError(f"{path}: cannot write it ({error.strerror})") from None
    return os.fdopen(descriptor, mode, encoding="utf-8")


def seal(payload: bytes) -> str:
    """A MAC of `payload`, keyed by this user's secret (made at first use)."""
    return hmac.new(_secret(), payload, hashlib.sha256).hexdigest()


def sealed(payload: bytes, mac: str) -> bool:
    """Whether `mac` is this user's seal of `payload` (compared in constant time)."""
    return hmac.compare_digest(seal(payload), mac)


def _secret() -> bytes:
    path = private_folder(data_dir()) / _SECRET_NAME
    if not path.exists() and not path.is_symlink():
        # Written whole under another name, then linked: a reader never sees half a key,
        # and when two processes race, the first link wins and both use its key.
        temporary = path.with_name(f".{_SECRET_NAME}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_bytes(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as error:
        raise PrivateFileError(f"{path}: cannot read agentkit's key ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        key = handle.read()
    if len(key) != 32:
        raise PrivateFileError(f"{path} is damaged; delete it (states sealed with it are void)")
    return key


def _symlink(path: Path) -> str:
    return (
        f"{path} is a symbolic link; agentkit does not write through links (it could change "
        "another program's file): name the real file, or remove the link"
    )
