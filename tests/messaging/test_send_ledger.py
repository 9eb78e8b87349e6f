"""Frequency caps are exact under concurrency; decisions are recorded once each."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from domain.eligibility import SendFacts
from domain.send_policy import FrequencyCap
from store.send_ledger import SendDecision
from store.store import Store

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAILY_TWO = FrequencyCap(name="marketing_daily", max=2, per=timedelta(hours=24))
SMS_ONE = FrequencyCap(name="sms_daily", channels=["sms"], max=1, per=timedelta(days=1))


def test_a_cap_defers_until_the_oldest_counted_message_leaves_the_window(store: Store) -> None:
    ledger = store.ledger
    assert ledger.claim("k1", "c-1", "email", "marketing", [DAILY_TWO], NOW).allowed
    later = NOW + timedelta(hours=3)
    assert ledger.claim("k2", "c-1", "email", "marketing", [DAILY_TWO], later).allowed
    full = ledger.claim("k3", "c-1", "email", "marketing", [DAILY_TWO], later)
    assert not full.allowed and full.cap == DAILY_TWO
    assert full.room_at == NOW + timedelta(hours=24)
    # A retry of an allowed message keeps its slot; other customers are not affected.
    assert ledger.claim("k2", "c-1", "email", "marketing", [DAILY_TWO], later).allowed
    assert ledger.claim("k4", "c-2", "email", "marketing", [DAILY_TWO], later).allowed
    # When the first message leaves the window there is room again.
    assert ledger.claim("k3", "c-1", "email", "marketing", [DAILY_TWO], full.room_at).allowed


def test_caps_count_only_their_channels_and_categories_and_release_gives_back(
    store: Store,
) -> None:
    ledger = store.ledger
    assert ledger.claim("e1", "c-1", "email", "marketing", [DAILY_TWO], NOW).allowed
    assert ledger.claim("s1", "c-1", "sms", "marketing", [DAILY_TWO, SMS_ONE], NOW).allowed
    sms = ledger.claim("s2", "c-1", "sms", "marketing", [DAILY_TWO, SMS_ONE], NOW)
    assert not sms.allowed and sms.cap is not None
    ledger.release("e1")  # that email did not go out after all
    assert ledger.claim("e2", "c-1", "email", "marketing", [DAILY_TWO], NOW).allowed


def _claimants(url: str, n: int, keys: list[str]) -> list[bool]:
    """Each key claims from its own connection, all released at once by a barrier."""
    barrier = threading.Barrier(n)
    stores = [Store.open(url, migrate=False) for _ in range(n)]

    def claim(i: int) -> bool:
        barrier.wait()
        return (
            stores[i].ledger.claim(keys[i], "c-1", "email", "marketing", [DAILY_TWO], NOW).allowed
        )

    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(claim, range(n)))
    finally:
        for opened in stores:
            opened.close()


def test_concurrent_journeys_never_exceed_a_cap(store: Store, backend_url: str) -> None:
    allowed = _claimants(backend_url, 12, [f"journey-{i}" for i in range(12)])
    assert sum(allowed) == 2


def _process_claims(url: str, worker: int) -> int:
    return sum(_claimants(url, 4, [f"p{worker}-{i}" for i in range(4)]))


def test_concurrent_worker_processes_never_exceed_a_cap(store: Store, backend_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=spawn) as pool:
        allowed = sum(pool.map(_process_claims, [backend_url] * 3, range(3)))
    assert allowed == 2


def test_each_decision_is_recorded_once_and_deferrals_are_counted_by_their_rule(
    store: Store,
) -> None:
    ledger = store.ledger

    def decision(
        kind: str, reason: str, until: datetime | None = None, rule: str | None = None
    ) -> SendDecision:
        return SendDecision(
            idempotency_key="k1",
            customer_id="c-1",
            journey_id="j",
            step_id="s",
            channel="sms",
            category="marketing",
            decision=kind,
            rule=rule,
            reason=reason,
            until=until,
            at=NOW,
        )

    quiet = decision(
        "deferred", "quiet hours 21:00-09:00 UTC", NOW + timedelta(hours=1), "quiet_hours"
    )
    assert ledger.record(quiet) and not ledger.record(quiet)
    assert ledger.record(
        decision("deferred", "cap sms_daily: 1 per 1d reached", NOW + timedelta(days=1), "cap")
    )
    # Worded like a quiet-hours deferral, but no rule says so: the wording decides nothing.
    assert ledger.record(decision("deferred", "quiet hours, says a person", NOW, None))
    assert ledger.record(decision("sent", "sent"))
    newest_first = [(d.decision, d.rule) for d in ledger.decisions(customer_id="c-1")]
    assert newest_first == [
        ("sent", None),
        ("deferred", None),
        ("deferred", "cap"),
        ("deferred", "quiet_hours"),
    ]
    assert ledger.deferrals("j") == {
        ("sms", "quiet_hours"): 1,
        ("sms", "cap"): 1,
        ("sms", "other"): 1,
    }


def test_decide_takes_a_cap_slot_only_when_the_message_goes(store: Store) -> None:
    ledger = store.ledger

    def facts(now: datetime) -> SendFacts:
        return SendFacts(
            channel="email",
            category="marketing",
            recipient="ada@example.com",
            consented=True,
            caps=[DAILY_TWO, SMS_ONE],
            now=now,
        )

    assert ledger.decide("k1", "c-1", facts(NOW)).sends
    assert ledger.decide("k2", "c-1", facts(NOW + timedelta(hours=1))).sends
    full = ledger.decide("k3", "c-1", facts(NOW + timedelta(hours=2)))
    assert (full.verdict, full.rule, full.until) == ("defer", "cap", NOW + timedelta(hours=24))
    # A retry of a message that holds its slot goes again; the deferred one took none.
    assert ledger.decide("k2", "c-1", facts(NOW + timedelta(hours=3))).sends
    assert [s.at for s in ledger.recent("c-1", NOW - timedelta(days=1))] == [
        NOW,
        NOW + timedelta(hours=1),
    ]
