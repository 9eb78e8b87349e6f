"""The callback queue in the store: ordered by due time, and one holder per task under races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from domain.callbacks import CreateCallback
from domain.surveys import CreateSurvey
from store.store import Store

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _task(store: Store, task_id: str, due_in: timedelta) -> None:
    store.callbacks.create(
        CreateCallback(
            task_id=task_id,
            queue="retention",
            reason="lapsed VIP",
            customer_id="c-1",
            journey_id="win_back",
            workflow_id="wf",
            step_id="call",
            due_at=NOW + due_in,
            created_at=NOW,
        )
    )


def test_the_queue_is_ordered_by_due_time_and_creating_twice_is_one_task(
    store: Store, customer: str
) -> None:
    _task(store, "later", timedelta(hours=5))
    _task(store, "sooner", timedelta(hours=1))
    _task(store, "sooner", timedelta(hours=9))  # a retried create
    tasks = store.callbacks.list(queue="retention")
    assert [t.task_id for t in tasks] == ["sooner", "later"]
    assert tasks[0].due_at == NOW + timedelta(hours=1)
    assert [t.task_id for t in tasks if t.overdue(NOW + timedelta(hours=2))] == ["sooner"]


def test_two_agents_racing_for_a_task_cannot_both_hold_it(
    store: Store, customer: str, backend_url: str
) -> None:
    _task(store, "hot", timedelta(hours=1))
    agents = [f"agent-{i}" for i in range(8)]
    barrier = threading.Barrier(len(agents))
    stores = [Store.open(backend_url, migrate=False) for _ in agents]

    def claim(i: int) -> str | None:
        barrier.wait()
        try:
            return stores[i].callbacks.claim("hot", agents[i], NOW).claimed_by
        except ValueError:
            return None

    try:
        with ThreadPoolExecutor(len(agents)) as pool:
            winners = [w for w in pool.map(claim, range(len(agents))) if w]
    finally:
        for opened in stores:
            opened.close()
    holder = store.callbacks.get("hot")
    assert holder is not None and holder.status == "claimed"
    assert set(winners) == {holder.claimed_by}


def test_surveys_are_answered_once_and_scored_in_sql(store: Store, customer: str) -> None:
    for n, score in enumerate([10, 9, 7, 3, None]):
        survey_id = f"nps-{n}"
        store.surveys.create(
            CreateSurvey(
                survey_id=survey_id,
                kind="nps",
                customer_id="c-1",
                journey_id="onboarding",
                workflow_id="wf",
                step_id="nps",
                expires_at=NOW + timedelta(days=7),
                created_at=NOW,
            )
        )
        if score is not None:
            store.surveys.answer(survey_id, score, "", NOW + timedelta(hours=n))
    [row] = store.surveys.scores("onboarding", by="month")
    # 2 promoters, 1 passive, 1 detractor of 4 answers: NPS = 50 - 25 = +25.
    assert (row.period, row.sent, row.answers, row.nps) == ("2026-03", 5, 4, 25.0)
