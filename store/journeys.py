"""Published journeys: immutable numbered versions of a definition, and on/off status."""

from __future__ import annotations

import builtins
import hashlib
import json
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, Select, func, select, update

from store.db import insert_ignoring, reading, retrying, writing
from store.errors import UnknownJourney
from store.schema import journey_versions, journeys

JourneyStatus = Literal["active", "paused"]


class JourneyVersionRecord(BaseModel):
    """One published version; `created` says whether this publish call made it."""

    journey_id: str
    version: int
    checksum: str
    definition: dict[str, Any]
    published_at: datetime
    created: bool = False


class JourneySummary(BaseModel):
    """A journey with its newest version, as lists and consoles show it."""

    journey_id: str
    name: str
    category: str
    status: JourneyStatus
    hold_sends: bool = False
    latest_version: int
    published_at: datetime
    trigger_event: str | None


def checksum(definition: dict[str, Any]) -> str:
    """sha256 of the definition's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _record(row: Any, created: bool = False) -> JourneyVersionRecord:
    return JourneyVersionRecord.model_validate({**row._mapping, "created": created})


def _trigger_event(definition: dict[str, Any]) -> str | None:
    trigger = definition.get("trigger")
    event = trigger.get("event") if isinstance(trigger, dict) else None
    return event if isinstance(event, str) else None


def _newest_version() -> Any:
    """max(version) of the journey in the enclosing query (which must select `journeys`)."""
    other = journey_versions.alias("other")
    return (
        select(func.max(other.c.version))
        .where(other.c.journey_id == journeys.c.journey_id)
        .correlate(journeys)
        .scalar_subquery()
    )


def _summaries() -> Select[Any]:
    return (
        select(
            journeys,
            journey_versions.c.version.label("latest_version"),
            journey_versions.c.published_at,
            journey_versions.c.definition,
        )
        .join(journey_versions, journey_versions.c.journey_id == journeys.c.journey_id)
        .where(journey_versions.c.version == _newest_version())
        .order_by(journeys.c.journey_id)
    )


def _summary(row: Any) -> JourneySummary:
    data = dict(row._mapping)
    return JourneySummary.model_validate(
        {**data, "trigger_event": _trigger_event(data.pop("definition"))}
    )


def _newest(conn: Connection, journey_id: str) -> Any:
    return conn.execute(
        select(journey_versions)
        .where(journey_versions.c.journey_id == journey_id)
        .order_by(journey_versions.c.version.desc())
        .limit(1)
    ).first()


class JourneyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def publish(
        self, journey_id: str, name: str, category: str, definition: dict[str, Any], now: datetime
    ) -> JourneyVersionRecord:
        """Store `definition` as the next version, unless it equals the newest one."""
        digest = checksum(definition)
        return retrying(lambda: self._publish(journey_id, name, category, definition, digest, now))

    def _publish(
        self,
        journey_id: str,
        name: str,
        category: str,
        definition: dict[str, Any],
        digest: str,
        now: datetime,
    ) -> JourneyVersionRecord:
        with writing(self._engine) as conn:
            conn.execute(
                insert_ignoring(conn, journeys, "journey_id").values(
                    journey_id=journey_id,
                    name=name,
                    category=category,
                    status="active",
                    status_changed_at=now,
                )
            )
            # The journey row lock serialises publishers of one journey, so the version
            # read below is the newest; the primary key still guards as a last resort.
            conn.execute(
                update(journeys)
                .where(journeys.c.journey_id == journey_id)
                .values(name=name, category=category)
            )
            newest = _newest(conn, journey_id)
            if newest is not None and newest.checksum == digest:
                return _record(newest)
            values = {
                "journey_id": journey_id,
                "version": 1 if newest is None else newest.version + 1,
                "checksum": digest,
                "definition": definition,
                "published_at": now,
            }
            conn.execute(journey_versions.insert().values(values))
            return JourneyVersionRecord.model_validate({**values, "created": True})

    def get_version(
        self, journey_id: str, version: int | None = None
    ) -> JourneyVersionRecord | None:
        """The given version, or the newest when `version` is None."""
        with reading(self._engine) as conn:
            if version is None:
                row = _newest(conn, journey_id)
            else:
                row = conn.execute(
                    select(journey_versions).where(
                        journey_versions.c.journey_id == journey_id,
                        journey_versions.c.version == version,
                    )
                ).first()
            return None if row is None else _record(row)

    def versions(self, journey_id: str) -> builtins.list[JourneyVersionRecord]:
        """Every version of the journey, oldest first."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(journey_versions)
                .where(journey_versions.c.journey_id == journey_id)
                .order_by(journey_versions.c.version)
            )
            return [_record(row) for row in rows]

    def list(self) -> builtins.list[JourneySummary]:
        """Every journey, by id."""
        with reading(self._engine) as conn:
            return [_summary(row) for row in conn.execute(_summaries())]

    def get(self, journey_id: str) -> JourneySummary | None:
        with reading(self._engine) as conn:
            row = conn.execute(_summaries().where(journeys.c.journey_id == journey_id)).first()
            return None if row is None else _summary(row)

    def set_status(
        self, journey_id: str, status: JourneyStatus, now: datetime, *, hold_sends: bool = False
    ) -> JourneySummary:
        """Pause (holding sends, or not) or resume (which releases them); the change time only
        moves when the status really changes."""
        if status not in get_args(JourneyStatus):
            raise ValueError(f"journey status {status!r} is not one of {get_args(JourneyStatus)}")
        hold = hold_sends and status == "paused"
        with writing(self._engine) as conn:
            conn.execute(
                update(journeys)
                .where(journeys.c.journey_id == journey_id, journeys.c.status != status)
                .values(status=status, status_changed_at=now)
            )
            conn.execute(
                update(journeys)
                .where(journeys.c.journey_id == journey_id, journeys.c.hold_sends != hold)
                .values(hold_sends=hold)
            )
            row = conn.execute(_summaries().where(journeys.c.journey_id == journey_id)).first()
            if row is None:
                raise UnknownJourney(journey_id)
            return _summary(row)

    def holds_sends(self, journey_id: str) -> bool:
        """Whether the journey is paused with its runs' sends held."""
        with reading(self._engine) as conn:
            held = conn.scalar(
                select(journeys.c.hold_sends).where(journeys.c.journey_id == journey_id)
            )
            return bool(held)

    def active_latest(self) -> builtins.list[JourneyVersionRecord]:
        """The newest version of every active journey, by journey id."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(journey_versions)
                .join(journeys, journeys.c.journey_id == journey_versions.c.journey_id)
                .where(
                    journeys.c.status == "active", journey_versions.c.version == _newest_version()
                )
                .order_by(journey_versions.c.journey_id)
            )
            return [_record(row) for row in rows]
