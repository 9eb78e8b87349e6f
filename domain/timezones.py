"""IANA timezone names, checked once for every boundary that reads one (profiles, audiences,
`JOURNEYS_TIMEZONE`, `--timezone`): a name is accepted only if it loads as a zone.

`ZoneInfo` looks names up as files, so a directory (`Europe`), an over-long name or a path
escape gives OSError or ValueError there rather than ZoneInfoNotFoundError; all of them are one
`ValueError` here, with the same message.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The longest IANA name today has 32 characters (America/Argentina/ComodRivadavia).
MAX_TIMEZONE_LENGTH = 64
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9][A-Za-z0-9_+\-]*)*$")


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA name this installation knows (tzdata), sorted: what `check_timezone` takes."""
    return tuple(sorted(available_timezones()))


def check_timezone(value: str) -> str:
    """`value` if it names an IANA timezone; ValueError (one clear message) otherwise."""
    if (
        not isinstance(value, str)
        or len(value) > MAX_TIMEZONE_LENGTH
        or not value.isascii()
        or not _NAME.match(value)
        or value not in _known()
    ):
        raise ValueError(_unknown(value))
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(_unknown(value)) from exc
    return value


@cache
def _known() -> frozenset[str]:
    return frozenset(timezone_names())


def _unknown(value: object) -> str:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f"unknown timezone {shown} (use an IANA name such as Europe/Berlin)"
