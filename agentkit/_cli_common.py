"""Layer 5 (edges): what the `agentkit` command and its `batch` commands share.

Both `cli` and `batch._cli` import this module; neither imports the other back, so the edge
layer has no import cycle (tests/test_layers.py checks).
"""

from __future__ import annotations

import sys

from ._exceptions import AgentkitError

__all__ = ["EXIT_CODES", "UsageError", "say"]

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
    "interrupted": 130,
}
"""The command's exit codes by meaning (the module docstring of `cli` lists them)."""


class UsageError(AgentkitError):
    """A problem with what the user asked for; exit code 2."""


def say(text: str) -> None:
    """A line for the person at the terminal: on stderr, so stdout stays the answer."""
    print(text, file=sys.stderr, flush=True)
