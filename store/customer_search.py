"""Reads for the console's customer pages: search with keyset pages, and one bounded timeline.

`search` finds customers by id (exact or prefix), email (case-insensitive, exact or prefix),
phone (exact or prefix) or tag (exact), one page ordered by customer id, in one query (tier
and stage from the customer_metrics projection, the newest event by a correlated lookup on
the (customer_id, seq) index).

`timeline` reads the newest `limit` entries older than a keyset of each kind the customer has
(events, messages, send decisions, runs with their step records, surveys, cases, callbacks),
one query per kind (eight in all, whatever the number of rows), and merges them in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, func, literal, or_, select, text
from sqlalchemy.sql import ColumnElement

from domain.runs import Enrollment, StepEvent
from store.db import reading
from store.schema import (
    callbacks,
    cases,
    customer_events,
    customer_metrics,
    customers,
    enrollments,
    journey_step_events,
    outbox,
    send_decisions,
    surveys,
)

MAX_PAGE = 100
MAX_TIMELINE = 200
# Step records read for the runs of one timeline page (a looping run can have many).
MAX_STEPS = 2000


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    email: str | None
    phone: str | None
    tags: list[str]
    tier: str | None
    stage: str | None
    last_event_type: str | None
    last_event_at: datetime | None


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    # The last row's customer id when there may be more (the next page's cursor).
    next_after: str | None


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return customers.c.tags.op("@>")(func.jsonb_build_array(tag))
    return exists(
        select(literal(1))
        .select_from(text("json_each(customers.tags)"))
        .where(text("json_each.value = :tag").bindparams(tag=tag))
    )


def _matches(dialect: str, query: str) -> ColumnElement[bool]:
    lowered = query.lower()
    phone = query.replace(" ", "").replace("-", "")
    return or_(
        customers.c.customer_id == query,
        func.lower(customers.c.customer_id).like(_like_prefix(lowered), escape="\\"),
        func.lower(customers.c.email).like(_like_prefix(lowered), escape="\\"),
        customers.c.phone.like(_like_prefix(phone), escape="\\") if phone else literal(False),
        _has_tag(dialect, query),
    )


def search(engine: Engine, query: str, after: str | None, limit: int = 50) -> CustomerPage:
    """One page of the customers `query` finds (all, for an empty query), by customer id."""
    limit = max(1, min(limit, MAX_PAGE))
    last = (
        select(customer_events.c.type, customer_events.c.occurred_at)
        .where(customer_events.c.customer_id == customers.c.customer_id)
        .order_by(customer_events.c.seq.desc())
        .limit(1)
        .correlate(customers)
    )
    stmt = (
        select(
            customers.c.customer_id,
            customers.c.email,
            customers.c.phone,
            customers.c.tags,
            customer_metrics.c.tier,
            customer_metrics.c.stage,
            last.with_only_columns(customer_events.c.type).scalar_subquery().label("last_type"),
            last.with_only_columns(customer_events.c.occurred_at)
            .scalar_subquery()
            .label("last_at"),
        )
        .select_from(customers.outerjoin(customer_metrics))
        .order_by(customers.c.customer_id)
        .limit(limit + 1)
    )
    with reading(engine) as conn:
        if query:
            stmt = stmt.where(_matches(conn.dialect.name, query))
        if after:
            stmt = stmt.where(customers.c.customer_id > after)
        found = conn.execute(stmt).all()
    rows = [
        CustomerRow(
            customer_id=row.customer_id,
            email=row.email,
            phone=row.phone,
            tags=list(row.tags or []),
            tier=row.tier,
            stage=row.stage,
            last_event_type=row.last_type,
            last_event_at=_aware(row.last_at),
        )
        for row in found[:limit]
    ]
    more = len(found) > limit
    return CustomerPage(rows=rows, next_after=rows[-1].customer_id if more and rows else None)


def _aware(value: Any) -> datetime | None:
    """A UTC datetime from a scalar subquery (SQLite gives text or a naive value there)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the timeline ---------------------------------------------------------------------------


Key = int | str


@dataclass(frozen=True)
class Entry:
    """One line of a customer's timeline: when, what kind, a key unique within the kind, and
    the row itself (a mapping of its columns; `steps` for a run)."""

    at: datetime
    kind: str  # event | message | decision | run | survey | case | callback
    key: Key
    row: dict[str, Any]
    steps: list[StepEvent] = field(default_factory=list)

    @property
    def sort_key(self) -> tuple[datetime, str, Key]:
        return (self.at, self.kind, self.key)


Cursor = tuple[datetime, str, Key]


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]  # newest first
    # The keyset of the last entry when there may be older ones.
    older: Cursor | None


# Kinds whose key is a number (a sequence), the others' is text.
NUMBERED = ("decision", "event")
# kind -> (table, time column, key column), in the order entries of one moment sort.
_SOURCES: dict[str, tuple[Any, Any, Any]] = {
    "callback": (callbacks, callbacks.c.created_at, callbacks.c.task_id),
    "case": (cases, cases.c.opened_at, cases.c.case_id),
    "decision": (send_decisions, send_decisions.c.at, send_decisions.c.id),
    "event": (customer_events, customer_events.c.occurred_at, customer_events.c.seq),
    "message": (outbox, outbox.c.requested_at, outbox.c.idempotency_key),
    "run": (enrollments, enrollments.c.entered_at, enrollments.c.entry_id),
    "survey": (surveys, surveys.c.created_at, surveys.c.survey_id),
}
KINDS = tuple(_SOURCES)
# Large columns a timeline line does not show.
_LEFT_OUT = {"body_html", "body_text", "state"}


