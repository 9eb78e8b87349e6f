"""Reads for the console's support pages: the case queue, the callback queue, and messages
and send decisions, each one keyset page with filters in one bounded query (plus one for the
case queue's SLA counts), SQLAlchemy Core and parameterized.

A page is `limit + 1` rows asked for, `limit` given back, and whether there is more; the
caller's cursor is the last row's sort keys. Nothing here decides a business rule: the case
queue's SLA filter is `domain.cases.sla_state` said in SQL (a case's next deadline, against
now and now + DUE_SOON), and the rows carry what the domain needs to say it again per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from domain.callbacks import ACTIVE, CallbackTask
from domain.cases import DUE_SOON, CaseState
from store.db import reading
from store.schema import callbacks, cases, customers, outbox, send_decisions

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    more: bool


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = "open"
    queue: str | None = None
    assignee: str | None = None
    severity: str | None = None
    sla: str | None = None  # breached, due_soon, fine (open cases only)


@dataclass(frozen=True)
class SendFilter:
    """What the messages and decisions lists share: channel, journey, customer, a time span."""

    channel: str | None = None
    journey_id: str | None = None
    customer_id: str | None = None
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class QueuedCallback:
    task: CallbackTask
    customer_timezone: str


@dataclass(frozen=True)
class MessageRow:
    idempotency_key: str
    customer_id: str
    journey_id: str | None
    step_id: str | None
    channel: str
    template: str
    recipient: str | None
    subject: str
    status: str
    detail: str
    requested_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class DecisionRow:
    id: int
    idempotency_key: str
    customer_id: str
    journey_id: str | None
    step_id: str | None
    channel: str
    category: str
    decision: str
    rule: str | None
    reason: str
    until: datetime | None
    at: datetime


def _deadline() -> ColumnElement[Any]:
    """A case's next SLA deadline as domain.cases.next_deadline says it (open cases)."""
    c = cases.c
    return case(
        (c.first_response_at.is_(None), c.first_response_due),
        else_=c.resolution_due,
    )


def _sla_condition(sla: str, now: datetime) -> ColumnElement[bool]:
    deadline = _deadline()
    soon = now + DUE_SOON
    if sla == "breached":
        return deadline <= now
    if sla == "due_soon":
        return and_(deadline > now, deadline <= soon)
    return deadline > soon


class ConsoleSupportReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- cases ---------------------------------------------------------------------------

    def case_page(
        self,
        wanted: CaseFilter,
        now: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page[CaseState]:
        """Open cases by next deadline (most overdue first); others newest opened first."""
        c = cases.c
        by_deadline = wanted.status == "open"
        key = _deadline() if by_deadline else c.opened_at
        query = select(c.state, key.label("sort_at"))
        for column, value in (
            (c.status, wanted.status),
            (c.queue, wanted.queue),
            (c.assignee, wanted.assignee),
            (c.severity, wanted.severity),
        ):
            if value:
                query = query.where(column == value)
        if wanted.sla and by_deadline:
            query = query.where(_sla_condition(wanted.sla, now))
        if after is not None:
            at, case_id = after
            if by_deadline:
                query = query.where(or_(key > at, and_(key == at, c.case_id > case_id)))
            else:
                query = query.where(or_(key < at, and_(key == at, c.case_id < case_id)))
        if by_deadline:
            query = query.order_by(key, c.case_id)
        else:
            query = query.order_by(key.desc(), c.case_id.desc())
        with reading(self._engine) as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
        found = [CaseState.model_validate(row.state) for row in rows[:limit]]
        return Page(found, len(rows) > limit)

    def sla_counts(self, now: datetime, queue: str | None = None) -> dict[str, int]:
        """Open cases by SLA state: breached, due_soon, fine (one query)."""
        c = cases.c
        deadline = _deadline()
        state = case(
            (deadline <= now, "breached"),
            (deadline <= now + DUE_SOON, "due_soon"),
            else_="fine",
        ).label("sla")
        query = select(state, func.count()).where(c.status == "open").group_by(state)
        if queue:
            query = query.where(c.queue == queue)
        counts = {"breached": 0, "due_soon": 0, "fine": 0}
        with reading(self._engine) as conn:
            for sla, count in conn.execute(query):
                counts[str(sla)] = int(count)
        return counts

    def case_choices(self) -> tuple[list[str], list[str]]:
        """The queues and the assignees there are (for the filter's choices), two queries."""
        c = cases.c
        with reading(self._engine) as conn:
            queues = list(conn.scalars(select(c.queue).distinct().order_by(c.queue).limit(200)))
            agents = list(
                conn.scalars(
                    select(c.assignee)
                    .where(c.assignee.is_not(None))
                    .distinct()
                    .order_by(c.assignee)
                    .limit(200)
                )
            )
        return queues, agents

    # --- callbacks -----------------------------------------------------------------------

    def callback_page(
        self,
        *,
        queue: str | None,
        agent: str | None,
        statuses: Sequence[str],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page[QueuedCallback]:
        """Tasks by due time (soonest, so most overdue, first), each with its customer's
        timezone (one query, joined)."""
        c = callbacks.c
        query = (
            select(callbacks, customers.c.timezone.label("customer_timezone"))
            .join(customers, customers.c.customer_id == c.customer_id)
            .where(c.status.in_(list(statuses) or list(ACTIVE)))
        )
        if queue:
            query = query.where(c.queue == queue)
        if agent:
            query = query.where(c.claimed_by == agent)
        if after is not None:
            at, task_id = after
            query = query.where(or_(c.due_at > at, and_(c.due_at == at, c.task_id > task_id)))
        query = query.order_by(c.due_at, c.task_id).limit(limit + 1)
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        found = []
        for row in rows[:limit]:
            values = dict(row._mapping)
            zone = values.pop("customer_timezone")
            found.append(QueuedCallback(CallbackTask.model_validate(values), zone))
        return Page(found, len(rows) > limit)

    def callback(self, task_id: str) -> QueuedCallback | None:
        c = callbacks.c
        query = (
            select(callbacks, customers.c.timezone.label("customer_timezone"))
            .join(customers, customers.c.customer_id == c.customer_id)
            .where(c.task_id == task_id)
        )
        with reading(self._engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        values = dict(row._mapping)
        zone = values.pop("customer_timezone")
        return QueuedCallback(CallbackTask.model_validate(values), zone)

    def callback_queues(self) -> list[str]:
        c = callbacks.c
        with reading(self._engine) as conn:
            return list(conn.scalars(select(c.queue).distinct().order_by(c.queue).limit(200)))

    # --- messages and decisions ----------------------------------------------------------

    def message_page(
        self,
        wanted: SendFilter,
        *,
        status: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page[MessageRow]:
        """Messages newest first (the list's columns only, not the bodies)."""
        o = outbox.c
        query = select(
            o.idempotency_key,
            o.customer_id,
            o.journey_id,
            o.step_id,
            o.channel,
            o.template,
            o.recipient,
            o.subject,
            o.status,
            o.detail,
            o.requested_at,
            o.sent_at,
        )
        for column, value in (
            (o.channel, wanted.channel),
            (o.status, status),
            (o.journey_id, wanted.journey_id),
            (o.customer_id, wanted.customer_id),
        ):
            if value:
                query = query.where(column == value)
        if wanted.since is not None:
            query = query.where(o.requested_at >= wanted.since)
        if wanted.before is not None:
            query = query.where(o.requested_at < wanted.before)
        if after is not None:
            at, key = after
            query = query.where(
                or_(o.requested_at < at, and_(o.requested_at == at, o.idempotency_key < key))
            )
        query = query.order_by(o.requested_at.desc(), o.idempotency_key.desc()).limit(limit + 1)
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return Page([MessageRow(**row._mapping) for row in rows[:limit]], len(rows) > limit)

    def decision_page(
        self,
        wanted: SendFilter,
        *,
        decision: str | None,
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> Page[DecisionRow]:
        """Send decisions newest first."""
        d = send_decisions.c
        query = select(
            d.id,
            d.idempotency_key,
            d.customer_id,
            d.journey_id,
            d.step_id,
            d.channel,
            d.category,
            d.decision,
            d.rule,
            d.reason,
            d.until,
            d.at,
        )
        for column, value in (
            (d.channel, wanted.channel),
            (d.decision, decision),
            (d.journey_id, wanted.journey_id),
            (d.customer_id, wanted.customer_id),
        ):
            if value:
                query = query.where(column == value)
        if wanted.since is not None:
            query = query.where(d.at >= wanted.since)
        if wanted.before is not None:
            query = query.where(d.at < wanted.before)
        if after is not None:
            at, row_id = after
            query = query.where(or_(d.at < at, and_(d.at == at, d.id < row_id)))
        query = query.order_by(d.at.desc(), d.id.desc()).limit(limit + 1)
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return Page([DecisionRow(**row._mapping) for row in rows[:limit]], len(rows) > limit)
