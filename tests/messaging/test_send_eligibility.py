"""One eligibility rule behind the send activity and `preview`, recorded by its rule.

At activity level against a real store (SQLite, and PostgreSQL when configured): every decision
carries the rule that made it, and nothing reads the wording of a reason. `preview` tells what
the activity would decide now: quiet hours, frequency caps and an open case included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from activities.channels import Channel, PermanentDeliveryError, RenderedMessage
from activities.messaging import MessagingActivities
from app.journeys import JourneyService
from app.messaging import MessagingService
from domain.contracts import SendMessage
from domain.customers import Consent, CustomerUpsert
from domain.journey import Template
from domain.loader import load_journey_text
from domain.send_policy import FrequencyCap, QuietHours, SendPolicy
from store.send_ledger import SendDecision
from store.store import Store

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
POLICY = SendPolicy(
    quiet_hours=[QuietHours(channels=["sms"], start="21:00", end="09:00")],
    caps=[FrequencyCap(name="daily", max=1, per=timedelta(days=1))],
)
NEWS = load_journey_text(
    """
id: news
name: News
trigger: {event: signed_up}
templates:
  note: {text: "Hello {{ profile.first_name | default('there') }}"}
steps:
  - {id: note, send: {channel: sms, template: note}}
"""
)


class Provider:
    """An SMS provider that takes every message, or refuses each with `refusal`."""

    name = "sms"

    def __init__(self, refusal: str | None = None) -> None:
        self.refusal = refusal
        self.delivered: list[str] = []

    async def deliver(self, message: RenderedMessage) -> str:
        if self.refusal is not None:
            raise PermanentDeliveryError(self.refusal)
        self.delivered.append(message.idempotency_key)
        return f"p-{len(self.delivered)}"


def ada(store: Store, **fields: Any) -> None:
    store.customers.upsert(
        CustomerUpsert(customer_id="ada", phone="+4915112345678", **fields), NOON
    )


def request(
    key: str = "k-1", after_case: Literal["resume", "skip"] = "resume", at: datetime = NOON
) -> SendMessage:
    return SendMessage(
        idempotency_key=key,
        journey_id="news",
        version=1,
        category="marketing",
        workflow_id="journey/news/ada",
        entry_id="e-1",
        step_id="note",
        customer_id="ada",
        channel="sms",
        template_name="note",
        template=Template(text="Hello"),
        requested_at=at,
        after_case=after_case,
    )


def sender(store: Store, now: datetime, provider: Provider | None = None) -> MessagingActivities:
    channels: dict[str, Channel] = {"sms": provider or Provider()}
    return MessagingActivities(store, channels, lambda: now, policy=POLICY)


def decisions(store: Store) -> list[tuple[str, str | None]]:
    return [(d.decision, d.rule) for d in reversed(store.ledger.decisions(customer_id="ada"))]


async def test_a_send_in_quiet_hours_is_deferred_and_recorded_by_the_quiet_hours_rule(
    store: Store,
) -> None:
    ada(store)
    outcome = await sender(store, NIGHT).send_message(request())
    assert outcome.status == "deferred" and outcome.deferred_until is not None
    assert decisions(store) == [("deferred", "quiet_hours")]
    assert store.ledger.deferrals("news") == {("sms", "quiet_hours"): 1}


async def test_an_unsubscribed_channel_is_recorded_as_suppressed_by_the_consent_rule(
    store: Store,
) -> None:
    ada(store, consent=Consent(sms=False))
    outcome = await sender(store, NOON).send_message(request())
    assert (outcome.status, outcome.detail) == ("skipped", "unsubscribed from sms")
    assert decisions(store) == [("suppressed", "consent")]


async def test_a_full_cap_defers_by_the_cap_rule_and_the_first_message_is_sent(
    store: Store,
) -> None:
    ada(store)
    provider = Provider()
    assert (await sender(store, NOON, provider).send_message(request("k-1"))).status == "sent"
    held = await sender(store, NOON, provider).send_message(request("k-2"))
    assert held.status == "deferred" and held.deferred_until == NOON + timedelta(days=1)
    assert decisions(store) == [("sent", None), ("deferred", "cap")]
    assert provider.delivered == ["k-1"]


async def test_an_open_case_holds_marketing_and_the_after_case_policy_reads_the_rule(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada(store)
    monkeypatch.setattr(store.cases, "open_for", lambda customer_id: ["case-7"])
    held = await sender(store, NOON).send_message(request("k-1", after_case="skip"))
    assert (held.status, held.resume_on) == ("deferred", "case_resolved")
    assert decisions(store) == [("deferred", "open_case")]
    monkeypatch.setattr(store.cases, "open_for", lambda customer_id: [])
    later = NOON + timedelta(hours=2)
    after = await sender(store, later).send_message(request("k-1", "skip", later))
    assert after.status == "skipped"
    assert decisions(store)[-1] == ("skipped", "after_case")


async def test_a_hold_is_known_by_its_rule_not_by_the_wording_of_its_reason(
    store: Store,
) -> None:
    ada(store)

    def held(key: str, reason: str, rule: str | None) -> None:
        store.ledger.record(
            SendDecision(
                idempotency_key=key,
                customer_id="ada",
                journey_id="news",
                step_id="note",
                channel="sms",
                category="marketing",
                decision="deferred",
                rule=rule,
                reason=reason,
                until=NOON,
                at=NOON - timedelta(hours=1),
            )
        )

    held("k-rule", "waited for complaint case-3 to close", "open_case")
    held("k-words", "open case, so a person wrote", None)
    provider = Provider()
    skipped = await sender(store, NOON, provider).send_message(request("k-rule", "skip"))
    sent = await sender(store, NOON + timedelta(days=2), provider).send_message(
        request("k-words", "skip", NOON + timedelta(days=2))
    )
    assert (skipped.status, sent.status) == ("skipped", "sent")


async def test_a_provider_refusal_worded_like_a_suppression_is_recorded_as_failed(
    store: Store,
) -> None:
    ada(store)
    provider = Provider(refusal="suppressed by the carrier's own list")
    outcome = await sender(store, NOON, provider).send_message(request())
    assert outcome.status == "failed"
    assert decisions(store) == [("failed", None)]


def previewer(store: Store, now: datetime) -> MessagingService:
    journeys = JourneyService(store, client_factory=lambda: None, task_queue="unused")
    journeys.publish_definition(NEWS)
    service = MessagingService(journeys, None, policy=POLICY)
    service.now = lambda: now  # type: ignore[method-assign]
    return service


def test_preview_says_a_message_in_quiet_hours_would_wait_for_their_end(store: Store) -> None:
    ada(store)
    shown = previewer(store, NIGHT).preview("news", "note", "ada")
    assert (shown.would_send, shown.verdict, shown.rule) == (False, "defer", "quiet_hours")
    assert shown.until == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert shown.reason.startswith("quiet hours 21:00-09:00 UTC until") and shown.text


async def test_preview_counts_the_frequency_cap_without_taking_a_slot(store: Store) -> None:
    ada(store)
    assert (await sender(store, NOON).send_message(request("k-1"))).status == "sent"
    for _ in range(2):  # a preview takes no slot, so asking twice says the same
        shown = previewer(store, NOON + timedelta(hours=1)).preview("news", "note", "ada")
        assert (shown.verdict, shown.rule, shown.until) == (
            "defer",
            "cap",
            NOON + timedelta(days=1),
        )
    assert previewer(store, NOON + timedelta(days=1)).preview("news", "note", "ada").would_send


def test_preview_says_an_open_case_holds_the_message(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada(store)
    monkeypatch.setattr(store.cases, "open_for", lambda customer_id: ["case-7"])
    shown = previewer(store, NOON).preview("news", "note", "ada")
    assert (shown.would_send, shown.rule, shown.reason) == (False, "open_case", "open case case-7")


def test_preview_of_an_eligible_customer_says_it_would_be_sent(store: Store) -> None:
    ada(store)
    shown = previewer(store, NOON).preview("news", "note", "ada")
    assert (shown.would_send, shown.verdict, shown.rule, shown.reason) == (True, "send", None, "")
