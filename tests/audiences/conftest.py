"""Audience fixtures: a small hand-built customer base, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from store.store import Store
from tests.store.conftest import backend_url, postgres_session_url

__all__ = ["backend_url", "postgres_session_url"]

AS_OF = date(2024, 6, 30)
NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
SEGMENTS_FILE = REPO / "journeys" / "segments" / "segments.yaml"


def cdnow_file() -> Path | None:
    """The CDNOW data: the repository's copy, else the shared one; None when neither exists."""
    for candidate in (
        REPO / "data" / "cdnow" / "CDNOW_master.txt",
        REPO.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt",
    ):
        if candidate.exists():
            return candidate
    return None


def days_ago(days: int, hour: int = 12) -> datetime:
    """A moment `days` calendar days before AS_OF (negative: after it)."""
    return datetime.combine(AS_OF - timedelta(days=days), time(hour, tzinfo=UTC))


class Log:
    """Builds a customer event log with readable, unique event ids."""

    def __init__(self) -> None:
        self.events: list[CustomerEvent] = []

    def add(self, customer: str, type_: str, when: datetime, **properties: Any) -> None:
        self.events.append(
            CustomerEvent(
                event_id=f"{customer}:{type_}:{len(self.events)}",
                customer_id=customer,
                type=type_,
                occurred_at=when,
                properties=properties,
            )
        )

    def orders(self, customer: str, ago: list[int], amount: float) -> None:
        for days in ago:
            self.add(customer, "order_completed", days_ago(days), amount=amount, items=1)


def small_base() -> Log:
    """Seven customers, one per lifecycle stage, with known RFM scores (see test_projections)."""
    log = Log()
    log.orders("new-1", [10], 50)
    log.add("new-1", "order_completed", days_ago(-1, hour=0), amount=999, items=9)  # after as_of
    log.orders("active-1", [200, 150, 100, 50, 20], 80)
    log.orders("risk-1", [160, 150, 140, 130], 25)
    log.orders("lapsed-1", [250], 500)
    log.orders("churned-1", [500, 450], 10)
    log.orders("back-1", [400, 390, 30], 100)
    # The complaints the product records: a support case, a message reported as spam.
    log.add("active-1", "case_opened", days_ago(40))
    log.add("active-1", "message_complained", days_ago(5))
    for days in (170, 150, 120, 100):
        log.add("active-1", "message_opened", days_ago(days))
    log.add("active-1", "message_clicked", days_ago(60))
    log.add("prospect-1", "lead_created", days_ago(15))
    return log


PROFILES = [
    CustomerUpsert(
        customer_id="prospect-1",
        email="pat@example.com",
        tags=["lead"],
        attributes={"plan": "pro", "seats": 12, "beta": True},
    ),
    CustomerUpsert(
        customer_id="active-1",
        email="ann@example.com",
        timezone="Europe/Berlin",
        tags=["vip", "newsletter"],
        attributes={"plan": "free", "seats": "12", "beta": False},
    ),
    CustomerUpsert(customer_id="new-1", attributes={"seats": 3}),
    *(CustomerUpsert(customer_id=cid) for cid in ("risk-1", "lapsed-1", "churned-1", "back-1")),
]


def load_small_base(store: Store) -> Log:
    for profile in PROFILES:
        store.customers.upsert(profile, NOW)
    log = small_base()
    store.events.append_many(log.events, NOW)
    return log


@pytest.fixture
def store(backend_url: str) -> Iterator[Store]:
    opened = Store.open(backend_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def small_store(store: Store) -> Store:
    """The small base, loaded and projected as of AS_OF."""
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    return store
