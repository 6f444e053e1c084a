"""Attachments of batch items: `{"prompt": "...", "attachments": ["scan.pdf", "https://..."]}`.

A batch file comes from anywhere (an export, a colleague, a script), so its paths are not
trusted: a path is read relative to the attachments folder (by default the batch file's own
folder), and one that leads out of it, by `..`, an absolute path or a symbolic link, fails its
item instead of sending a file the user never chose (`~/.ssh/id_rsa`) to a provider. URLs go
to the provider as URLs.

Each file is journalled by its content hash when the batch reads its input: a resumed batch
whose attachment changed runs that item again, and a file that changes between the reading
and the run fails the item rather than send what was not journalled.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentkit._exceptions import ConfigurationError
from agentkit._media import attachment

__all__ = ["ATTACHMENTS_FIELD", "load_attachments", "resolve_attachments"]

ATTACHMENTS_FIELD = "attachments"
_MAX_ATTACHMENTS = 32
_CHUNK = 1024 * 1024


def resolve_attachments(record: dict[str, Any], root: Path) -> dict[str, Any]:
    """`record` with its attachments checked and each file named by path and content hash.

    Raises:
        ConfigurationError: Not a list of strings, too many, a path out of `root`, a file
            that cannot be read.
    """
    given = record.get(ATTACHMENTS_FIELD)
    if given is None:
        return record
    if not isinstance(given, list) or not all(isinstance(each, str) for each in given):
        raise ConfigurationError(f'"{ATTACHMENTS_FIELD}" must be a list of paths or URLs')
    if len(given) > _MAX_ATTACHMENTS:
        raise ConfigurationError(f"{len(given)} attachments; an item may have {_MAX_ATTACHMENTS}")
    base = root.resolve()
    resolved = [_resolved(each, base) for each in given]
    return {**record, ATTACHMENTS_FIELD: resolved}


def _resolved(entry: str, base: Path) -> dict[str, str]:
    if urlsplit(entry).scheme in ("http", "https"):
        return {"url": entry}
    path = Path(entry)
    if path.is_absolute():
        raise ConfigurationError(
            f"attachment {entry!r} is an absolute path; name files relative to {base}"
        )
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        raise ConfigurationError(
            f"attachment {entry!r} leads out of {base} (through .. or a symbolic link); a "
            "batch file may attach only files in its attachments folder"
        )
    return {"path": str(target), "sha256": _sha256(target, entry)}


def _sha256(path: Path, entry: str) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise ConfigurationError(f"attachment {entry!r}: {error.strerror}") from None
    return digest.hexdigest()


def load_attachments(record: Any) -> list[Any]:
    """The parts a resolved record attaches, read now, each checked against its hash."""
    if not isinstance(record, dict):
        return []
    parts = []
    for each in record.get(ATTACHMENTS_FIELD) or []:
        if "url" in each:
            parts.append(attachment(each["url"]))
            continue
        part = attachment(each["path"])
        if _sha256(Path(each["path"]), each["path"]) != each["sha256"]:
            raise ConfigurationError(
                f"attachment {each['path']} changed after the batch read its input; run the "
                "batch again (with --resume) to journal the new content"
            )
        parts.append(part)
    return parts
