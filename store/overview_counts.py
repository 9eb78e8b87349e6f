"""What the console's overview counts, each with one aggregate query (GROUP BY in the database),
so the number of queries does not grow with journeys, runs, messages or cases.

`today` is a half-open UTC interval [start, end) that the caller works out from the workspace
timezone. A run *converted* as the funnel reports count it (store/reports.py): its customer's
log holds one of its journey's converting goal events at or after its entry; it converted
*today* when the first such event falls today.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    distinct,
    exists,
    false,
    func,
    or_,
    select,
    union_all,
)

from domain.callbacks import ACTIVE
from store.db import reading
from store.reports import AFTER_THE_FACT
from store.schema import (
    callbacks,
    customer_events,
    enrollments,
    journey_versions,
    journeys,
    outbox,
    send_decisions,
)


class JourneyRow(BaseModel):
    """A journey with its newest definition (for its goals)."""

    journey_id: str
    name: str
    status: str
    version: int
    checksum: str
    definition: dict[str, Any]


class RunsToday(BaseModel):
    journey_id: str
    in_flight: int = 0
    entered: int = 0
    completed: int = 0
    converted: int = 0


class MessagesToday(BaseModel):
    channel: str
    outcome: str
    count: int


class CaseSla(BaseModel):
    """Open cases by SLA state (domain/cases.py's `sla_state`)."""

    breached: int = 0
    due_soon: int = 0
    fine: int = 0

    @property
    def total(self) -> int:
        return self.breached + self.due_soon + self.fine


class CallbacksDue(BaseModel):
    overdue: int = 0
    due_today: int = 0
    later: int = 0


def _newest_version() -> Any:
    other = journey_versions.alias("newest")
    return (
        select(func.max(other.c.version))
        .where(other.c.journey_id == journeys.c.journey_id)
        .correlate(journeys)
        .scalar_subquery()
    )


def _goal_condition(
    goals: Mapping[str, Sequence[str]], journey: Any, event_type: Any
) -> ColumnElement[bool]:
    """The run's journey has `event_type` among its converting goal events."""
    arms = [
        and_(journey == journey_id, event_type.in_(list(events)))
        for journey_id, events in goals.items()
        if events
    ]
    return or_(*arms) if arms else false()


class OverviewCounts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @contextmanager
    def snapshot(self) -> Iterator[OverviewCounts]:
        """Reads inside the block share one read-only transaction: one consistent snapshot."""
        with reading(self._engine) as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with reading(self._engine) as conn:
                yield conn

    def journeys(self) -> list[JourneyRow]:
        """Every journey with its newest version's definition, by id (one query)."""
        j, v = journeys.c, journey_versions.c
        query = (
            select(j.journey_id, j.name, j.status, v.version, v.checksum, v.definition)
            .join(journey_versions, v.journey_id == j.journey_id)
            .where(v.version == _newest_version())
            .order_by(j.journey_id)
        )
        with self._reading() as conn:
            return [JourneyRow.model_validate(dict(row._mapping)) for row in conn.execute(query)]

    def runs_today(
        self, start: datetime, end: datetime, goals: Mapping[str, Sequence[str]]
    ) -> dict[str, RunsToday]:
        """Per journey: runs in flight now; entered, completed and converted in [start, end)."""
        r = enrollments.c
        counts = (
            select(
                r.journey_id,
                func.count(case((r.status == "running", 1))).label("in_flight"),
                func.count(case((and_(r.entered_at >= start, r.entered_at < end), 1))).label(
                    "entered"
                ),
                func.count(
                    case(
                        (
                            and_(r.status == "completed", r.ended_at >= start, r.ended_at < end),
                            1,
                        )
                    )
                ).label("completed"),
            )
            .group_by(r.journey_id)
            .order_by(r.journey_id)
        )
        found: dict[str, RunsToday] = {}
        with self._reading() as conn:
            for row in conn.execute(counts):
                found[row.journey_id] = RunsToday.model_validate(dict(row._mapping))
            if any(goals.values()):
                for journey_id, converted in conn.execute(self._converted(start, end, goals)):
                    found.setdefault(journey_id, RunsToday(journey_id=journey_id))
                    found[journey_id].converted = converted
        return found

    @staticmethod
    def _converted(start: datetime, end: datetime, goals: Mapping[str, Sequence[str]]) -> Any:
        """Per journey, runs whose first converting goal event since entry falls in [start,
        end): driven from today's goal events (bounded by a day's events once
        customer_events has an index on (type, occurred_at); a scan of the log until then),
        joined to their customers' runs, less those that had converted before today."""
        r, e = enrollments.c, customer_events.c
        types = sorted({event for events in goals.values() for event in events})
        today = (
            select(e.customer_id, e.type, e.occurred_at)
            .where(e.type.in_(types), e.occurred_at >= start, e.occurred_at < end)
            .subquery("today")
        )
        earlier = customer_events.alias("earlier")
        converted_before = exists().where(
            earlier.c.customer_id == r.customer_id,
            _goal_condition(goals, r.journey_id, earlier.c.type),
            earlier.c.occurred_at >= r.entered_at,
            earlier.c.occurred_at < start,
        )
        return (
            select(r.journey_id, func.count(distinct(r.entry_id)))
            .select_from(today.join(enrollments, r.customer_id == today.c.customer_id))
            .where(
                today.c.occurred_at >= r.entered_at,
                _goal_condition(goals, r.journey_id, today.c.type),
                ~converted_before,
            )
            .group_by(r.journey_id)
        )

    def messages_today(self, start: datetime, end: datetime) -> list[MessagesToday]:
        """Messages requested in [start, end) by channel and outcome, and the decisions that came
        on top of an outcome (deferred, bounced, complained) in that time."""
        m, d = outbox.c, send_decisions.c
        outcomes = (
            select(m.channel, m.status.label("outcome"), func.count().label("count"))
            .where(m.requested_at >= start, m.requested_at < end)
            .group_by(m.channel, m.status)
        )
        after = (
            select(d.channel, d.decision.label("outcome"), func.count().label("count"))
            .where(d.at >= start, d.at < end, d.decision.in_(AFTER_THE_FACT))
            .group_by(d.channel, d.decision)
        )
        query = union_all(outcomes, after)
        with self._reading() as conn:
            return [MessagesToday.model_validate(dict(row._mapping)) for row in conn.execute(query)]

    def callbacks_due(self, now: datetime, end_of_today: datetime) -> dict[str, CallbacksDue]:
        """Active callback tasks per queue: overdue (due before `now`), due later today, later."""
        c = callbacks.c
        when = case(
            (c.due_at < now, "overdue"), (c.due_at < end_of_today, "due_today"), else_="later"
        ).label("when")
        query = (
            select(c.queue, when, func.count())
            .where(c.status.in_(ACTIVE))
            .group_by(c.queue, when)
            .order_by(c.queue)
        )
        found: dict[str, CallbacksDue] = {}
        with self._reading() as conn:
            for queue, name, n in conn.execute(query):
                setattr(found.setdefault(queue, CallbacksDue()), name, n)
        return found
