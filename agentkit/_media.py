"""Layer 1 (conversation data): images, documents and audio, as parts of messages.

```python
from agentkit import Agent, Document, Image

agent.run(["What is in this picture?", Image.from_path("photo.png")])
extract(Invoice, Document.from_path("invoice.pdf"))
```

A part holds its content once, as base64 text (`data`), or names it by `url` or by the
provider's `file_id`. The media type of a file or of bytes is read from the content itself,
never from a file name. A file over its kind's limit is refused before it is read. How a part
travels is the dialect's business (`models/_chat_wire`, `models/_responses_wire`); which parts
a model takes is its profile's (`ModelProfile.media`).
"""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, model_validator

from ._exceptions import ConfigurationError

__all__ = [
    "MEDIA_LIMITS",
    "Audio",
    "Document",
    "Image",
    "MediaKind",
    "attachment",
    "attachment_of_bytes",
    "sniff",
]

MediaKind = Literal["image", "document", "audio"]

MB = 1024 * 1024
MEDIA_LIMITS: dict[str, int] = {"image": 20 * MB, "document": 32 * MB, "audio": 25 * MB}
"""Bytes a file of each kind may have (OpenAI's limits); `max_bytes=` raises one."""

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),  # after RIFF and a size
    (0, b"%PDF-", "application/pdf"),
    (8, b"WAVE", "audio/wav"),  # after RIFF and a size
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"\xff\xf2", "audio/mpeg"),
)
"""The formats providers take, by the bytes they start with (only what is needed here)."""


def sniff(content: bytes) -> str | None:
    """The media type `content` starts like, among the formats models take; None otherwise."""
    for offset, signature, media_type in _SIGNATURES:
        if offset == 8 and not content.startswith(b"RIFF"):
            continue
        if content[offset : offset + len(signature)] == signature:
            return media_type
    return None


class _Media(BaseModel):
    """What images, documents and audio share (see the module docs)."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: ClassVar[str]
    accepted: ClassVar[frozenset[str]]

    media_type: str = ""
    """`image/png`, `application/pdf`, `audio/wav`...; empty for a URL that does not say."""
    data: str | None = None
    """The content, base64-encoded (held once: the bytes are not kept beside it)."""
    url: str | None = None
    """Where the provider fetches it (http or https)."""
    file_id: str | None = None
    """A file uploaded to the provider (`file-...`)."""
    filename: str | None = None
    size: int | None = None
    """Bytes of content, when known (files and bytes)."""

    @model_validator(mode="after")
    def _one_source(self) -> _Media:
        given = [name for name in ("data", "url", "file_id") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                f"a {self.kind} needs exactly one of data, url or file_id (given: "
                f"{', '.join(given) or 'none'}); build it with from_path, from_bytes, "
                "from_url or from_file_id"
            )
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"a {self.kind} URL must be http or https, not {self.url[:60]!r}")
        return self

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, max_bytes: int | None = None,
                  **options: Any) -> Any:  # fmt: skip
        """The file at `path`, read whole; its type read from its content.

        Raises:
            ConfigurationError: No such file, a file over the limit (checked before reading),
                or content that is not one of this kind's formats.
        """
        file = Path(path)
        limit = max_bytes if max_bytes is not None else MEDIA_LIMITS[cls.kind]
        try:
            size = file.stat().st_size
        except OSError as error:
            raise ConfigurationError(f"cannot read {file}: {error.strerror}") from None
        if not file.is_file():
            raise ConfigurationError(f"{file} is not a regular file")
        if size > limit:
            raise ConfigurationError(
                f"{file} is {size / MB:.1f} MB, over the {limit / MB:g} MB limit for a "
                f"{cls.kind}; pass max_bytes= to allow more"
            )
        options.setdefault("filename", file.name)
        with file.open("rb") as handle:
            head = handle.read(16)
            _check_kind(cls, sniff(head), options.get("filename"))
            handle.seek(0)
            encoded, size = _base64_of(handle, limit, str(file))
        return cls(media_type=sniff(head), data=encoded, size=size, **options)

    @classmethod
    def from_bytes(cls, content: bytes, **options: Any) -> Any:
        """`content`, its type read from its first bytes (see `sniff`)."""
        media_type = sniff(content[:16])
        _check_kind(cls, media_type, options.get("filename"))
        encoded = base64.b64encode(content).decode("ascii")
        return cls(media_type=media_type, data=encoded, size=len(content), **options)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Any:
        """A part the provider fetches from `url` (sent as the URL, never downloaded here)."""
        guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
        options.setdefault("media_type", guessed if guessed in cls.accepted else "")
        return cls(url=url, **options)

    @classmethod
    def from_file_id(cls, file_id: str, **options: Any) -> Any:
        """A file already uploaded to the provider."""
        return cls(file_id=file_id, **options)

    # -- reading --------------------------------------------------------------------------

    def data_url(self) -> str:
        """`data:<type>;base64,<data>`, or the URL (what `image_url` / `file_data` carry)."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.media_type};base64,{self.data}"

    def describe(self) -> str:
        """A short line for people and traces: kind, type, size, name (never the content)."""
        bits = [self.media_type or self.kind]
        if self.size is not None:
            bits.append(f"{self.size / 1024:.1f} KB")
        if self.filename:
            bits.append(self.filename)
        elif self.url:
            bits.append(self.url[:80])
        elif self.file_id:
            bits.append(self.file_id)
        return f"{self.kind} ({', '.join(bits)})"


