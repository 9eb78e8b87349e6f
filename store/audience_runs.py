"""One page of a segment enrolled into a journey in one transaction.

Who may enter is decided by the database: an anti-join against the journey's enrollments
applies the trigger's re-entry policy (a running run always blocks; `once` any earlier run;
`cooldown` a run entered within the cooldown), the same rule as domain.entry.decide_entry.
Only members who enter get a `journey_enrolled` event and an enrollment row, both written in
the same transaction as the eligibility check, so nothing is half applied.

A member's event id derives from the run key: a page enrolled again (a retried batch) finds
the runs it created before and hands them back to be started again, never creates a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Engine, and_, exists, or_, select, true

from domain.entry import shifted, workflow_id
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.runs import Enrollment
from domain.segments import Segment
from store.db import insert_ignoring, writing
from store.schema import customer_events, customers, enrollments
from store.segments import segment_page_query
from store.tombstones import erasures_among


class AudiencePage(BaseModel):
    """What one page did: who entered now, whose runs an earlier attempt created, the rest."""

    seen: int
    last: str | None
    entered: list[Enrollment] = Field(default_factory=list)
    resumed: list[Enrollment] = Field(default_factory=list)  # still running: start again
    ended_earlier: int = 0  # entered by an earlier attempt and already over
    events: dict[str, CustomerEvent] = Field(default_factory=dict)  # by entry id
    skipped: int = 0


def audience_event_id(journey_id: str, customer_id: str, run_key: str) -> str:
    """The id of a member's enrollment event in one run: the same run key gives the same id."""
    raw = f"{journey_id}.{customer_id}.audience.{run_key}"
    return "enroll." + hashlib.sha256(raw.encode()).hexdigest()[:40]


def blocking_run(journey: JourneyDefinition, now: datetime) -> ColumnElement[bool]:
    """An earlier enrollment of the member that keeps them out under the re-entry policy."""
    e = enrollments.c
    trigger = journey.trigger
    policy: ColumnElement[bool] = e.status == "running"
    if trigger.re_entry == "once":
        policy = true()
    elif trigger.re_entry == "cooldown" and trigger.cooldown is not None:
        policy = or_(policy, e.entered_at > shifted(now, -trigger.cooldown))
    return and_(
        e.journey_id == journey.id,
        e.customer_id == customers.c.customer_id,
        e.correlation_key.is_(None),
        policy,
    )


class AudienceEntries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def enroll_page(
        self,
        journey: JourneyDefinition,
        version: int,
        segment: Segment,
        as_of: date,
        *,
        run_key: str,
        after: str | None,
        limit: int,
        now: datetime,
        new_id: Callable[[], str],
        properties: dict[str, Any] | None = None,
    ) -> AudiencePage:
        """Enroll the eligible members among the next `limit` of the segment after `after`."""
        with writing(self._engine) as conn:
            blocked = exists().where(blocking_run(journey, now))
            query = segment_page_query(conn, segment, as_of, limit, after, blocked.label("b"))
            page = [(row[0], bool(row[1])) for row in conn.execute(query)]
            if not page:
                return AudiencePage(seen=0, last=None)
            ids = {
                customer: audience_event_id(journey.id, customer, run_key) for customer, _ in page
            }
            earlier = {
                row.customer_id: Enrollment.model_validate(dict(row._mapping))
                for row in conn.execute(
                    select(enrollments).where(
                        enrollments.c.journey_id == journey.id,
                        enrollments.c.trigger_event_id.in_(list(ids.values())),
                    )
                )
            }
            result = AudiencePage(seen=len(page), last=page[-1][0])
            # Erased customers are never enrolled again (domain/privacy.py).
            erased = erasures_among(conn, [customer for customer, _ in page])
            entering: list[Enrollment] = []
            for customer, is_blocked in page:
                run = earlier.get(customer)
                if customer in erased:
                    result.skipped += 1
                elif run is not None:
                    if run.status == "running":
                        result.resumed.append(run)
                    else:
                        result.ended_earlier += 1
                elif is_blocked:
                    result.skipped += 1
                else:
                    entering.append(
                        Enrollment(
                            entry_id=new_id(),
                            workflow_id=workflow_id(journey.id, customer),
                            journey_id=journey.id,
                            version=version,
                            customer_id=customer,
                            trigger_event_id=ids[customer],
                            entered_at=now,
                        )
                    )
            for run in [*result.resumed, *entering]:
                result.events[run.entry_id] = CustomerEvent(
                    event_id=ids[run.customer_id],
                    customer_id=run.customer_id,
                    type="journey_enrolled",
                    occurred_at=run.entered_at,
                    properties={"journey_id": journey.id, **(properties or {})},
                )
            if entering:
                conn.execute(
                    insert_ignoring(conn, customer_events, "event_id"),
                    [
                        {
                            **result.events[run.entry_id].model_dump(mode="json"),
                            "occurred_at": now,
                            "received_at": now,
                        }
                        for run in entering
                    ],
                )
                written = set(
                    conn.scalars(
                        insert_ignoring(conn, enrollments).returning(enrollments.c.entry_id),
                        [run.model_dump(mode="python") for run in entering],
                    )
                )
                result.entered = [run for run in entering if run.entry_id in written]
                result.skipped += len(entering) - len(result.entered)
            return result
