"""Layer 5 (edges): what the `agentkit` command and its `batch` commands share.

Both `cli` and `batch._cli` import this module; neither imports the other back, so the edge
layer has no import cycle (tests/test_layers.py checks).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ._exceptions import AgentkitError

__all__ = ["EXIT_CODES", "UsageError", "at_least_one", "say"]

EXIT_CODES = {
    "ok": 0,
    "error": 1,
    "usage": 2,
    "model": 3,
    "limit": 4,
    "denied": 5,
    "extraction": 6,
    "batch_failures": 7,
    "batch_incomplete": 8,
    "pending": 9,
    "interrupted": 130,
}
"""The command's exit codes by meaning (the module docstring of `cli` lists them)."""


class UsageError(AgentkitError):
    """A problem with what the user asked for; exit code 2."""


def say(text: str) -> None:
    """A line for the person at the terminal: on stderr, so stdout stays the answer."""
    print(text, file=sys.stderr, flush=True)


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