class Image(_Media):
    """An image: PNG, JPEG, GIF or WebP."""

    kind: ClassVar[str] = "image"
    accepted: ClassVar[frozenset[str]] = frozenset(
        {"image/png", "image/jpeg", "image/gif", "image/webp"}
    )
    type: Literal["image"] = "image"
    detail: Literal["auto", "low", "high"] | None = None
    """How closely the model looks (`low` is cheaper)."""


class Document(_Media):
    """A document: PDF."""

    kind: ClassVar[str] = "document"
    accepted: ClassVar[frozenset[str]] = frozenset({"application/pdf"})
    type: Literal["document"] = "document"


class Audio(_Media):
    """A sound recording: WAV or MP3 (sent inline: the dialects take no audio URL)."""

    kind: ClassVar[str] = "audio"
    accepted: ClassVar[frozenset[str]] = frozenset({"audio/wav", "audio/mpeg"})
    type: Literal["audio"] = "audio"

    @property
    def format(self) -> Literal["wav", "mp3"]:
        """`wav` or `mp3`, as `input_audio.format` names them."""
        return "mp3" if self.media_type == "audio/mpeg" else "wav"


_KINDS: dict[str, type[_Media]] = {"image": Image, "document": Document, "audio": Audio}
_CHUNK = 3 * 1024 * 1024
"""Bytes read and encoded at a time (a multiple of 3: the pieces join into one base64)."""


def _check_kind(kind: type[_Media], media_type: str | None, name: str | None) -> None:
    if media_type not in kind.accepted:
        what = f"reads as {media_type}" if media_type else "is of no format models take"
        raise ConfigurationError(
            f"{name or 'the content'} is not a usable {kind.kind}: its content {what} (a "
            f"{kind.kind} is {' or '.join(sorted(kind.accepted))}){_other_kind(media_type)}"
        )


def _base64_of(handle: BinaryIO, limit: int, name: str) -> tuple[str, int]:
    """A file's content as base64 text, read a piece at a time.

    The whole raw content is never held beside its encoding, and a file that grew past
    `limit` since its size was checked is refused, not read on.
    """
    pieces, size = [], 0
    while chunk := handle.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ConfigurationError(f"{name} grew past the {limit / MB:g} MB limit while read")
        pieces.append(base64.b64encode(chunk).decode("ascii"))
    return "".join(pieces), size


def _other_kind(media_type: str | None) -> str:
    for name, kind in _KINDS.items():
        if media_type in kind.accepted:
            return f"; use {kind.__name__}.from_... for a {name}"
    return ""


def attachment_of_bytes(
    content: bytes, *, filename: str | None = None, max_bytes: int | None = None
) -> Any:
    """An `Image`, `Document` or `Audio` of `content`, its kind read from its first bytes.

    Raises:
        ConfigurationError: Content of no kind models take, or over its kind's limit.
    """
    media_type = sniff(content[:16])
    for kind in _KINDS.values():
        if media_type in kind.accepted:
            limit = max_bytes if max_bytes is not None else MEDIA_LIMITS[kind.kind]
            if len(content) > limit:
                raise ConfigurationError(
                    f"{filename or 'the content'} is {len(content) / MB:.1f} MB, over the "
                    f"{limit / MB:g} MB limit for a {kind.kind}"
                )
            return kind.from_bytes(content, filename=filename)
    raise ConfigurationError(
        f"{filename or 'the content'} is not an image (PNG, JPEG, GIF, WebP), a PDF or audio "
        "(WAV, MP3), by its content"
    )


def attachment(source: str | os.PathLike[str], *, max_bytes: int | None = None) -> Any:
    """An `Image`, `Document` or `Audio`, as `agentkit run -a` takes it.

    From a path, its kind is read from its content; from an http(s) URL, from its name
    (`.png`, `.pdf`...).

    Raises:
        ConfigurationError: A file that cannot be read, is over its limit or is of no kind
            models take; a URL whose name does not say its kind.
    """
    text = os.fspath(source)
    if urlsplit(text).scheme in ("http", "https"):
        guessed = mimetypes.guess_type(urlsplit(text).path)[0]
        for kind in _KINDS.values():
            if guessed in kind.accepted:
                return kind.from_url(text)
        raise ConfigurationError(
            f"{text[:80]}: its name does not say whether it is an image, a PDF or audio; "
            "download it and attach the file"
        )
    file = Path(text)
    try:
        with file.open("rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise ConfigurationError(f"cannot read {file}: {error.strerror}") from None
    media_type = sniff(head)
    for kind in _KINDS.values():
        if media_type in kind.accepted:
            return kind.from_path(file, max_bytes=max_bytes)
    raise ConfigurationError(
        f"{file} is not an image (PNG, JPEG, GIF, WebP), a PDF or audio (WAV, MP3), by its content"
    )
