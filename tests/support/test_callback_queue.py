"""The callback queue in the store: ordered by due time, and one holder per task when agents
race for it from threads or OS processes, each on its own connection (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.callbacks import CreateCallback
from domain.surveys import CreateSurvey
from store.callbacks import CallbackRefused
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


AGENTS = 4


def _claim_when_all_are_ready(url: str, agent: str, barrier: Any) -> str | None:
    """One agent on a connection of its own: the agent's name if its claim won, else None."""
    store = Store.open(url, migrate=False)
    try:
        barrier.wait()
        try:
            store.callbacks.claim("hot", agent, NOW)
        except CallbackRefused:
            return None
        return agent
    finally:
        store.close()


@pytest.mark.parametrize("agents_run_in", ["threads", "processes"])
def test_agents_racing_for_a_task_cannot_both_hold_it(
    store: Store, customer: str, backend_url: str, agents_run_in: str
) -> None:
    _task(store, "hot", timedelta(hours=1))
    names = [f"agent-{i}" for i in range(AGENTS)]
    pool: Executor
    if agents_run_in == "threads":
        barrier: Any = threading.Barrier(AGENTS)
        pool = ThreadPoolExecutor(AGENTS)
    else:
        context = multiprocessing.get_context("fork")
        manager = context.Manager()
        barrier = manager.Barrier(AGENTS)
        pool = ProcessPoolExecutor(AGENTS, mp_context=context)
    with pool:
        claims = [pool.submit(_claim_when_all_are_ready, backend_url, n, barrier) for n in names]
        winners = [w for w in (c.result(timeout=60) for c in claims) if w]
    if agents_run_in == "processes":
        manager.shutdown()
    holder = store.callbacks.get("hot")
    assert holder is not None and holder.status == "claimed"
    assert winners == [holder.claimed_by], "exactly one agent is told it holds the task"


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
    # 2 promoters, 1 passive, 1 detractor of 4 answers: NPS = 50 - 25 = +25. The fifth survey's
    # message never went out (no outbox row), so it does not count as sent.
    assert (row.period, row.sent, row.answers, row.nps) == ("2026-03", 4, 4, 25.0)
