"""Layer 5 (edges): what the `agentkit` command's modules share (`agentkit/cli/`).

Exit codes, usage errors, the one console every line goes through, and the options several
commands take. The command's other modules import this one; it imports none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from pydantic import ValidationError

from agentkit._exceptions import AgentkitError, ConfigurationError
from agentkit._visible import printable
from agentkit.models._base import ModelSettings

__all__ = [
    "CONSOLE",
    "EXIT_CODES",
    "ExitCode",
    "UsageError",
    "add_attach_option",
    "at_least_one",
    "attachments",
    "read_text",
    "say",
    "settings_of",
    "short",
    "show",
]


class ExitCode(enum.IntEnum):
    """The command's exit codes by meaning (the module docstring of `cli` lists them)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    MODEL = 3
    LIMIT = 4
    DENIED = 5
    EXTRACTION = 6
    BATCH_FAILURES = 7
    BATCH_INCOMPLETE = 8
    PENDING = 9
    INTERRUPTED = 130


EXIT_CODES = {code.name.lower(): int(code) for code in ExitCode}
"""The same codes by name, as plain numbers (for scripts that read them)."""


class UsageError(AgentkitError):
    """A problem with what the user asked for; exit code 2.

    `hint` is the line printed after it (None: none; the default points at the options).
    """

    def __init__(self, message: str, *, hint: str | None = "check the options with --help"):
        super().__init__(message)
        self.hint = hint


class _Console:
    """Where the command writes for a person: escaped, and held while a prompt is open.

    Whatever a model, a server or a file supplies may carry escape sequences that redraw the
    screen; while a person reads an approval prompt, nothing else reaches the terminal (it is
    kept, in order, and written when the answer is in). Tool calls and MCP servers write from
    other threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._held: list[tuple[TextIO, str]] | None = None

    def write(self, stream: TextIO, text: str, *, escape: bool = True) -> None:
        if escape:
            text = printable(text)
        with self._lock:
            if self._held is not None:
                self._held.append((stream, text))
                return
            stream.write(text)
            stream.flush()

    @contextlib.contextmanager
    def prompt(self) -> Iterator[Callable[[str], None]]:
        """Hold every other write; yield the one writer the prompt itself uses (stderr)."""
        with self._lock:
            self._held = []

        def ask(text: str) -> None:
            with self._lock:
                sys.stderr.write(text)
                sys.stderr.flush()

        try:
            yield ask
        finally:
            with self._lock:
                held, self._held = self._held or [], None
                for stream, text in held:
                    stream.write(text)
                    stream.flush()


CONSOLE = _Console()
"""The command's one console (a process runs one command)."""


def say(text: str) -> None:
    """A line for the person at the terminal: on stderr, so stdout stays the answer.

    Escaped (controls and format characters), and held while an approval prompt is open.
    """
    CONSOLE.write(sys.stderr, text + "\n")


def show(text: str, end: str = "\n") -> None:
    """Text on stdout (the answer, a listing), held while an approval prompt is open.

    Escaped when stdout is a terminal; a pipe gets the text as it is.
    """
    CONSOLE.write(sys.stdout, text + end, escape=sys.stdout.isatty())


def at_least_one(flag: str, *, when_left_out: str = "") -> Callable[[str], int]:
    """An argparse `type` for a whole number of at least 1, naming `flag` when it is not.

    `when_left_out` says what leaving the flag out means (e.g. "no limit"), in the error.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number, not {text!r}") from None
        if value < 1:
            hint = f"; leave it out for {when_left_out}" if when_left_out else ""
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1 (got {value}){hint}")
        return value

    return parse


def add_attach_option(parser: argparse.ArgumentParser) -> None:
    """`-a/--attach PATH|URL` (repeatable), as `llm -a` takes it."""
    parser.add_argument(
        "-a", "--attach", action="append", default=[], metavar="PATH|URL",
        help="attach an image (PNG, JPEG, GIF, WebP), a PDF or audio (WAV, MP3); its kind is "
        "read from the file's content, or from a URL's name (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--inline", action="store_true",
        help="fetch --attach URLs here (as the web tool fetches: public addresses only) and "
        "send their content, for what the model cannot fetch itself (a PDF on Chat Completions)",
    )  # fmt: skip


def attachments(options: argparse.Namespace) -> list[Any]:
    """The parts `--attach` names, each read and checked now (a bad one is a usage error)."""
    from agentkit._media import attachment

    made = []
    inline = getattr(options, "inline", False)
    for source in getattr(options, "attach", None) or []:
        try:
            if inline and source.startswith(("http://", "https://")):
                made.append(_fetched(source))
            else:
                made.append(attachment(source))
        except ConfigurationError as error:
            raise UsageError(f"--attach: {error}") from None
    return made


def _fetched(url: str) -> Any:
    """An attachment fetched now, as the web tool fetches (public addresses only)."""
    import importlib

    import anyio

    fetch_attachment = importlib.import_module("agentkit.tools.web").fetch_attachment
    try:
        return anyio.run(fetch_attachment, url)
    except (OSError, ValueError) as error:  # blocked, unreachable, too large, timed out
        raise UsageError(f"--attach {url} --inline: {error}") from None


def settings_of(options: argparse.Namespace) -> ModelSettings:
    """`--max-tokens` and `--seed` as model settings (a bad value is a usage error)."""
    values = {"max_tokens": options.max_tokens, "seed": options.seed}
    try:
        return ModelSettings(**{key: value for key, value in values.items() if value is not None})
    except ValidationError as error:
        problems = [
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}"
            for e in error.errors(include_url=False)
        ]
        raise UsageError("; ".join(problems)) from None


def short(text: str, limit: int = 200) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_text(path: str) -> str:
    """A text file the user named (a missing or unreadable one is a usage error)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
