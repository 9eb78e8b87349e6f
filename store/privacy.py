"""Erasure and export in the store: tombstones, everything held about a customer, the scrub.

What is scrubbed and what is kept is domain/privacy.py's rule; this module applies it, in one
transaction for the scrub (`scrub`), and reads a customer's whole record in one snapshot
(`gather`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, String, cast, delete, or_, select, update

from domain.callbacks import ACTIVE, CallbackTask
from domain.cases import CaseState
from domain.customers import CustomerProfile
from domain.events import StoredEvent
from domain.messages import OutboxMessage
from domain.privacy import (
    ERASED_REASON,
    Erasure,
    contact_points,
    redact,
    scrubbed_audit_entry,
    scrubbed_case_state,
    scrubbed_message,
    scrubbed_profile,
)
from domain.projections import CustomerMetrics
from domain.runs import Enrollment, StepEvent
from domain.surveys import Survey
from store.customers import lock_customers
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownCustomer
from store.projections import _metrics
from store.schema import (
    audit_log,
    callbacks,
    cases,
    customer_events,
    customer_metrics,
    customers,
    enrollments,
    erasures,
    event_deliveries,
    journey_step_events,
    outbox,
    send_decisions,
    suppressions,
    surveys,
)
from store.send_ledger import SendDecision
from store.suppression import Suppression, normalise
from store.tombstones import erasures_among


class ErasureSummary(BaseModel):
    """What one erasure's scrub changed, as counts."""

    runs_ended: int = 0
    cases_closed: int = 0
    callbacks_closed: int = 0
    events_scrubbed: int = 0
    messages_scrubbed: int = 0


class CustomerRecord(BaseModel):
    """Everything the store holds about one customer, read in one snapshot."""

    profile: CustomerProfile
    metrics: CustomerMetrics | None
    events: list[StoredEvent]
    messages: list[OutboxMessage]
    send_decisions: list[SendDecision]
    runs: list[tuple[Enrollment, list[StepEvent]]]
    cases: list[CaseState]
    callbacks: list[CallbackTask]
    surveys: list[Survey]
    suppressions: list[Suppression]


def _skip_pending(conn: Connection, customer_id: str, now: datetime) -> None:
    """The customer's undelivered events are never delivered: nothing may start from them."""
    d = event_deliveries.c
    conn.execute(
        update(event_deliveries)
        .where(d.customer_id == customer_id, d.status.in_(("pending", "parked")))
        .values(status="done", outcome=[], last_error=ERASED_REASON, done_at=now)
    )


class PrivacyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, customer_id: str) -> Erasure | None:
        with reading(self._engine) as conn:
            return erasures_among(conn, [customer_id]).get(customer_id)

    def erased_among(self, ids: Iterable[str]) -> dict[str, Erasure]:
        with reading(self._engine) as conn:
            return erasures_among(conn, ids)

    def begin(self, customer_id: str, now: datetime) -> Erasure:
        """Stand the tombstone (refusing the customer's events, upserts and enrollments from
        now on) and drop their undelivered events; the tombstone as it stands (an earlier one
        when the erasure began before). UnknownCustomer when there is no such customer."""
        with writing(self._engine) as conn:
            if lock_customers(conn, [customer_id]):
                raise UnknownCustomer(customer_id)
            conn.execute(
                insert_ignoring(conn, erasures, "customer_id").values(
                    customer_id=customer_id, started_at=now, erased_at=None, summary={}
                )
            )
            _skip_pending(conn, customer_id, now)
            return erasures_among(conn, [customer_id])[customer_id]

    def gather(self, customer_id: str) -> CustomerRecord:
        """Everything held about the customer; UnknownCustomer when there is no such one."""
        with reading(self._engine) as conn:
            row = conn.execute(
                select(customers).where(customers.c.customer_id == customer_id)
            ).first()
            if row is None:
                raise UnknownCustomer(customer_id)
            profile = CustomerProfile.model_validate(dict(row._mapping))
            metrics_row = conn.execute(
                select(customer_metrics).where(customer_metrics.c.customer_id == customer_id)
            ).first()
            e = customer_events.c
            events = [
                StoredEvent.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(customer_events).where(e.customer_id == customer_id).order_by(e.seq)
                )
            ]
            o = outbox.c
            messages = [
                OutboxMessage.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(outbox)
                    .where(o.customer_id == customer_id)
                    .order_by(o.requested_at, o.idempotency_key)
                )
            ]
            d = send_decisions.c
            decisions = [
                SendDecision.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(send_decisions).where(d.customer_id == customer_id).order_by(d.at, d.id)
                )
            ]
            n = enrollments.c
            runs = [
                Enrollment.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(enrollments)
                    .where(n.customer_id == customer_id)
                    .order_by(n.entered_at, n.entry_id)
                )
            ]
            s = journey_step_events.c
            step_columns = [c for c in journey_step_events.c if c.name != "id"]
            steps: dict[str, list[StepEvent]] = {run.entry_id: [] for run in runs}
            for r in conn.execute(
                select(*step_columns).where(s.customer_id == customer_id).order_by(s.id)
            ):
                steps.setdefault(r.entry_id, []).append(StepEvent.model_validate(dict(r._mapping)))
            case_states = [
                CaseState.model_validate(r.state)
                for r in conn.execute(
                    select(cases.c.state)
                    .where(cases.c.customer_id == customer_id)
                    .order_by(cases.c.opened_at)
                )
            ]
            tasks = [
                CallbackTask.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(callbacks)
                    .where(callbacks.c.customer_id == customer_id)
                    .order_by(callbacks.c.created_at, callbacks.c.task_id)
                )
            ]
            answers = [
                Survey.model_validate(dict(r._mapping))
                for r in conn.execute(
                    select(surveys)
                    .where(surveys.c.customer_id == customer_id)
                    .order_by(surveys.c.created_at, surveys.c.survey_id)
                )
            ]
            addresses = [
                (channel, normalise(address))
                for channel, address in (("email", profile.email), ("sms", profile.phone))
                if address
            ]
            suppressed = [
                Suppression.model_validate(dict(r._mapping))
                for channel, address in addresses
                for r in conn.execute(
                    select(suppressions).where(
                        suppressions.c.channel == channel, suppressions.c.address == address
                    )
                )
            ]
        return CustomerRecord(
            profile=profile,
            metrics=None if metrics_row is None else _metrics(metrics_row),
            events=events,
            messages=messages,
            send_decisions=decisions,
            runs=[(run, steps.get(run.entry_id, [])) for run in runs],
            cases=case_states,
            callbacks=tasks,
            surveys=answers,
            suppressions=suppressed,
        )

    def scrub(self, customer_id: str, now: datetime) -> tuple[Erasure, ErasureSummary]:
        """Apply domain/privacy.py's rule to everything held about the customer, end what is
        still open and mark the tombstone erased: one transaction, all of it or nothing.

        Runs still marked running are marked exited: the caller has ended their workflows in
        Temporal first. A tombstone already marked erased is returned as it is, untouched.
        """
        with writing(self._engine) as conn:
            lock_customers(conn, [customer_id])
            tombstone = erasures_among(conn, [customer_id]).get(customer_id)
            if tombstone is None:
                raise ValueError(f"erasure of {customer_id!r} was never begun")
            if tombstone.finished:
                return tombstone, ErasureSummary.model_validate(
                    conn.scalar(
                        select(erasures.c.summary).where(erasures.c.customer_id == customer_id)
                    )
                    or {}
                )
            summary = self._scrub(conn, customer_id, now)
            conn.execute(
                update(erasures)
                .where(erasures.c.customer_id == customer_id)
                .values(erased_at=now, summary=summary.model_dump())
            )
            return tombstone.model_copy(update={"erased_at": now}), summary

    @staticmethod
    def _scrub(conn: Connection, customer_id: str, now: datetime) -> ErasureSummary:
        row = conn.execute(
            select(customers.c.email, customers.c.phone).where(
                customers.c.customer_id == customer_id
            )
        ).one()
        secrets = contact_points(row.email, row.phone)
        summary = ErasureSummary()
        conn.execute(
            update(customers)
            .where(customers.c.customer_id == customer_id)
            .values(**scrubbed_profile(), updated_at=now)
        )
        summary.events_scrubbed = len(
            conn.execute(
                update(customer_events)
                .where(customer_events.c.customer_id == customer_id)
                .values(properties={})
                .returning(customer_events.c.seq)
            ).all()
        )
        summary.messages_scrubbed = len(
            conn.execute(
                update(outbox)
                .where(outbox.c.customer_id == customer_id)
                .values(**scrubbed_message())
                .returning(outbox.c.idempotency_key)
            ).all()
        )
        _redact_column(conn, send_decisions, "id", "reason", customer_id, secrets)
        _redact_column(conn, journey_step_events, "id", "detail", customer_id, secrets)
        _redact_column(conn, enrollments, "entry_id", "end_reason", customer_id, secrets)
        n = enrollments.c
        summary.runs_ended = len(
            conn.execute(
                update(enrollments)
                .where(n.customer_id == customer_id, n.status == "running")
                .values(status="exited", ended_at=now, end_reason=ERASED_REASON)
                .returning(n.entry_id)
            ).all()
        )
        for case in conn.execute(
            select(cases.c.case_id, cases.c.status, cases.c.state).where(
                cases.c.customer_id == customer_id
            )
        ).all():
            state = scrubbed_case_state(case.state, now)
            values: dict[str, Any] = {"summary": "", "state": state}
            if case.status != "closed":
                summary.cases_closed += 1
                values |= {"status": "closed", "closed_at": now}
            conn.execute(update(cases).where(cases.c.case_id == case.case_id).values(values))
        c = callbacks.c
        conn.execute(
            update(callbacks).where(c.customer_id == customer_id).values(notes="", context={})
        )
        summary.callbacks_closed = len(
            conn.execute(
                update(callbacks)
                .where(c.customer_id == customer_id, c.status.in_(ACTIVE))
                .values(status="cancelled", notes=ERASED_REASON, completed_at=now)
                .returning(c.task_id)
            ).all()
        )
        conn.execute(update(surveys).where(surveys.c.customer_id == customer_id).values(comment=""))
        conn.execute(delete(customer_metrics).where(customer_metrics.c.customer_id == customer_id))
        _scrub_audit(conn, customer_id, secrets)
        _skip_pending(conn, customer_id, now)
        return summary


