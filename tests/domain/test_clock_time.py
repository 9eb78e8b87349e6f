"""Times of day HH:MM: one reader for the journey DSL, audiences and the send policy."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from domain.audiences import AudienceSpec
from domain.clock_time import check_clock_time, parse_clock_time
from domain.journey import WaitSpec
from domain.send_policy import QuietHours

GOOD = [("00:00", time(0, 0)), ("09:05", time(9, 5)), ("23:59", time(23, 59))]
BAD = ["24:00", "9:00", "12:60", "12:5", "noon", "12:00:00", " 12:00", ""]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_a_time_of_day_is_read_as_hours_and_minutes(text: str, expected: time) -> None:
    assert parse_clock_time(text) == expected


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_refused_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time of day HH:MM"):
        parse_clock_time(text)
    with pytest.raises(ValueError, match=f"^until {text!r} is not"):
        check_clock_time(text, "until")


def _wait(value: str) -> Any:
    return WaitSpec.model_validate({"until": value}).until_time


def _quiet(value: str) -> Any:
    return QuietHours(start=value, end="23:58" if value != "23:58" else "23:57").start


def _audience(value: str) -> Any:
    return AudienceSpec(segment="s", at=value).at


@pytest.mark.parametrize("read", [_wait, _quiet, _audience])
def test_waits_quiet_hours_and_audience_times_accept_and_refuse_the_same(read: Any) -> None:
    for text, _ in GOOD:
        read(text)
    for text in BAD:
        with pytest.raises(ValidationError):
            read(text)


def test_a_wait_until_and_quiet_hours_read_their_time_with_the_one_parser() -> None:
    assert _wait("07:30") == time(7, 30)
    window = QuietHours(start="22:00", end="06:15")
    assert window.label("UTC") == "quiet hours 22:00-06:15 UTC"