def _older_than(kind: str, at: Any, key: Any, before: Cursor) -> ColumnElement[bool]:
    """Rows of `kind` after `before` in (time, kind, key) descending order."""
    moment, cursor_kind, cursor_key = before
    if kind < cursor_kind:
        return at <= moment
    if kind > cursor_kind:
        return at < moment
    return or_(at < moment, and_(at == moment, key < cursor_key))


def timeline(
    engine: Engine,
    customer_id: str,
    before: Cursor | None = None,
    limit: int = 50,
    kinds: tuple[str, ...] = KINDS,
) -> TimelinePage:
    """The customer's newest `limit` timeline entries (of `kinds`) older than `before`, newest
    first: one query per kind of entry and one for the step records of the runs among them."""
    limit = max(1, min(limit, MAX_TIMELINE))
    entries: list[Entry] = []
    with reading(engine) as conn:
        for kind, (table, at, key) in _SOURCES.items():
            if kind not in kinds:
                continue
            stmt = (
                select(*[c for c in table.c if c.name not in _LEFT_OUT])
                .where(table.c.customer_id == customer_id)
                .order_by(at.desc(), key.desc())
                .limit(limit + 1)
            )
            if before is not None:
                stmt = stmt.where(_older_than(kind, at, key, before))
            for row in conn.execute(stmt):
                mapping = dict(row._mapping)
                entries.append(Entry(mapping[at.name], kind, mapping[key.name], mapping))
        entries.sort(key=lambda e: e.sort_key, reverse=True)
        page = entries[:limit]
        steps = _steps(conn, [str(e.key) for e in page if e.kind == "run"])
    page = [
        Entry(e.at, e.kind, e.key, e.row, steps.get(str(e.key), [])) if e.kind == "run" else e
        for e in page
    ]
    older = page[-1].sort_key if len(entries) > limit else None
    return TimelinePage(entries=page, older=older)


def _steps(conn: Any, entry_ids: list[str]) -> dict[str, list[StepEvent]]:
    if not entry_ids:
        return {}
    columns = [c for c in journey_step_events.c if c.name != "id"]
    rows = conn.execute(
        select(*columns)
        .where(journey_step_events.c.entry_id.in_(entry_ids))
        .order_by(journey_step_events.c.entry_id, journey_step_events.c.id)
        .limit(MAX_STEPS)
    )
    found: dict[str, list[StepEvent]] = {}
    for row in rows:
        step = StepEvent.model_validate(dict(row._mapping))
        found.setdefault(step.entry_id, []).append(step)
    return found


def in_flight(engine: Engine, customer_id: str, limit: int = 20) -> list[Entry]:
    """The customer's running runs, newest first, with their step records (two queries)."""
    with reading(engine) as conn:
        rows = [
            dict(row._mapping)
            for row in conn.execute(
                select(enrollments)
                .where(enrollments.c.customer_id == customer_id, enrollments.c.status == "running")
                .order_by(enrollments.c.entered_at.desc(), enrollments.c.entry_id.desc())
                .limit(limit)
            )
        ]
        steps = _steps(conn, [row["entry_id"] for row in rows])
    return [
        Entry(row["entered_at"], "run", row["entry_id"], row, steps.get(row["entry_id"], []))
        for row in rows
    ]


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    run: Enrollment
    steps: list[StepEvent]
    timezone: str
    # Messages and send decisions of this run, newest first.
    decisions: list[dict[str, Any]]


def run_record(engine: Engine, workflow_id: str) -> RunRecord | None:
    """The newest run behind `workflow_id` with its step records, the customer's timezone and
    its send decisions (four queries)."""
    with reading(engine) as conn:
        row = conn.execute(
            select(enrollments)
            .where(enrollments.c.workflow_id == workflow_id)
            .order_by(enrollments.c.entered_at.desc(), enrollments.c.entry_id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        run = Enrollment.model_validate(dict(row._mapping))
        steps = _steps(conn, [run.entry_id]).get(run.entry_id, [])
        timezone = conn.scalar(
            select(customers.c.timezone).where(customers.c.customer_id == run.customer_id)
        )
        decisions = [
            dict(r._mapping)
            for r in conn.execute(
                select(send_decisions)
                .where(
                    and_(
                        send_decisions.c.customer_id == run.customer_id,
                        send_decisions.c.journey_id == run.journey_id,
                        send_decisions.c.idempotency_key.like(
                            _like_prefix(f"{workflow_id}/{run.entry_id}/"), escape="\\"
                        ),
                    )
                )
                .order_by(send_decisions.c.at.desc(), send_decisions.c.id.desc())
                .limit(MAX_TIMELINE)
            )
        ]
    return RunRecord(run=run, steps=steps, timezone=timezone or "UTC", decisions=decisions)


__all__ = [
    "CustomerPage",
    "CustomerRow",
    "Entry",
    "RunRecord",
    "TimelinePage",
    "in_flight",
    "run_record",
    "search",
    "timeline",
]
