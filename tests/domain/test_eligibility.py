"""Send eligibility: one pure rule decides send, defer, skip or suppress, and names the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.eligibility import (
    MAX_CASE_HOLD,
    RecentSend,
    SendFacts,
    Suppressed,
    cap_window,
    decide_send,
)
from domain.send_policy import FrequencyCap, QuietHours

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
SMS_NIGHTS = QuietHours(channels=["sms"], start="21:00", end="09:00")
TWO_A_DAY = FrequencyCap(name="daily", max=2, per=timedelta(days=1))
ONE_SMS_SKIP = FrequencyCap(
    name="one_sms", channels=["sms"], max=1, per=timedelta(days=1), action="skip"
)


def facts(**changes: Any) -> SendFacts:
    base: dict[str, Any] = {
        "channel": "sms",
        "category": "marketing",
        "recipient": "+4915112345678",
        "consented": True,
        "quiet_hours": [SMS_NIGHTS],
        "caps": [TWO_A_DAY, ONE_SMS_SKIP],
        "now": NOON,
    }
    return SendFacts.model_validate(base | changes)


def sms_at(at: datetime) -> RecentSend:
    return RecentSend(at=at, channel="sms", category="marketing")


def test_a_consenting_reachable_customer_outside_quiet_hours_and_caps_is_sent_to() -> None:
    decided = decide_send(facts())
    assert (decided.verdict, decided.rule, decided.reason) == ("send", None, "")


def test_a_customer_without_an_address_on_the_channel_is_skipped() -> None:
    decided = decide_send(facts(recipient=None))
    assert (decided.verdict, decided.rule, decided.reason) == (
        "skip",
        "no_address",
        "no sms address",
    )


def test_marketing_to_an_unsubscribed_channel_is_suppressed_but_transactional_is_not() -> None:
    decided = decide_send(facts(consented=False))
    assert (decided.verdict, decided.rule) == ("suppress", "consent")
    assert decided.reason == "unsubscribed from sms"
    assert decide_send(facts(consented=False, category="transactional")).sends


def test_a_complaint_suppresses_marketing_and_a_bounce_everything() -> None:
    complaint = Suppressed(reason="complaint", scope="marketing")
    decided = decide_send(facts(suppression=complaint))
    assert (decided.verdict, decided.rule) == ("suppress", "suppressed")
    assert decided.reason == "suppressed: complaint (+4915112345678)"
    assert decide_send(facts(suppression=complaint, category="transactional")).sends
    bounce = Suppressed(reason="bounce", scope="all", detail="550 no such user")
    hard = decide_send(facts(suppression=bounce, category="transactional"))
    assert (hard.rule, hard.reason) == ("suppressed", "suppressed: bounce (550 no such user)")


def test_an_open_case_holds_marketing_until_it_is_resolved_or_the_hold_runs_out() -> None:
    decided = decide_send(facts(open_cases=["case-1", "case-2"]))
    assert (decided.verdict, decided.rule) == ("defer", "open_case")
    assert decided.reason == "open case case-1, case-2"
    assert (decided.until, decided.resume_on) == (NOON + MAX_CASE_HOLD, "case_resolved")
    assert decide_send(facts(open_cases=["case-1"], category="transactional")).sends


def test_after_a_case_the_journey_policy_skips_or_resumes_a_held_message() -> None:
    skipped = decide_send(facts(held_for_case=True, after_case="skip"))
    assert (skipped.verdict, skipped.rule) == ("skip", "after_case")
    assert decide_send(facts(held_for_case=True, after_case="resume")).sends


def test_quiet_hours_defer_to_their_end_in_the_customers_timezone() -> None:
    decided = decide_send(facts(now=NIGHT, timezone="Europe/Berlin"))
    # 23:00 UTC is midnight in Berlin (CET); the window ends at 09:00 Berlin, 08:00 UTC.
    ends = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert (decided.verdict, decided.rule, decided.until) == ("defer", "quiet_hours", ends)
    assert decided.reason == f"quiet hours 21:00-09:00 Europe/Berlin until {ends.isoformat()}"
    assert decide_send(facts(now=NIGHT, channel="email", recipient="a@example.com")).sends


def test_a_full_cap_defers_until_the_oldest_counted_send_leaves_the_window() -> None:
    recent = [
        RecentSend(at=NOON - timedelta(hours=5), channel="email", category="marketing"),
        RecentSend(at=NOON - timedelta(hours=2), channel="email", category="marketing"),
    ]
    decided = decide_send(facts(channel="email", recipient="a@example.com", recent=recent))
    room_at = NOON + timedelta(hours=19)
    assert (decided.verdict, decided.rule, decided.until) == ("defer", "cap", room_at)
    assert decided.reason == f"cap daily: 2 per 1d reached; room at {room_at}"
    # Sends that left the window, or of a category the cap does not count, leave room.
    old = [RecentSend(at=NOON - timedelta(days=2), channel="email", category="marketing")] * 2
    assert decide_send(facts(channel="email", recipient="a@example.com", recent=old)).sends
    # A message that holds its slot already (a retry) is not counted against itself.
    assert decide_send(
        facts(channel="email", recipient="a@example.com", recent=recent, claimed=True)
    ).sends


def test_a_full_cap_whose_action_is_skip_drops_the_message() -> None:
    decided = decide_send(facts(recent=[sms_at(NOON - timedelta(hours=1))]))
    assert (decided.verdict, decided.rule) == ("skip", "cap")
    assert decided.reason == "cap one_sms: 1 per 1d reached; skipped by policy"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        # The recipient rules come first, then the case, then quiet hours, then the caps.
        ({"recipient": None, "consented": False, "now": NIGHT}, "no_address"),
        ({"consented": False, "open_cases": ["c"]}, "consent"),
        ({"suppression": Suppressed(reason="bounce", scope="all"), "now": NIGHT}, "suppressed"),
        ({"open_cases": ["c"], "now": NIGHT}, "open_case"),
        ({"now": NIGHT, "recent": [sms_at(NIGHT - timedelta(hours=1))]}, "quiet_hours"),
    ],
)
def test_the_first_rule_in_order_decides(changes: dict[str, Any], rule: str) -> None:
    assert decide_send(facts(**changes)).rule == rule


def test_the_cap_window_is_the_longest_cap_that_applies() -> None:
    weekly = FrequencyCap(name="weekly", max=5, per=timedelta(days=7), channels=["email"])
    caps = [TWO_A_DAY, weekly]
    assert cap_window(caps, "email", "marketing") == timedelta(days=7)
    assert cap_window(caps, "sms", "marketing") == timedelta(days=1)
    assert cap_window(caps, "sms", "transactional") is None


def test_a_journey_holding_its_sends_defers_every_message_first_whatever_else_holds() -> None:
    # Transactional, at night in SMS quiet hours, unsubscribed: the hold is what is said.
    for changes in (
        {},
        {"category": "transactional"},
        {"now": NIGHT},
        {"consented": False},
    ):
        decided = decide_send(facts(journey_held=True, **changes))
        assert (decided.verdict, decided.rule) == ("defer", "journey_held"), changes
        assert "paused with its sends held" in decided.reason
        assert decided.until is not None and decided.until > facts(**changes).now
    # Released: decided again as any message, quiet hours included.
    assert decide_send(facts(now=NIGHT)).rule == "quiet_hours"
