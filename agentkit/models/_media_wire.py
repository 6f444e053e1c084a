"""Layer 3 (model boundary): images, documents and audio in each dialect's wire shape.

- `Image`: Chat Completions `image_url` (URL or `data:` URL); Responses `input_image` (URL,
  `data:` URL or `file_id`).
- `Document`: Chat Completions `file` (`file_data` as a `data:` URL, or `file_id`); Responses
  `input_file` (`file_data`, `file_url` or `file_id`).
- `Audio`: Chat Completions `input_audio` (base64, `wav` or `mp3`); Responses takes no audio.

A part a model's profile does not list in `media`, or a form the dialect has no field for
(a document URL on Chat Completions, an image file id there), is refused before the request
is sent with a `ConfigurationError` naming the model and the part.

Tool results: Chat Completions tool messages are text only, so the media of the tool messages
that answer one turn follow them in one user message that names each call they belong to.
Responses carries them in the `function_call_output` itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from agentkit._exceptions import ConfigurationError
from agentkit._media import Audio, Document, Image
from agentkit._messages import ImagePart, TextPart, ToolMessage

from ._profile import ModelProfile

__all__ = [
    "Spliced",
    "chat_part",
    "chat_tool_media",
    "check_media",
    "describe_part",
    "responses_part",
]

SPLICE_AT = 64 * 1024
"""Base64 contents at least this long are written beside the JSON body, not copied into it."""


class Spliced:
    """Large base64 contents left out of a request's JSON and written beside it.

    The body holds a token in each one's place; `payload` cuts the serialized body at the
    tokens and puts each content between the pieces: the content is encoded to bytes once,
    never copied into a `data:` URL string and then again into the JSON text.
    """

    def __init__(self) -> None:
        self.held: list[tuple[str, str, str]] = []

    def hold(self, prefix: str, data: str) -> str:
        """`prefix + data` as the JSON string's value, or a token standing for it."""
        if len(data) < SPLICE_AT:
            return prefix + data
        token = f"@@agentkit-part-{len(self.held)}-{secrets.token_hex(8)}@@"
        self.held.append((token, prefix, data))
        return token

    def payload(self, body: bytes) -> bytes | list[bytes]:
        """The body to send: itself, or its pieces with the contents between them."""
        if not self.held:
            return body
        pieces: list[bytes] = []
        rest = body
        for token, prefix, data in self.held:
            before, found, rest = rest.partition(token.encode("ascii"))
            if not found:
                raise AssertionError("a held attachment's place is missing from the body")
            pieces += [before, prefix.encode("ascii"), data.encode("ascii")]
        pieces.append(rest)
        return pieces


def check_media(parts: Iterable[object], profile: ModelProfile, model: str) -> None:
    """Refuse a part `model` does not take (its profile's `media`), before anything is sent."""
    for part in parts:
        if not isinstance(part, Image | Document | Audio):
            continue
        if part.kind not in profile.media:
            takes = ", ".join(sorted(profile.media)) or "no attachments"
            raise ConfigurationError(
                f"{model} does not take a {part.kind}: {part.describe()} was not sent (its "
                f"profile takes: {takes}); choose a model that does, or set its profile's media "
                "if it does after all"
            )
        limit = profile.max_media_bytes
        if limit is not None and part.size is not None and part.size > limit:
            raise ConfigurationError(
                f"{model} takes attachments of up to {limit} bytes: {part.describe()} was not "
                "sent; make it smaller, or raise its profile's max_media_bytes"
            )


