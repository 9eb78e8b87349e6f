"""What funnels and experiment reports count, computed by the database with GROUP BY.

A run *converted* when the customer's log holds one of the journey's converting goal events
at or after the run's entry; holdout runs are counted the same way, which is what makes the
holdout a fair baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, and_, case, distinct, exists, false, func, select

from store.db import reading
from store.schema import (
    customer_events,
    enrollments,
    journey_step_events,
    outbox,
    send_decisions,
)

# `stopped`: ended by an operator (`journeys runs end`), at that step / as that run's end.
STEP_STATUSES = ("entered", "completed", "skipped", "exited", "failed", "stopped")
RUN_STATUSES = ("running", "completed", "exited", "failed", "stopped")
# Decisions that come on top of a message's outcome: held for later, or reported by the provider.
AFTER_THE_FACT = ("deferred", "bounced", "soft_bounced", "complained")


class StepCounts(BaseModel):
    version: int
    step_id: str
    kind: str
    entered: int = 0
    completed: int = 0
    skipped: int = 0
    exited: int = 0
    failed: int = 0
    stopped: int = 0
    converted: int = 0  # runs that entered the step and converted (a goal event after entry)


class RunCounts(BaseModel):
    version: int
    entered: int = 0
    running: int = 0
    completed: int = 0
    exited: int = 0
    failed: int = 0
    stopped: int = 0
    converted: int = 0


class MessageCounts(BaseModel):
    step_id: str
    channel: str
    status: str
    count: int


class ArmCounts(BaseModel):
    """Runs that an experiment step (split or holdout) assigned to one arm."""

    step_id: str
    kind: str
    arm: str
    entered: int
    converted: int


def _count_where(column: Any, value: str) -> Any:
    return func.count(distinct(case((column == value, journey_step_events.c.entry_id))))


def _converted(goal_events: Sequence[str]) -> ColumnElement[bool]:
    if not goal_events:
        return false()
    return exists().where(
        and_(
            customer_events.c.customer_id == enrollments.c.customer_id,
            customer_events.c.type.in_(list(goal_events)),
            customer_events.c.occurred_at >= enrollments.c.entered_at,
        )
    )


class ReportRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def step_counts(self, journey_id: str, goal_events: Sequence[str] = ()) -> list[StepCounts]:
        """Per version and step: runs that entered it, how each visit ended, who converted."""
        e = journey_step_events.c
        converted = and_(e.status == "entered", _converted(goal_events))
        stmt = (
            select(
                e.version,
                e.step_id,
                func.max(e.kind).label("kind"),
                *(_count_where(e.status, s).label(s) for s in STEP_STATUSES),
                func.count(distinct(case((converted, e.entry_id)))).label("converted"),
            )
            .join(enrollments, enrollments.c.entry_id == e.entry_id)
            .where(e.journey_id == journey_id)
            .group_by(e.version, e.step_id)
        )
        with reading(self._engine) as conn:
            return [StepCounts.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]

    def run_counts(self, journey_id: str, goal_events: Sequence[str]) -> list[RunCounts]:
        r = enrollments.c
        stmt = (
            select(
                r.version,
                func.count().label("entered"),
                *(func.count(case((r.status == s, 1))).label(s) for s in RUN_STATUSES),
                func.count(case((_converted(goal_events), 1))).label("converted"),
            )
            .where(r.journey_id == journey_id)
            .group_by(r.version)
            .order_by(r.version)
        )
        with reading(self._engine) as conn:
            return [RunCounts.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]

    def message_counts(self, journey_id: str) -> list[MessageCounts]:
        """Per step (all versions): messages by channel and outcome; deferrals, bounces and
        complaints (a message counts once as sent and once more as bounced)."""
        m, d = outbox.c, send_decisions.c
        outcomes = (
            select(m.step_id, m.channel, m.status, func.count().label("count"))
            .where(m.journey_id == journey_id, m.step_id.is_not(None))
            .group_by(m.step_id, m.channel, m.status)
        )
        deferrals = (
            select(d.step_id, d.channel, d.decision.label("status"), func.count().label("count"))
            .where(
                d.journey_id == journey_id,
                d.decision.in_(AFTER_THE_FACT),
                d.step_id.is_not(None),
            )
            .group_by(d.step_id, d.channel, d.decision)
        )
        with reading(self._engine) as conn:
            rows = [*conn.execute(outcomes), *conn.execute(deferrals)]
            return [MessageCounts.model_validate(dict(row._mapping)) for row in rows]

    def arms(self, journey_id: str, goal_events: Sequence[str]) -> list[ArmCounts]:
        """Per split or holdout step and arm: runs assigned to it and how many converted."""
        e = journey_step_events.c
        assigned = (
            select(e.entry_id, e.step_id, e.kind, func.min(e.detail).label("arm"))
            .where(
                e.journey_id == journey_id,
                e.kind.in_(["split", "holdout"]),
                e.status == "completed",
            )
            .group_by(e.entry_id, e.step_id, e.kind)
            .subquery()
        )
        stmt = (
            select(
                assigned.c.step_id,
                assigned.c.kind,
                assigned.c.arm,
                func.count().label("entered"),
                func.count(case((_converted(goal_events), 1))).label("converted"),
            )
            .join(enrollments, enrollments.c.entry_id == assigned.c.entry_id)
            .group_by(assigned.c.step_id, assigned.c.kind, assigned.c.arm)
            .order_by(assigned.c.step_id, assigned.c.arm)
        )
        with reading(self._engine) as conn:
            return [ArmCounts.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]
