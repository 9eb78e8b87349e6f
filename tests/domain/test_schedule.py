"""When waits end: local times of day in the customer's timezone, across DST, on chosen days."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.journey import WaitSpec
from domain.schedule import next_local_time, wait_until

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(ZoneInfo(timezone))


def test_ten_o_clock_in_shanghai_later_the_same_day_is_today() -> None:
    # 01:00 UTC is 09:00 in Shanghai (UTC+8, no DST).
    assert next_local_time(utc(2026, 3, 10, 1, 0), time(10, 0), SHANGHAI) == utc(2026, 3, 10, 2)


def test_ten_o_clock_in_shanghai_already_past_is_tomorrow() -> None:
    # 03:00 UTC is 11:00 in Shanghai.
    assert next_local_time(utc(2026, 3, 10, 3, 0), time(10, 0), SHANGHAI) == utc(2026, 3, 11, 2)


def test_the_local_time_itself_counts_as_next() -> None:
    assert next_local_time(utc(2026, 3, 10, 2, 0), time(10, 0), SHANGHAI) == utc(2026, 3, 10, 2)


def test_the_local_date_decides_the_day_not_the_utc_date() -> None:
    # 20:00 UTC on the 10th is 04:00 on the 11th in Shanghai: 10:00 that morning.
    assert next_local_time(utc(2026, 3, 10, 20), time(10, 0), SHANGHAI) == utc(2026, 3, 11, 2)


def test_ten_o_clock_in_new_york_follows_the_clock_change() -> None:
    # New York springs forward on 2026-03-08: 10:00 is 15:00 UTC before and 14:00 UTC after.
    before = next_local_time(utc(2026, 3, 7, 12), time(10, 0), NEW_YORK)
    after = next_local_time(before + timedelta(minutes=1), time(10, 0), NEW_YORK)
    assert before == utc(2026, 3, 7, 15)
    assert after == utc(2026, 3, 8, 14)
    assert after - before == timedelta(hours=23)


def test_an_evening_in_new_york_is_the_next_utc_day() -> None:
    assert next_local_time(utc(2026, 7, 1, 12), time(21, 30), NEW_YORK) == utc(2026, 7, 2, 1, 30)


def test_a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; 02:30 does not exist, so 03:30 CEST.
    instant = next_local_time(utc(2026, 3, 28, 23), time(2, 30), BERLIN)
    assert instant == utc(2026, 3, 29, 1, 30)
    assert local(instant, BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_time_in_the_repeated_fall_back_hour_is_its_first_occurrence() -> None:
    # Berlin shows 02:00-03:00 twice on 2026-10-25: first in CEST (UTC+2), then in CET.
    instant = next_local_time(utc(2026, 10, 24, 22), time(2, 30), BERLIN)
    assert instant == utc(2026, 10, 25, 0, 30)
    assert local(instant, BERLIN).strftime("%H:%M %Z") == "02:30 CEST"


def test_ten_o_clock_on_the_day_after_fall_back_is_an_hour_later_in_utc() -> None:
    first = next_local_time(utc(2026, 10, 24, 7), time(10, 0), BERLIN)
    second = next_local_time(first + timedelta(seconds=1), time(10, 0), BERLIN)
    assert (first, second) == (utc(2026, 10, 24, 8), utc(2026, 10, 25, 9))


def test_on_days_skips_to_the_next_allowed_weekday() -> None:
    friday_noon = utc(2026, 3, 13, 11)  # Friday 12:00 in Berlin (CET)
    assert local(friday_noon, BERLIN).strftime("%a") == "Fri"
    instant = next_local_time(friday_noon, time(10, 0), BERLIN, ["mon", "wed"])
    assert instant == utc(2026, 3, 16, 9)
    assert local(instant, BERLIN).strftime("%a %H:%M") == "Mon 10:00"


def test_on_days_keeps_today_when_today_is_allowed_and_the_time_is_ahead() -> None:
    friday_morning = utc(2026, 3, 13, 7)  # 08:00 in Berlin
    assert next_local_time(friday_morning, time(10, 0), BERLIN, ["fri"]) == utc(2026, 3, 13, 9)


def test_on_days_uses_the_customers_weekday_not_utcs() -> None:
    # Sunday 20:00 UTC is already Monday 04:00 in Shanghai.
    sunday = utc(2026, 3, 15, 20)
    assert sunday.strftime("%a") == "Sun"
    instant = next_local_time(sunday, time(10, 0), SHANGHAI, ["mon"])
    assert instant == utc(2026, 3, 16, 2)


def test_a_wait_for_a_duration_alone_ignores_the_clock() -> None:
    spec = WaitSpec.model_validate({"for": "36h"})
    assert wait_until(utc(2026, 3, 10, 3, 17), spec, SHANGHAI) == utc(2026, 3, 11, 15, 17)


def test_a_wait_for_two_days_until_ten_lands_at_ten_after_two_days() -> None:
    spec = WaitSpec.model_validate({"for": "2d", "until": "10:00"})
    # Signed up at 23:00 Shanghai time on the 9th: two days later is 23:00 on the 11th,
    # so the message goes at 10:00 on the 12th.
    start = utc(2026, 3, 9, 15)
    assert wait_until(start, spec, SHANGHAI) == utc(2026, 3, 12, 2)


def test_a_wait_until_a_time_alone_is_the_next_such_time() -> None:
    spec = WaitSpec.model_validate({"until": "18:00"})
    assert wait_until(utc(2026, 7, 1, 12), spec, NEW_YORK) == utc(2026, 7, 1, 22)


def test_a_wait_that_starts_just_after_its_local_time_keeps_that_day() -> None:
    # A send at 10:00 finishes a few milliseconds later; "5d until 10:00" is 10:00 five days on.
    spec = WaitSpec.model_validate({"for": "5d", "until": "10:00"})
    just_after_ten = utc(2026, 3, 10, 2, 0) + timedelta(milliseconds=35)
    assert wait_until(just_after_ten, spec, SHANGHAI) == utc(2026, 3, 15, 2, 0)


def test_a_wait_that_starts_a_minute_after_its_local_time_waits_for_the_next_day() -> None:
    spec = WaitSpec.model_validate({"for": "5d", "until": "10:00"})
    assert wait_until(utc(2026, 3, 10, 2, 1), spec, SHANGHAI) == utc(2026, 3, 16, 2, 0)
