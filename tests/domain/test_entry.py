"""Who may enter a journey: re-entry policies, running runs, correlation keys, workflow ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.entry import correlation_key, decide_entry, workflow_id
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.loader import parse_journey
from domain.runs import Enrollment, RunStatus

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def journey(**trigger: Any) -> JourneyDefinition:
    return parse_journey(
        {
            "id": "sample",
            "name": "Sample",
            "trigger": {"event": "order_completed", **trigger},
            "steps": [{"id": "pause", "wait": {"for": "1d"}}],
        }
    )


def run(entered_days_ago: float, status: RunStatus = "completed") -> Enrollment:
    return Enrollment(
        entry_id=f"entry-{entered_days_ago}",
        workflow_id="journey/sample/ada",
        journey_id="sample",
        version=1,
        customer_id="ada",
        status=status,
        entered_at=NOW - timedelta(days=entered_days_ago),
    )


def event(**properties: Any) -> CustomerEvent:
    return CustomerEvent(
        event_id="evt-1",
        customer_id="ada",
        type="order_completed",
        occurred_at=NOW,
        properties=properties,
    )


@pytest.mark.parametrize("re_entry", ["always", "once"])
def test_a_first_entry_is_always_allowed(re_entry: str) -> None:
    decision = decide_entry(journey(re_entry=re_entry), [], NOW)
    assert decision.enter and decision.reason == "first entry"


def test_a_customer_may_enter_an_always_journey_again_once_the_last_run_ended() -> None:
    assert decide_entry(journey(re_entry="always"), [run(1), run(0.5)], NOW).enter


def test_a_customer_may_never_enter_a_once_journey_again() -> None:
    decision = decide_entry(journey(re_entry="once"), [run(400)], NOW)
    assert not decision.enter
    assert "re_entry once" in decision.reason


def test_a_customer_may_not_enter_again_during_the_cooldown() -> None:
    decision = decide_entry(journey(re_entry="cooldown", cooldown="90d"), [run(89)], NOW)
    assert not decision.enter
    assert "re_entry cooldown" in decision.reason
    assert (NOW + timedelta(days=1)).date().isoformat() in decision.reason


def test_a_customer_may_enter_again_once_the_cooldown_has_passed() -> None:
    policy = journey(re_entry="cooldown", cooldown="90d")
    assert decide_entry(policy, [run(90)], NOW).enter
    assert decide_entry(policy, [run(200), run(91)], NOW).enter


def test_the_cooldown_counts_from_the_latest_entry() -> None:
    policy = journey(re_entry="cooldown", cooldown="90d")
    assert not decide_entry(policy, [run(200), run(10)], NOW).enter


@pytest.mark.parametrize("re_entry", ["always", "once", "cooldown"])
def test_a_running_run_blocks_a_second_entry_whatever_the_policy(re_entry: str) -> None:
    extra = {"cooldown": "1d"} if re_entry == "cooldown" else {}
    decision = decide_entry(journey(re_entry=re_entry, **extra), [run(30), run(5, "running")], NOW)
    assert not decision.enter
    assert decision.reason == "already in this journey"


def test_a_journey_without_correlation_has_no_key() -> None:
    assert correlation_key(journey(), event(order_id="o-1")) is None


def test_the_correlation_key_is_the_events_property_as_text() -> None:
    assert correlation_key(journey(correlate_on="order_id"), event(order_id=1042)) == "1042"


@pytest.mark.parametrize("properties", [{}, {"order_id": ""}, {"order_id": None}])
def test_an_event_without_the_correlation_property_cannot_enter(
    properties: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="correlates on 'order_id'"):
        correlation_key(journey(correlate_on="order_id"), event(**properties))


def test_workflow_ids_come_from_business_keys() -> None:
    assert workflow_id("nurture", "ada") == "journey/nurture/ada"
    assert workflow_id("post_purchase", "ada", "o-1") == "journey/post_purchase/ada/o-1"


def test_a_trigger_matches_its_event_and_properties() -> None:
    trigger = journey(match={"channel": "web"}).trigger
    assert trigger.matches("order_completed", {"channel": "web", "total": 5})
    assert not trigger.matches("order_completed", {"channel": "store"})
    assert not trigger.matches("order_refunded", {"channel": "web"})


def test_a_cooldown_longer_than_the_calendar_keeps_the_customer_out_without_overflowing() -> None:
    from datetime import UTC, datetime, timedelta

    from domain.entry import decide_entry, shifted
    from domain.journey import JourneyDefinition
    from domain.runs import Enrollment

    journey = JourneyDefinition.model_validate(
        {
            "id": "slow",
            "name": "Slow",
            "trigger": {"event": "x", "re_entry": "cooldown", "cooldown": timedelta(days=1)},
            "templates": {"n": {"subject": "s", "text": "t"}},
            "steps": [{"id": "a", "send": {"channel": "email", "template": "n"}}],
        }
    )
    # As a definition stored before cooldowns were bounded might hold it.
    long_trigger = journey.trigger.model_copy(update={"cooldown": timedelta(days=999_999)})
    journey = journey.model_copy(update={"trigger": long_trigger})
    now = datetime(2026, 3, 1, tzinfo=UTC)
    earlier = Enrollment(
        entry_id="e-1",
        workflow_id="journey/slow/c-1",
        journey_id="slow",
        version=1,
        customer_id="c-1",
        status="completed",
        entered_at=now - timedelta(days=1),
    )
    decision = decide_entry(journey, [earlier], now)
    assert not decision.enter and "cooldown" in decision.reason
    assert shifted(now, -timedelta(days=999_999)).year == 1
