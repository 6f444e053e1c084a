"""Tools the approval-state tests load by path (`-T`), as a user would.

Each call of `transfer` appends a line to the file `$APPROVAL_LOG` names, so a test counts
how often it ran; with `$APPROVAL_HANG` set it then waits, so a test can kill it mid-run.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import os
import time
import uuid
from pathlib import Path

from agentkit import tool


class Speed(enum.Enum):
    """How fast to pay."""

    SLOW = "slow"
    FAST = "fast"


def _log(line: str) -> None:
    with open(os.environ["APPROVAL_LOG"], "a", encoding="utf-8") as log:
        log.write(line + "\n")


@tool(requires_approval=True)
def transfer(to: str, amount: int) -> str:
    """Move money.

    Args:
        to: Who gets it.
        amount: How much.
    """
    _log(f"transfer {to} {amount}")
    if os.environ.get("APPROVAL_HANG"):
        time.sleep(60)
    return f"moved {amount} to {to}"


@tool(requires_approval=True)
def schedule(
    when: datetime.datetime,
    day: datetime.date,
    folder: Path,
    price: decimal.Decimal,
    ref: uuid.UUID,
    tags: set[str],
    pair: tuple[int, int],
    speed: Speed,
) -> str:
    """Schedule a payment with every kind of value a JSON round trip can change."""
    _log(f"schedule {when.isoformat()} {day} {folder} {price} {ref} {sorted(tags)} {pair} {speed}")
    return "scheduled"
