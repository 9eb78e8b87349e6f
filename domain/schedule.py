"""When a wait ends: durations, local times of day in the customer's timezone, weekdays.

Pure: `now` comes in as an argument. A time that does not exist on a spring-forward night
(02:30 in Berlin) moves forward by the length of the gap (03:30); in the repeated hour of a
fall-back night the first occurrence wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.journey import WEEKDAYS, WaitSpec


def local_occurrence(day: datetime, at: time, tz: ZoneInfo) -> datetime:
    """`at` on the local date of `day`, as an aware UTC instant."""
    # fold=0 takes the offset in force before a transition: in a gap that lands after it,
    # in a repeated hour on the first pass (PEP 495).
    return datetime.combine(day.date(), at).replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_local_time(
    after: datetime, at: time, timezone: str, on_days: Sequence[str] | None = None
) -> datetime:
    """The first instant at or after `after` when the local clock shows `at` on an allowed day."""
    tz = ZoneInfo(timezone)
    local = after.astimezone(tz)
    for offset in range(0, 15):
        day = local + timedelta(days=offset)
        if on_days and WEEKDAYS[day.weekday()] not in on_days:
            continue
        instant = local_occurrence(day, at, tz)
        if instant >= after:
            return instant
    raise ValueError(f"no allowed day for {at} in {on_days}")  # unreachable with a weekday set


def wait_until(now: datetime, spec: WaitSpec, timezone: str) -> datetime:
    """When a `wait` step that starts at `now` ends, for a customer in `timezone`."""
    earliest = now + spec.delay
    if spec.until_time is None:
        return earliest
    # `until` names a minute, and a wait starting just after a 10:00 timer starts a few
    # milliseconds past 10:00: within the minute counts as reached, not as tomorrow's.
    start_of_minute = earliest.replace(second=0, microsecond=0)
    return next_local_time(start_of_minute, spec.until_time, timezone, spec.on_days)
