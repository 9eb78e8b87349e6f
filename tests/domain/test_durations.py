"""Durations as journeys write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("10d", timedelta(days=10)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 3d ", timedelta(days=3)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "d", "2 days", "1.5d", "-1d", "0s", "1y", 10])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=10), "10d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(weeks=2, minutes=5), "14d5m"),
        (timedelta(0), "0s"),
    ],
)
def test_durations_format_in_their_shortest_spelling(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
