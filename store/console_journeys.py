"""Reads the console's journey pages need: a page of journeys with runs in flight, versions.

Two queries for a page of the list (the journeys with their newest version, then the running
runs of those journeys counted by the database), one for a journey's versions; keyset pages
by journey id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, select

from store.db import reading
from store.schema import enrollments, journey_versions, journeys


class JourneyRow(BaseModel):
    """One line of the console's journey list."""

    journey_id: str
    name: str
    category: str
    status: str
    status_changed_at: datetime
    hold_sends: bool = False
    latest_version: int
    published_at: datetime
    running: int = 0


class VersionRow(BaseModel):
    """A published version of a journey, without its definition."""

    version: int
    published_at: datetime
    checksum: str


class ConsoleJourneys:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(
        self, *, status: str | None = None, after: str | None = None, limit: int = 50
    ) -> list[JourneyRow]:
        """Up to `limit` journeys by id after `after`, of `status` when given, each with its
        newest version and how many of its runs are running now."""
        j, v = journeys.c, journey_versions.c
        newest = (
            select(v.journey_id, func.max(v.version).label("latest_version"))
            .group_by(v.journey_id)
            .subquery()
        )
        stmt = (
            select(
                j.journey_id,
                j.name,
                j.category,
                j.status,
                j.status_changed_at,
                j.hold_sends,
                newest.c.latest_version,
                v.published_at,
            )
            .join(newest, newest.c.journey_id == j.journey_id)
            .join(
                journey_versions,
                (v.journey_id == j.journey_id) & (v.version == newest.c.latest_version),
            )
            .order_by(j.journey_id)
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(j.status == status)
        if after is not None:
            stmt = stmt.where(j.journey_id > after)
        with reading(self._engine) as conn:
            rows = [JourneyRow.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]
            running = self._running(conn, [row.journey_id for row in rows])
        return [row.model_copy(update={"running": running.get(row.journey_id, 0)}) for row in rows]

    def running(self, journey_id: str) -> dict[int, int]:
        """Runs of the journey running now, per version."""
        r = enrollments.c
        stmt = (
            select(r.version, func.count().label("n"))
            .where(r.journey_id == journey_id, r.status == "running")
            .group_by(r.version)
        )
        with reading(self._engine) as conn:
            return {row.version: row.n for row in conn.execute(stmt)}

    @staticmethod
    def _running(conn: Connection, journey_ids: Sequence[str]) -> dict[str, int]:
        if not journey_ids:
            return {}
        r = enrollments.c
        stmt = (
            select(r.journey_id, func.count().label("n"))
            .where(r.journey_id.in_(list(journey_ids)), r.status == "running")
            .group_by(r.journey_id)
        )
        return {row.journey_id: row.n for row in conn.execute(stmt)}

    def versions(self, journey_id: str) -> list[VersionRow]:
        """Every version of the journey, newest first, without the definitions."""
        v = journey_versions.c
        stmt = (
            select(v.version, v.published_at, v.checksum)
            .where(v.journey_id == journey_id)
            .order_by(v.version.desc())
        )
        with reading(self._engine) as conn:
            return [VersionRow.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]
