"""Layer 5 (edges): `agentkit extract`: one validated object from a file, stdin or attachments."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
from pydantic_core import to_json

from agentkit._extract import Extractor

from ._common import (
    ExitCode,
    UsageError,
    add_attach_option,
    attachments,
    read_text,
    say,
    settings_of,
    short,
)
from ._models import chat_model
from ._schema import schema_type

__all__ = ["add_extract_command"]


def add_extract_command(commands: Any, add_common: Any, add_model_options: Any) -> None:
    """Register `agentkit extract`."""
    extract = commands.add_parser(
        "extract", help="extract a validated object from text",
        description="Extract one object of a type from a file (or stdin); print it as JSON.",
    )  # fmt: skip
    extract.add_argument(
        "--schema", required=True,
        help="what to extract: fields ('name, age int, bio: a short bio'), a JSON Schema "
        "file, or module:Model / path/to/file.py:Model",
    )  # fmt: skip
    extract.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    extract.add_argument("--retries", type=int, default=2, help="correction rounds (2)")
    add_attach_option(extract)
    add_model_options(extract)
    add_common(extract)
    extract.set_defaults(handler=_extract)


def _extract(options: argparse.Namespace) -> int:
    output_type = schema_type(options.schema)
    parts = attachments(options)
    text = _extract_text(options.file, attached=bool(parts))
    source: Any = [*([text] if text.strip() else []), *parts] if parts else text
    extractor: Extractor[Any] = Extractor(
        output_type,
        model=chat_model(options),
        max_retries=options.retries,
        settings=settings_of(options),
    )

    async def main() -> Any:
        try:
            return await extractor.run(source)
        finally:
            await extractor.model.aclose()

    result = anyio.run(main)
    for number, attempt in enumerate(result.attempts, start=1):
        for error in attempt.errors:
            say(f"  attempt {number} corrected: {short(error)}")
    print(to_json(result.value, indent=2).decode())
    return ExitCode.OK


def _extract_text(file: str, *, attached: bool) -> str:
    """The text to extract from: the file, or stdin; none needed beside attachments."""
    if file == "-" and sys.stdin.isatty():
        if attached:
            return ""
        say("reading the text from stdin; end it with Ctrl-D (or give a file: extract FILE)")
    text = sys.stdin.read() if file == "-" else read_text(file)
    if not text.strip() and not attached:
        raise UsageError("the input is empty")
    return text
