"""Quiet hours in the customer's timezone (daylight saving included) and the policy file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from domain.send_policy import (
    PolicyError,
    QuietHours,
    SendPolicy,
    load_policy_file,
    parse_policy,
    quiet_until,
)

SMS_NIGHT = QuietHours(channels=["sms"], start="21:00", end="09:00")
LUNCH = QuietHours(start="12:00", end="13:30")
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "timezone", "until"),
    [
        # 22:00 in Berlin (CET): held until 09:00 the next morning.
        ("2026-01-15T22:00:00+01:00", BERLIN, "2026-01-16T09:00:00+01:00"),
        # 06:00 in Berlin: the same window, from the evening before.
        ("2026-01-16T06:00:00+01:00", BERLIN, "2026-01-16T09:00:00+01:00"),
        # Spring forward in Berlin (29 March 2026, 02:00 -> 03:00): 09:00 CEST is 07:00 UTC,
        # one hour earlier in UTC than the same wall time the evening before would suggest.
        ("2026-03-28T22:00:00+01:00", BERLIN, "2026-03-29T09:00:00+02:00"),
        # Fall back in New York (1 November 2026, 02:00 -> 01:00): 09:00 EST is 14:00 UTC.
        ("2026-10-31T23:00:00-04:00", NEW_YORK, "2026-11-01T09:00:00-05:00"),
        # The same UTC instant is daytime in New York and night in Shanghai.
        ("2026-06-01T15:00:00+00:00", "Asia/Shanghai", "2026-06-02T09:00:00+08:00"),
    ],
)
def test_marketing_sms_in_quiet_hours_waits_for_their_end(
    now: str, timezone: str, until: str
) -> None:
    held = quiet_until([SMS_NIGHT], "sms", "marketing", at(now), timezone)
    assert held is not None
    assert held[0] == at(until)
    assert held[1] == f"quiet hours 21:00-09:00 {timezone}"


def test_outside_quiet_hours_or_other_channel_or_transactional_sends_now() -> None:
    morning = at("2026-01-16T09:00:00+01:00")  # the window ends at 09:00: send
    assert quiet_until([SMS_NIGHT], "sms", "marketing", morning, BERLIN) is None
    night = at("2026-01-15T23:00:00+01:00")
    assert quiet_until([SMS_NIGHT], "email", "marketing", night, BERLIN) is None
    assert quiet_until([SMS_NIGHT], "sms", "transactional", night, BERLIN) is None
    strict = QuietHours(start="21:00", end="09:00", categories=["marketing", "transactional"])
    assert quiet_until([strict], "sms", "transactional", night, BERLIN) is not None


def test_a_window_within_the_day_and_chained_windows() -> None:
    noon = at("2026-05-04T12:15:00+02:00")
    assert quiet_until([LUNCH], "email", "marketing", noon, BERLIN) == (
        at("2026-05-04T13:30:00+02:00"),
        "quiet hours 12:00-13:30 Europe/Berlin",
    )
    late_lunch = QuietHours(start="13:00", end="14:00")
    until, reason = quiet_until([LUNCH, late_lunch], "email", "marketing", noon, BERLIN) or (
        None,
        "",
    )
    assert until == at("2026-05-04T14:00:00+02:00") and "13:00-14:00" in reason


def test_a_journey_can_override_the_workspace_quiet_hours() -> None:
    journey: JourneyDefinition = load_journey_text(
        """
id: flash_sale
name: Flash sale
trigger: {event: sale_started}
quiet_hours: [{start: "23:00", end: "06:00", channels: [sms]}]
templates: {t: {text: "Sale!"}}
steps: [{id: s, send: {channel: sms, template: t}}]
"""
    )
    assert journey.quiet_hours == [QuietHours(start="23:00", end="06:00", channels=["sms"])]
    assert (
        load_journey_text(
            "id: j\nname: J\ntrigger: {event: e}\nquiet_hours: []\n"
            "templates: {t: {text: x}}\nsteps: [{id: s, send: {channel: sms, template: t}}]\n"
        ).quiet_hours
        == []
    )


def test_the_built_in_policy_loads() -> None:
    policy = load_policy_file(
        Path(__file__).resolve().parents[2] / "journeys/policy/send_policy.yaml"
    )
    assert {cap.name for cap in policy.caps} == {"marketing_daily", "sms_daily"}
    assert [cap.name for cap in policy.caps_for("sms", "marketing")] == [
        "marketing_daily",
        "sms_daily",
    ]
    assert policy.caps_for("email", "transactional") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"quiet_hours": [{"start": "25:00", "end": "09:00"}]}, "quiet_hours.0.start"),
        ({"quiet_hours": [{"start": "09:00", "end": "09:00"}]}, "the window would be empty"),
        ({"caps": [{"name": "c", "max": 0, "per": "1d"}]}, "caps.0.max"),
        ({"caps": [{"name": "c", "max": 1, "per": "a day"}]}, "caps.0.per"),
        ({"caps": [{"name": "c", "max": 1, "per": "1d", "channels": ["fax"]}]}, "channels.0"),
        ({"caps": [{"name": "c", "max": 1, "per": "1d", "action": "drop"}]}, "caps.0.action"),
        ({"limits": []}, "limits"),
    ],
)
def test_a_bad_policy_names_the_file_and_the_field(raw: object, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(raw, "policy.yaml")
    assert str(caught.value).startswith("policy.yaml: ") and message in str(caught.value)


def test_an_empty_policy_holds_nothing_back() -> None:
    assert parse_policy(None) == SendPolicy()
