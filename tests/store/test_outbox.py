"""The outbox: one row per idempotency key, status updates, newest-first listings."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta
from typing import Any

import pytest

import store.outbox as outbox_module
from domain.messages import OutboxMessage
from store.errors import UnknownMessage
from store.store import Store
from tests.store.conftest import T0


def message(key: str, **changes: Any) -> OutboxMessage:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "customer_id": "c-1",
        "journey_id": "onboarding",
        "workflow_id": "journey/onboarding/c-1",
        "step_id": "hello",
        "channel": "email",
        "template": "welcome",
        "recipient": "ada@example.com",
        "subject": "Hi",
        "body_text": "Hello Ada",
        "requested_at": T0,
    }
    return OutboxMessage(**(values | changes))


def test_reserve_of_new_key_stores_the_message(store: Store) -> None:
    draft = message("k-1", body_html="<p>Hello</p>")
    assert store.outbox.reserve(draft) == (draft, True)
    assert store.outbox.get("k-1") == draft


def test_reserve_of_known_key_returns_the_stored_message(store: Store) -> None:
    store.outbox.reserve(message("k-1", subject="first"))
    stored, created = store.outbox.reserve(message("k-1", subject="second"))
    assert not created
    assert stored.subject == "first"


def test_concurrent_reserve_of_one_key_has_one_winner(store: Store) -> None:
    start = threading.Barrier(8)
    outcomes: list[tuple[OutboxMessage, bool]] = []
    errors: list[BaseException] = []

    def reserve(i: int) -> None:
        start.wait()
        try:
            outcomes.append(store.outbox.reserve(message("k-1", subject=f"try {i}")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    winners = [m for m, created in outcomes if created]
    assert len(winners) == 1
    assert {m.subject for m, _ in outcomes} == {winners[0].subject}


def test_mark_records_the_outcome(store: Store) -> None:
    store.outbox.reserve(message("k-1"))
    sent_at = T0 + timedelta(seconds=3)
    marked = store.outbox.mark("k-1", "sent", provider_message_id="smtp-42", sent_at=sent_at)
    assert (marked.status, marked.provider_message_id, marked.sent_at) == (
        "sent",
        "smtp-42",
        sent_at,
    )
    assert marked.sent_at is not None and marked.sent_at.tzinfo is UTC
    assert store.outbox.get("k-1") == marked


def test_mark_of_unknown_key_raises(store: Store) -> None:
    with pytest.raises(UnknownMessage, match="'nope'"):
        store.outbox.mark("nope", "failed", detail="boom")


def test_mark_refuses_unknown_status(store: Store) -> None:
    store.outbox.reserve(message("k-1"))
    with pytest.raises(ValueError, match="delivered"):
        store.outbox.mark("k-1", "delivered")


def test_listings_are_newest_first_and_filter(store: Store) -> None:
    for i in range(3):
        store.outbox.reserve(message(f"k-{i}", requested_at=T0 + timedelta(minutes=i)))
    store.outbox.reserve(message("other", customer_id="c-2", requested_at=T0 - timedelta(days=1)))
    store.outbox.mark("k-1", "sent", sent_at=T0)
    assert [m.idempotency_key for m in store.outbox.list()] == ["k-2", "k-1", "k-0", "other"]
    assert [m.idempotency_key for m in store.outbox.list(limit=2)] == ["k-2", "k-1"]
    assert [m.idempotency_key for m in store.outbox.list(status="sent")] == ["k-1"]
    assert [m.idempotency_key for m in store.outbox.for_customer("c-1", limit=2)] == ["k-2", "k-1"]
    assert store.outbox.get("missing") is None


def test_a_message_for_a_customer_being_erased_is_refused_and_nothing_kept(
    store: Store, customer: str
) -> None:
    """The erasure writes its tombstone first; a send reaching the outbox after that (its
    workflow already being ended) must not store the address and body the scrub has passed."""
    from datetime import UTC, datetime

    from domain.privacy import CustomerErased

    draft = message("k-erased", customer_id=customer)
    store.privacy.begin(customer, datetime(2026, 12, 2, tzinfo=UTC))
    with pytest.raises(CustomerErased):
        store.outbox.reserve(draft)
    assert store.outbox.get("k-erased") is None


def test_a_send_checked_just_before_the_tombstone_cannot_outlive_the_scrub(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two transactions at once: a reservation has found no tombstone and not yet inserted
    when the erasure stands its tombstone and scrubs. The reservation holds the customer's
    lock (PostgreSQL; SQLite's one writer), so the erasure waits for it and its scrub then
    finds the row."""

    checked, go = threading.Event(), threading.Event()
    original = outbox_module.refuse_erased

    def check_then_pause(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        checked.set()
        go.wait(10)

    monkeypatch.setattr(outbox_module, "refuse_erased", check_then_pause)
    errors: list[BaseException] = []

    def run(action: Any) -> threading.Thread:
        def target() -> None:
            try:
                action()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    def erase() -> None:
        store.privacy.begin(customer, T0)
        store.privacy.scrub(customer, T0)

    send = run(lambda: store.outbox.reserve(message("k-race", customer_id=customer)))
    assert checked.wait(10)
    eraser = run(erase)
    eraser.join(1.0)  # without the shared lock the erasure finishes here, the send still open
    go.set()
    send.join(10)
    eraser.join(10)
    assert errors == []
    kept = store.outbox.get("k-race")
    assert kept is not None
    assert (kept.recipient, kept.subject, kept.body_text) == (None, "", "")
