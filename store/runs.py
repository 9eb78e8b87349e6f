"""Journey runs: enrollments (one per entry), their step log, and how each run ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, exists, select, update

from domain.runs import Enrollment, RunEnd, StepEvent
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownEnrollment
from store.group_commit import GroupCommit
from store.schema import enrollments, journey_step_events

_STEP_COLUMNS = [c for c in journey_step_events.c if c.name != "id"]


def _enrollment(row: Any) -> Enrollment:
    return Enrollment.model_validate(dict(row._mapping))


def _oldest_first(*where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(enrollments).where(*where).order_by(enrollments.c.entered_at, enrollments.c.entry_id)
    )


def _newest_first(*where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(enrollments)
        .where(*where)
        .order_by(enrollments.c.entered_at.desc(), enrollments.c.entry_id.desc())
    )


@dataclass(frozen=True)
class _StepRecord:
    entry_id: str
    events: list[StepEvent]
    current_step: str | None
    version: int | None
    end: RunEnd | None


def _record(conn: Connection, record: _StepRecord) -> None:
    values: dict[str, object] = {"current_step": record.current_step}
    if record.version is not None:
        values["version"] = record.version
    moved = conn.execute(
        update(enrollments)
        .where(enrollments.c.entry_id == record.entry_id)
        .values(**values)
        .returning(enrollments.c.entry_id)
    ).first()
    if moved is None:
        raise UnknownEnrollment(record.entry_id)
    if record.events:
        # No conflict target: a row may clash on either unique key, and both mean "already
        # recorded".
        conn.execute(
            insert_ignoring(conn, journey_step_events),
            [e.model_dump(mode="python") for e in record.events],
        )
    if record.end is not None:
        _finish(conn, record.entry_id, record.end)


class RunRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._steps = GroupCommit(engine, _record)

    def enroll(self, e: Enrollment) -> bool:
        """Record a new run; False, writing nothing, if its entry id or trigger is taken."""
        with writing(self._engine) as conn:
            # RETURNING, not rowcount: psycopg reports -1 for INSERT .. ON CONFLICT here.
            inserted = conn.execute(
                insert_ignoring(conn, enrollments)
                .values(e.model_dump(mode="python"))
                .returning(enrollments.c.entry_id)
            ).first()
            return inserted is not None

    def _all(self, stmt: Select[Any]) -> list[Enrollment]:
        with reading(self._engine) as conn:
            return [_enrollment(row) for row in conn.execute(stmt)]

    def _one(self, stmt: Select[Any]) -> Enrollment | None:
        with reading(self._engine) as conn:
            row = conn.execute(stmt.limit(1)).first()
            return None if row is None else _enrollment(row)

    def get(self, entry_id: str) -> Enrollment | None:
        return self._one(_oldest_first(enrollments.c.entry_id == entry_id))

    def find_by_trigger(self, journey_id: str, trigger_event_id: str) -> Enrollment | None:
        return self._one(
            _oldest_first(
                enrollments.c.journey_id == journey_id,
                enrollments.c.trigger_event_id == trigger_event_id,
            )
        )

    def running(self, workflow_id: str) -> Enrollment | None:
        """The running enrollment behind a workflow id, if any (newest should there be two)."""
        return self._one(
            _newest_first(
                enrollments.c.workflow_id == workflow_id, enrollments.c.status == "running"
            )
        )

    def history(
        self, journey_id: str, customer_id: str, correlation_key: str | None
    ) -> list[Enrollment]:
        """The customer's earlier runs of this journey for this key, oldest first."""
        key = (
            enrollments.c.correlation_key.is_(None)
            if correlation_key is None
            else enrollments.c.correlation_key == correlation_key
        )
        return self._all(
            _oldest_first(
                enrollments.c.journey_id == journey_id,
                enrollments.c.customer_id == customer_id,
                key,
            )
        )

    def for_customer(self, customer_id: str) -> list[Enrollment]:
        """All of the customer's runs, newest first."""
        return self._all(_newest_first(enrollments.c.customer_id == customer_id))

    def running_for_customer(self, customer_id: str) -> list[Enrollment]:
        """The customer's running runs, newest first."""
        return self._all(
            _newest_first(
                enrollments.c.customer_id == customer_id, enrollments.c.status == "running"
            )
        )

    def for_journey(self, journey_id: str, limit: int = 100) -> list[Enrollment]:
        """The journey's newest `limit` runs, newest first."""
        return self._all(_newest_first(enrollments.c.journey_id == journey_id).limit(limit))

    def record_steps(
        self,
        entry_id: str,
        events: list[StepEvent],
        current_step: str | None,
        version: int | None = None,
        end: RunEnd | None = None,
    ) -> None:
        """Append step events and move the run's current step (and its version, when a
        migration moved it), and with `end` record how it ended, in one transaction.

        Rows already recorded are skipped, so a retried call writes nothing twice: the same
        entry and seq (a replayed workflow task notes the same record with a later time), or,
        for records without seq, the same entry, step, status and time.
        """
        strays = {e.entry_id for e in events} - {entry_id}
        if strays:
            raise ValueError(f"step events for {sorted(strays)} passed to entry {entry_id!r}")
        # Runs that record at the same moment share a transaction (store/group_commit.py).
        self._steps.submit(_StepRecord(entry_id, events, current_step, version, end))

    def finish(self, entry_id: str, end: RunEnd) -> None:
        """Record how the run ended; a run that has already ended keeps its first ending."""
        with writing(self._engine) as conn:
            _finish(conn, entry_id, end)

    def reopen(self, entry_id: str) -> None:
        """Mark an ended run running again (Temporal still runs it: reconciliation)."""
        with writing(self._engine) as conn:
            conn.execute(
                update(enrollments)
                .where(enrollments.c.entry_id == entry_id)
                .values(status="running", ended_at=None, end_reason=None)
            )

    def running_all(self, journey_id: str | None = None, limit: int = 10_000) -> list[Enrollment]:
        """Runs the store has as running (of one journey, if given), oldest first."""
        where = [enrollments.c.status == "running"]
        if journey_id is not None:
            where.append(enrollments.c.journey_id == journey_id)
        return self._all(_oldest_first(*where).limit(limit))

    def select_running(
        self,
        journey_id: str,
        version: int | None = None,
        step: str | None = None,
        limit: int = 100_000,
    ) -> list[Enrollment]:
        """Running runs of a journey (one version of it, at one step, if given), oldest first:
        the selection of a bulk run operation."""
        where = [enrollments.c.status == "running", enrollments.c.journey_id == journey_id]
        if version is not None:
            where.append(enrollments.c.version == version)
        if step is not None:
            where.append(enrollments.c.current_step == step)
        return self._all(_oldest_first(*where).limit(limit))

    def latest(self, workflow_id: str) -> Enrollment | None:
        """The newest enrollment behind a workflow id, running or ended."""
        return self._one(_newest_first(enrollments.c.workflow_id == workflow_id))

    def steps(self, entry_id: str) -> list[StepEvent]:
        """The run's step events in the order they were recorded."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(*_STEP_COLUMNS)
                .where(journey_step_events.c.entry_id == entry_id)
                .order_by(journey_step_events.c.id)
            )
            return [StepEvent.model_validate(dict(row._mapping)) for row in rows]


def _finish(conn: Connection, entry_id: str, end: RunEnd) -> None:
    ended = conn.execute(
        update(enrollments)
        .where(enrollments.c.entry_id == entry_id, enrollments.c.ended_at.is_(None))
        .values(status=end.status, ended_at=end.at, end_reason=end.reason)
        .returning(enrollments.c.entry_id)
    ).first()
    if ended is None and not conn.scalar(
        select(exists().where(enrollments.c.entry_id == entry_id))
    ):
        raise UnknownEnrollment(entry_id)