def _targets_about(conn: Connection, customer_id: str) -> set[str]:
    """The audit targets that name the customer: their id, their enrollments
    (`journey/customer`), cases and callback tasks."""
    journeys = conn.scalars(
        select(enrollments.c.journey_id).where(enrollments.c.customer_id == customer_id).distinct()
    )
    case_ids = conn.scalars(select(cases.c.case_id).where(cases.c.customer_id == customer_id))
    task_ids = conn.scalars(
        select(callbacks.c.task_id).where(callbacks.c.customer_id == customer_id)
    )
    return {customer_id, *(f"{j}/{customer_id}" for j in journeys), *case_ids, *task_ids}


def _like_any_case(secret: str) -> str:
    escaped = secret.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _scrub_audit(conn: Connection, customer_id: str, secrets: list[str]) -> None:
    """Apply domain/privacy.py's rule to the audit entries about the customer or naming one of
    their contact points: each entry stays, with who, what and when."""
    a = audit_log.c
    about = _targets_about(conn, customer_id)
    naming = [
        column.ilike(_like_any_case(secret), escape="\\")
        for secret in secrets
        for column in (a.target, cast(a.details, String))
    ]
    rows = conn.execute(
        select(a.seq, a.target, a.details).where(or_(a.target.in_(sorted(about)), *naming))
    ).all()
    for row in rows:
        target, details = scrubbed_audit_entry(
            row.target, row.details or {}, secrets, about_customer=row.target in about
        )
        if (target, details) != (row.target, row.details):
            conn.execute(
                update(audit_log).where(a.seq == row.seq).values(target=target, details=details)
            )


def _redact_column(
    conn: Connection, table: Any, key: str, column: str, customer_id: str, secrets: list[str]
) -> None:
    """Cut the customer's contact points out of a kept text column of their rows."""
    if not secrets:
        return
    rows = conn.execute(
        select(table.c[key], table.c[column]).where(table.c.customer_id == customer_id)
    ).all()
    for row_key, text in rows:
        scrubbed = redact(text, secrets)
        if scrubbed != text:
            conn.execute(update(table).where(table.c[key] == row_key).values({column: scrubbed}))
