"""Durations as journeys write them: `90s`, `30m`, `2h`, `10d`, `1w`, or combined `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from domain.limits import MAX_DURATION_DAYS, MAX_DURATION_TEXT

# [0-9], not \d: \d and int() also take Arabic-Indic and full-width digits.
_PART = re.compile(r"([0-9]+)([wdhms])", re.ASCII)
_WHOLE = re.compile(r"([0-9]+[wdhms])+", re.ASCII)
MAX_DURATION = timedelta(days=MAX_DURATION_DAYS)
_CALENDAR_SECONDS = timedelta.max.total_seconds()
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
PATTERN = r"^([0-9]+[wdhms])+$"


def parse_duration(value: Any) -> timedelta:
    """Read `10d`, `1d12h` and the like; a timedelta passes through unchanged."""
    if isinstance(value, timedelta):
        return value
    text = value.strip(" ") if isinstance(value, str) else None
    if text is None or len(text) > MAX_DURATION_TEXT or not _WHOLE.fullmatch(text):
        shown = value if not isinstance(value, str) else value[:MAX_DURATION_TEXT]
        raise ValueError(f"{shown!r} is not a duration such as 90s, 30m, 2h, 10d, 1w or 1d12h")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be longer than zero")
    if seconds > _CALENDAR_SECONDS:
        raise ValueError(f"duration {value!r} is longer than the longest, {MAX_DURATION_DAYS}d")
    # Up to the calendar, the longest duration is checked when a journey is validated
    # (domain/checks.py), not here: this type also reads the definitions runs in flight
    # carry, which must decode as they were published.
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest `1d12h`-style spelling of a duration."""
    seconds = int(value.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30m", "2h", "10d"]}),
]
