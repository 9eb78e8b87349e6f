"""What an impact preview reads: runs in flight per version and step, and the audience a journey
would enroll now, counted as the enrollment run counts it, without enrolling anyone.

Nothing here is left written. The audience is counted in one transaction; when the segment reads
the projections and they were built as of another date, they are rebuilt inside that
transaction (as the enrollment run's `measure_audience` does) and the transaction is rolled
back, so the store keeps the projection it had. On SQLite that transaction holds the write lock
while it rebuilds (seconds for the CDNOW base); other writers wait on the busy timeout.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, case, delete, exists, func, insert, select

from domain.journey import JourneyDefinition
from domain.segments import Segment
from domain.simulation import chance
from store.audience_runs import blocking_run
from store.db import _READ_ONLY, reading
from store.projections import (
    _CHUNK,
    _metrics,
    _order_stats,
    _signals,
    _values,
    built_as_of,
    project,
)
from store.schema import customer_metrics, customers, enrollments, erasures
from store.segments import _source, segment_condition

# Member ids read to draw a sample from; a larger segment is sampled from its first ones.
SAMPLE_SCAN = 200_000


class InFlight(BaseModel):
    """Runs the store has as running at one step of one version (step None: not yet at one)."""

    version: int
    step_id: str | None
    runs: int


class AudienceCount(BaseModel):
    segment: str
    as_of: date
    members: int  # the segment's members as of the date
    blocked: int  # members the re-entry policy keeps out (in the journey now, once, cooldown)
    erased: int  # erased customers, never enrolled again
    projection_built: date | None  # as of when the stored projection is built (before)
    rebuilt: bool  # the count rebuilt the projection in a transaction it rolled back
    sample: list[str] = []  # up to the requested number of member ids, seeded
    # The sampled members' projection rows as of `as_of`, as a run's profile carries them.
    metrics: dict[str, dict[str, Any]] = {}

    @property
    def would_enroll(self) -> int:
        return max(0, self.members - self.blocked - self.erased)


def runs_in_flight(engine: Engine, journey_id: str) -> list[InFlight]:
    """Running runs of the journey per version and current step, by version then step."""
    r = enrollments.c
    stmt = (
        select(r.version, r.current_step, func.count().label("runs"))
        .where(r.journey_id == journey_id, r.status == "running")
        .group_by(r.version, r.current_step)
        .order_by(r.version, r.current_step)
    )
    with reading(engine) as conn:
        return [
            InFlight(version=row.version, step_id=row.current_step, runs=row.runs)
            for row in conn.execute(stmt)
        ]


def seeded_sample(ids: list[str], size: int, seed: int) -> list[str]:
    """`size` of `ids`, the same ones for the same seed whatever order they came in."""
    if size <= 0:
        return []
    return sorted(sorted(ids, key=lambda i: chance(seed, "sample", i))[:size])


def count_audience(
    engine: Engine,
    journey: JourneyDefinition,
    segment: Segment,
    as_of: date,
    now: datetime,
    *,
    sample: int = 0,
    seed: int = 7,
) -> AudienceCount:
    """The segment's members as of `as_of`, those the enrollment run would skip, and a seeded
    sample of member ids; writes nothing (see the module's docstring)."""
    with reading(engine) as conn:
        built = built_as_of(conn)
    rebuild = segment.uses_projection() and built != as_of
    with engine.connect() as conn:
        if not rebuild:
            conn.execution_options(**{_READ_ONLY: True})
        transaction = conn.begin()
        try:
            if rebuild:
                _rebuild_uncommitted(conn, as_of)
            return _count(conn, journey, segment, as_of, now, built, rebuild, sample, seed)
        finally:
            transaction.rollback()


def customer_sample(engine: Engine, size: int, seed: int) -> list[str]:
    """A seeded sample of every customer in the store (for a journey without an audience)."""
    if size <= 0:
        return []
    with reading(engine) as conn:
        ids = list(
            conn.scalars(
                select(customers.c.customer_id)
                .where(~exists().where(erasures.c.customer_id == customers.c.customer_id))
                .order_by(customers.c.customer_id)
                .limit(SAMPLE_SCAN)
            )
        )
    return seeded_sample(ids, size, seed)


def _rebuild_uncommitted(conn: Connection, as_of: date) -> None:
    """ProjectionRepository.rebuild's work, inside the caller's transaction."""
    ids = list(conn.scalars(select(customers.c.customer_id)))
    rows = project(ids, _order_stats(conn, as_of), _signals(conn, as_of), as_of)
    conn.execute(delete(customer_metrics))
    values = [_values(row) for row in rows]
    for start in range(0, len(values), _CHUNK):
        conn.execute(insert(customer_metrics), values[start : start + _CHUNK])


def _count(
    conn: Connection,
    journey: JourneyDefinition,
    segment: Segment,
    as_of: date,
    now: datetime,
    built: date | None,
    rebuilt: bool,
    sample: int,
    seed: int,
) -> AudienceCount:
    condition = segment_condition(conn, segment, as_of)
    erased = exists().where(erasures.c.customer_id == customers.c.customer_id)
    blocked = exists().where(blocking_run(journey, now))
    row = conn.execute(
        select(
            func.count().label("members"),
            func.count(case((erased, 1))).label("erased"),
            func.count(case((blocked & ~erased, 1))).label("blocked"),
        )
        .select_from(_source())
        .where(condition)
    ).one()
    ids: list[str] = []
    if sample > 0:
        ids = list(
            conn.scalars(
                select(customers.c.customer_id)
                .select_from(_source())
                .where(condition, ~erased)
                .order_by(customers.c.customer_id)
                .limit(SAMPLE_SCAN)
            )
        )
    chosen = seeded_sample(ids, sample, seed)
    return AudienceCount(
        segment=segment.name,
        as_of=as_of,
        members=row.members,
        blocked=row.blocked,
        erased=row.erased,
        projection_built=built,
        rebuilt=rebuilt,
        sample=chosen,
        metrics=metrics_of(conn, chosen),
    )


def metrics_of(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The projection rows of `ids` (those that have one), as JSON."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            select(customer_metrics).where(
                customer_metrics.c.customer_id.in_(ids[start : start + _CHUNK])
            )
        )
        found.update({row.customer_id: _metrics(row).model_dump(mode="json") for row in rows})
    return found


def stored_metrics(engine: Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    """metrics_of, as the store holds them now."""
    with reading(engine) as conn:
        return metrics_of(conn, ids)
