"""One use case, one transaction: a consent change, an unsubscribe and a provider's bounce or
complaint each commit their state and their event together; an open or a click is logged once,
as first seen. Against a real store (SQLite, and PostgreSQL when configured).

A crash before the commit leaves nothing behind; a crash after it (the delivery failed) is
healed by the retry, which writes nothing twice and delivers the one logged event.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.messaging import ConsentChange, Feedback, MessagingService
from domain.events import ConflictingEvent
from domain.messages import OutboxMessage
from domain.unsubscribe import UnsubscribeLinks
from store.store import Store
from tests.crash_points import (
    CRASH_POINTS,
    Crash,
    CrashPoint,
    assert_delivered,
    crash_deliveries,
    fail_event_writes,
    journey_service,
    logged,
)

LINKS = UnsubscribeLinks("unsubscribe-secret", "http://api")


def messaging(store: Store) -> MessagingService:
    return MessagingService(journey_service(store), LINKS)


def sent_message(store: Store, customer: str) -> OutboxMessage:
    message, _ = store.outbox.reserve(
        OutboxMessage(
            idempotency_key="journey/onboarding/c-1:welcome",
            customer_id=customer,
            journey_id="onboarding",
            workflow_id="journey/onboarding/c-1",
            step_id="welcome",
            channel="email",
            template="welcome",
            recipient="ada@example.com",
            status="sent",
            requested_at=datetime.now(UTC),
        )
    )
    return message


def bounce(message: OutboxMessage, detail: str = "550 5.1.1 no such user") -> Feedback:
    return Feedback(
        type="bounce",
        recipient="ada@example.com",
        message_key=message.idempotency_key,
        detail=detail,
    )


# --- consent ---------------------------------------------------------------------------------


async def test_a_consent_change_whose_event_fails_to_log_changes_nothing(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = messaging(store)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await service.set_consent(customer, ConsentChange(email=False), "api", "req-1")
    profile = store.customers.get(customer)
    assert profile is not None and profile.consent.email is True
    assert logged(store, customer, "consent_changed") == []


@pytest.mark.parametrize("crash", CRASH_POINTS)
async def test_a_retried_consent_change_after_a_failed_delivery_logs_and_delivers_it_once(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch, crash: CrashPoint
) -> None:
    service = messaging(store)
    deliveries = crash_deliveries(monkeypatch, service.journeys, crash)
    with pytest.raises(Crash):
        await service.set_consent(customer, ConsentChange(sms=False), "api", "req-1")
    # The consent is already as asked: the retry still sees its event logged and delivered.
    profile = await service.set_consent(customer, ConsentChange(sms=False), "api", "req-1")
    assert profile.consent.sms is False and profile.consent.email is True
    [event] = logged(store, customer, "consent_changed")
    assert event.properties == {"source": "api", "sms": False}
    assert_delivered(deliveries, event)


async def test_a_request_id_reused_for_another_change_is_refused_and_changes_nothing(
    store: Store, customer: str
) -> None:
    service = messaging(store)
    await service.set_consent(customer, ConsentChange(sms=False), "api", "req-1")
    with pytest.raises(ConflictingEvent):
        await service.set_consent(customer, ConsentChange(email=False), "api", "req-1")
    profile = store.customers.get(customer)
    assert profile is not None and (profile.consent.email, profile.consent.sms) == (True, False)
    assert len(logged(store, customer, "consent_changed")) == 1


async def test_an_unsubscribe_whose_event_fails_to_log_keeps_the_customer_subscribed(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = messaging(store)
    token = LINKS.token(customer, "email", datetime.now(UTC))
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await service.unsubscribe(token)
    profile = store.customers.get(customer)
    assert profile is not None and profile.consent.email is True


@pytest.mark.parametrize("crash", CRASH_POINTS)
async def test_a_second_click_on_an_unsubscribe_link_after_a_crash_completes_it_once(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch, crash: CrashPoint
) -> None:
    service = messaging(store)
    deliveries = crash_deliveries(monkeypatch, service.journeys, crash)
    token = LINKS.token(customer, "email", datetime.now(UTC))
    with pytest.raises(Crash):
        await service.unsubscribe(token)
    assert await service.unsubscribe(token) == (customer, "email")
    profile = store.customers.get(customer)
    assert profile is not None and profile.consent.email is False
    [event] = logged(store, customer, "consent_changed")
    assert event.properties == {"source": "unsubscribe link", "email": False}
    assert_delivered(deliveries, event)


# --- provider feedback -----------------------------------------------------------------------


async def test_a_bounce_whose_event_fails_to_log_suppresses_nothing(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = messaging(store)
    message = sent_message(store, customer)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await service.feedback(bounce(message))
    assert store.suppressions.get("email", "ada@example.com") is None
    assert logged(store, customer, "message_bounced") == []


async def test_a_bounce_reported_again_after_a_failed_delivery_is_logged_and_delivered_once(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = messaging(store)
    message = sent_message(store, customer)
    deliveries = crash_deliveries(monkeypatch, service.journeys, "after_ingest")
    with pytest.raises(Crash):
        await service.feedback(bounce(message))
    # The provider retries its webhook, later and worded differently: the first report stands.
    outcome = await service.feedback(bounce(message, detail="550 user unknown"))
    assert outcome.suppressed and outcome.scope == "all"
    suppression = store.suppressions.get("email", "ada@example.com")
    assert suppression is not None and suppression.detail == "550 5.1.1 no such user"
    [event] = logged(store, customer, "message_bounced")
    assert event.properties["reason"] == "550 5.1.1 no such user"
    assert_delivered(deliveries, event)
    decisions = store.ledger.decisions(customer_id=customer)
    assert [d.decision for d in decisions] == ["bounced"]


# --- tracking --------------------------------------------------------------------------------


async def test_an_open_fetched_again_after_a_failed_delivery_is_delivered_as_first_logged(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = messaging(store)
    message = sent_message(store, customer)
    assert service.tracking is not None
    pixel = service.tracking.open_url(customer, message.idempotency_key, datetime.now(UTC))
    token = pixel.rsplit("/", 1)[1].removesuffix(".gif")
    deliveries = crash_deliveries(monkeypatch, service.journeys, "after_ingest")
    assert await service.track_open(token)  # the customer's image loads all the same
    assert await service.track_open(token)  # the mail client fetches it again, later
    [event] = logged(store, customer, "message_opened")
    assert event.properties["step_id"] == "welcome"
    assert_delivered(deliveries, event)
