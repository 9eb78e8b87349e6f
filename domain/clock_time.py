"""Times of day as journeys, audiences and the send policy write them: `HH:MM`, 00:00 to 23:59.

Every `HH:MM` in a journey file, a schedule or the send policy is checked and read here, so
they all accept and reject the same spellings.
"""

from __future__ import annotations

import re
from datetime import time

PATTERN = r"^([01][0-9]|2[0-3]):([0-5][0-9])$"
_CLOCK = re.compile(PATTERN)  # with fullmatch: `$` alone lets "10:00\n" through


def check_clock_time(value: str, label: str = "") -> str:
    """`value` unchanged when it is a time of day HH:MM; ValueError naming it otherwise."""
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        prefix = f"{label} " if label else ""
        raise ValueError(f"{prefix}{value!r} is not a time of day HH:MM (00:00 to 23:59)")
    return value


def parse_clock_time(value: str) -> time:
    """The time of day `HH:MM` stands for; ValueError for anything else."""
    hours, minutes = check_clock_time(value).split(":")
    return time(int(hours), int(minutes))
