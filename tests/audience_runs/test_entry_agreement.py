"""The audience run's entry anti-join (store/audience_runs.py: blocking_run) is the SQL twin of
domain.entry.decide_entry: for every re-entry policy and every kind of history, on SQLite and
PostgreSQL, the members it keeps out are exactly those decide_entry refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import exists, select

from domain.customers import CustomerUpsert
from domain.entry import decide_entry
from domain.journey import JourneyDefinition
from domain.loader import parse_journey
from domain.runs import Enrollment, RunStatus
from store.audience_runs import blocking_run
from store.schema import customers
from store.store import Store
from tests.store.conftest import backend_url, postgres_session_url, store

__all__ = ["backend_url", "postgres_session_url", "store"]

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
COOLDOWN = timedelta(days=7)
POLICIES: dict[str, dict[str, Any]] = {
    "once": {"re_entry": "once"},
    "always": {"re_entry": "always"},
    "cooldown": {"re_entry": "cooldown", "cooldown": "7d"},
}
# Each history: (days ago entered, status) of the member's earlier runs, oldest first.
HISTORIES: dict[str, list[tuple[timedelta, RunStatus]]] = {
    "no_history": [],
    "ended_inside_the_cooldown": [(timedelta(days=2), "completed")],
    "ended_outside_the_cooldown": [(timedelta(days=30), "exited")],
    "ended_exactly_one_cooldown_ago": [(COOLDOWN, "completed")],
    "ended_just_inside_the_cooldown": [(COOLDOWN - timedelta(seconds=1), "failed")],
    "running_since_long_ago": [(timedelta(days=40), "running")],
    "old_run_then_a_recent_one": [(timedelta(days=30), "completed"), (timedelta(days=1), "exited")],
    "recent_ended_then_running": [(timedelta(days=3), "completed"), (timedelta(days=2), "running")],
}


def journey(policy: str) -> JourneyDefinition:
    return parse_journey(
        {
            "id": f"re_{policy}",
            "name": policy,
            "trigger": {"event": "signed_up", **POLICIES[policy]},
            "steps": [{"id": "pause", "wait": {"for": "1d"}}],
        }
    )


def _history(db: Store) -> None:
    """One member per history, with those runs in every journey (and one in another journey,
    which must not count)."""
    for name, runs in HISTORIES.items():
        db.customers.upsert(CustomerUpsert(customer_id=name), NOW - timedelta(days=60))
        for policy in [*POLICIES, "unrelated"]:
            for index, (ago, status) in enumerate(runs):
                db.runs.enroll(
                    Enrollment(
                        entry_id=f"{policy}-{name}-{index}",
                        workflow_id=f"journey/re_{policy}/{name}",
                        journey_id=f"re_{policy}",
                        version=1,
                        customer_id=name,
                        status=status,
                        entered_at=NOW - ago,
                        ended_at=None if status == "running" else NOW - ago + timedelta(hours=1),
                    )
                )
    # A member of no history here is still blocked in the unrelated journey only.
    db.runs.enroll(
        Enrollment(
            entry_id="unrelated-no_history",
            workflow_id="journey/re_unrelated/no_history",
            journey_id="re_unrelated",
            version=1,
            customer_id="no_history",
            status="running",
            entered_at=NOW - timedelta(days=1),
        )
    )


@pytest.mark.parametrize("policy", list(POLICIES))
def test_the_entry_anti_join_keeps_out_exactly_whom_decide_entry_refuses(
    store: Store, policy: str
) -> None:
    _history(store)
    definition = journey(policy)
    c = customers.c
    query = select(c.customer_id, exists().where(blocking_run(definition, NOW)))
    with store.engine.connect() as conn:
        blocked_in_sql = {customer: bool(b) for customer, b in conn.execute(query)}
    refused = {
        name: not decide_entry(definition, store.runs.history(definition.id, name, None), NOW).enter
        for name in HISTORIES
    }
    assert blocked_in_sql == refused
    # And the policies do differ, so the comparison has teeth.
    expected_entering = {
        "once": {"no_history"},
        "always": set(HISTORIES) - {"running_since_long_ago", "recent_ended_then_running"},
        "cooldown": {"no_history", "ended_outside_the_cooldown", "ended_exactly_one_cooldown_ago"},
    }[policy]
    assert {name for name, no in refused.items() if not no} == expected_entering
