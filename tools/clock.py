"""Ready-made time tools: the current time, time zones, date arithmetic.

agentkit run "What time is it in Tokyo, and what day is it in 90 days?" -T clock
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentkit import tool


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'"
        ) from None


def _parse(moment: str, zone: str | None) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(moment)
    except ValueError:
        raise ValueError(
            f"{moment!r} is not an ISO 8601 date or date-time, e.g. 2026-11-26T14:30"
        ) from None
    if value.tzinfo is None and zone is not None:
        value = value.replace(tzinfo=_zone(zone))
    return value


@tool
def current_time(zone: str = "UTC") -> str:
    """Get the current date and time in a time zone (ISO 8601, with the UTC offset).

    Args:
        zone: An IANA time zone, e.g. "Asia/Tokyo".
    """
    return datetime.datetime.now(_zone(zone)).isoformat(timespec="seconds")


@tool
def convert_time(moment: str, from_zone: str, to_zone: str) -> str:
    """Convert a date-time from one time zone to another.

    Args:
        moment: An ISO 8601 date-time, e.g. "2026-11-26T09:00".
        from_zone: The zone `moment` is in, unless it carries an offset.
        to_zone: The zone to convert to.
    """
    return _parse(moment, from_zone).astimezone(_zone(to_zone)).isoformat(timespec="minutes")


@tool
def add_to_date(moment: str, days: int = 0, hours: int = 0, minutes: int = 0) -> str:
    """Add (or, with negative numbers, subtract) days, hours and minutes to a date or date-time.

    Args:
        moment: An ISO 8601 date or date-time.
        days: Days to add.
        hours: Hours to add.
        minutes: Minutes to add.
    """
    value = _parse(moment, None)
    result = value + datetime.timedelta(days=days, hours=hours, minutes=minutes)
    if len(moment) == 10 and not hours and not minutes:
        return result.date().isoformat()
    return result.isoformat(timespec="minutes")


@tool
def days_between(start: str, end: str) -> int:
    """Count the days from one date to another (negative when `end` is earlier).

    Args:
        start: An ISO 8601 date, e.g. "2026-01-01".
        end: An ISO 8601 date.
    """
    return (_parse(end, None).date() - _parse(start, None).date()).days