def chat_part(part: object, model: str, spliced: Spliced | None = None) -> dict[str, Any]:
    """A user message part in the Chat Completions shape."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": _image_url(part.url, part.detail)}
    if isinstance(part, Image):
        if part.file_id is not None:
            raise _no_form(model, part, "an image by file id", "by URL or inline")
        return {"type": "image_url", "image_url": _image_url(_url(part, spliced), part.detail)}
    if isinstance(part, Document):
        if part.url is not None:
            raise _no_form(model, part, "a document by URL", "inline or by file id")
        if part.file_id is not None:
            return {"type": "file", "file": {"file_id": part.file_id}}
        name = part.filename or "document.pdf"
        return {"type": "file", "file": {"file_data": _url(part, spliced), "filename": name}}
    if isinstance(part, Audio):
        if part.data is None:
            raise _no_form(model, part, "audio by URL or file id", "inline only")
        data = spliced.hold("", part.data) if spliced is not None else part.data
        return {"type": "input_audio", "input_audio": {"data": data, "format": part.format}}
    raise ConfigurationError(f"a message part of type {type(part).__name__} cannot be sent")


def chat_tool_media(
    answers: list[ToolMessage], model: str, spliced: Spliced | None = None
) -> dict[str, Any]:
    """The user message that carries the media of `answers` (tool messages of one turn)."""
    content: list[dict[str, Any]] = []
    for answer in answers:
        content.append(
            {"type": "text", "text": f"The result of tool call {answer.tool_call_id} attached:"}
        )
        content += [chat_part(part, model, spliced) for part in answer.parts]
    return {"role": "user", "content": content}


def responses_part(part: object, model: str, spliced: Spliced | None = None) -> dict[str, Any]:
    """A message part (or a tool output part) in the Responses shape."""
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.url, "detail": part.detail or "auto"}
    if isinstance(part, Image):
        source = (
            {"file_id": part.file_id}
            if part.file_id is not None
            else {"image_url": _url(part, spliced)}
        )
        return {"type": "input_image", **source, "detail": part.detail or "auto"}
    if isinstance(part, Document):
        if part.url is not None:
            return {"type": "input_file", "file_url": part.url}
        if part.file_id is not None:
            return {"type": "input_file", "file_id": part.file_id}
        name = part.filename or "document.pdf"
        return {"type": "input_file", "file_data": _url(part, spliced), "filename": name}
    if isinstance(part, Audio):
        raise _no_form(model, part, "audio", "text, images and files", dialect="Responses")
    raise ConfigurationError(f"a message part of type {type(part).__name__} cannot be sent")


THUMBNAIL_BYTES = 48 * 1024
"""Images up to this size are kept whole in a timeline, as its page's thumbnails."""
_RASTER = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def describe_part(part: object, thumbnails: bool = False) -> dict[str, Any]:
    """A part as traces and timelines record it: text as it is, media by kind, type and size.

    Never the content: a base64 image would fill a span or a timeline line.
    """
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        url = part.url if not part.url.startswith("data:") else part.url[:40] + "…"
        return {"type": "image_url", "image_url": {"url": url}}
    if isinstance(part, Image | Document | Audio):
        described = {"type": part.kind, "attached": part.describe()}
        small = part.size is not None and part.size <= THUMBNAIL_BYTES
        raster = part.media_type in _RASTER  # never SVG: a picture, not a document
        if thumbnails and isinstance(part, Image) and part.data and small and raster:
            described["thumbnail"] = part.data_url()
        return described
    return {"type": type(part).__name__}


def _url(part: Image | Document, spliced: Spliced | None) -> str:
    """The part's `data:` URL (or URL), held out of the body when it is large."""
    if part.data is None or spliced is None:
        return part.data_url()
    return spliced.hold(f"data:{part.media_type};base64,", part.data)


def _image_url(url: str, detail: str | None) -> dict[str, Any]:
    image: dict[str, Any] = {"url": url}
    if detail is not None:
        image["detail"] = detail
    return image


def _no_form(
    model: str, part: Image | Document | Audio, what: str, takes: str,
    dialect: str = "Chat Completions",
) -> ConfigurationError:  # fmt: skip
    return ConfigurationError(
        f"{model} speaks {dialect}, which takes no {what}: {part.describe()} was not sent "
        f"(it takes them {takes}); attach the file (from_path / from_bytes), fetch it inline "
        "(agentkit.tools.web.fetch_attachment, or -a URL --inline), or use a model of the "
        "other dialect"
        if dialect == "Chat Completions"
        else f"{model} speaks {dialect}, which takes no {what}: {part.describe()} was not "
        f"sent (it takes {takes}); use a Chat Completions model for audio"
    )
