"""Broadcasts in the store: the row, the journey it publishes (in the same transaction), and
what its runs and messages came to."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, distinct, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from domain.broadcasts import Broadcast, BroadcastRefused
from store.db import reading, writing
from store.journeys import checksum
from store.schema import (
    broadcasts,
    enrollments,
    journey_versions,
    journeys,
    outbox,
    send_decisions,
)

# Outbox states a message ends in; a deferred message has none of them yet.
SETTLED = ("sent", "uncertain", "skipped", "failed")


class MessageTally(BaseModel):
    """A broadcast's messages by outcome, its runs, and why messages were skipped."""

    enrolled: int = 0
    running: int = 0
    by_status: dict[str, int] = {}
    skipped_reasons: dict[str, int] = {}
    skipped_rules: dict[str, int] = {}  # the eligibility rule behind each skip (consent, ...)
    deferred: int = 0  # messages held now (quiet hours, a cap, an open case), not yet settled
    deferred_rules: dict[str, int] = {}


def _broadcast(row: Any) -> Broadcast:
    return Broadcast.model_validate(dict(row._mapping))


class BroadcastRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, conn: Connection, broadcast: Broadcast, definition: dict[str, Any]) -> None:
        """Store the broadcast and publish its journey as version 1, in the caller's
        transaction. A name or journey id already used is refused (BroadcastRefused)."""
        if conn.execute(
            select(broadcasts.c.name).where(broadcasts.c.name == broadcast.name)
        ).first():
            raise BroadcastRefused(
                "name", f"a broadcast named {broadcast.name!r} exists already", "conflict"
            )
        if conn.execute(
            select(journeys.c.journey_id).where(journeys.c.journey_id == broadcast.journey_id)
        ).first():
            raise BroadcastRefused(
                "name",
                f"the name is taken: a journey {broadcast.journey_id!r} is published already",
                "conflict",
            )
        try:
            conn.execute(
                journeys.insert().values(
                    journey_id=broadcast.journey_id,
                    name=str(definition["name"]),
                    category=broadcast.category,
                    status="active",
                    status_changed_at=broadcast.created_at,
                )
            )
            conn.execute(
                journey_versions.insert().values(
                    journey_id=broadcast.journey_id,
                    version=1,
                    checksum=checksum(definition),
                    definition=definition,
                    published_at=broadcast.created_at,
                )
            )
            conn.execute(broadcasts.insert().values(broadcast.model_dump()))
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise BroadcastRefused(
                "name", f"a broadcast named {broadcast.name!r} exists already", "conflict"
            ) from exc

    def mark_started(self, name: str, at: datetime) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                update(broadcasts)
                .where(broadcasts.c.name == name, broadcasts.c.status == "created")
                .values(status="scheduled", started_at=at)
            )

    def get(self, name: str) -> Broadcast | None:
        with reading(self._engine) as conn:
            row = conn.execute(select(broadcasts).where(broadcasts.c.name == name)).first()
            return None if row is None else _broadcast(row)

    def list(self) -> builtins.list[Broadcast]:
        """Newest first."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(broadcasts).order_by(broadcasts.c.created_at.desc(), broadcasts.c.name)
            )
            return [_broadcast(row) for row in rows]

    def count(self) -> int:
        with reading(self._engine) as conn:
            return int(conn.scalar(select(func.count()).select_from(broadcasts)) or 0)

    def tally(self, journey_id: str) -> MessageTally:
        """Runs of the broadcast's journey and its messages by status; skip reasons."""
        r, m = enrollments.c, outbox.c
        with reading(self._engine) as conn:
            enrolled, running = conn.execute(
                select(
                    func.count(),
                    func.count().filter(r.status == "running"),
                ).where(r.journey_id == journey_id)
            ).one()
            by_status = {
                status: int(n)
                for status, n in conn.execute(
                    select(m.status, func.count())
                    .where(m.journey_id == journey_id)
                    .group_by(m.status)
                )
            }
            reasons = {
                str(detail or "no reason given"): int(n)
                for detail, n in conn.execute(
                    select(m.detail, func.count())
                    .where(m.journey_id == journey_id, m.status == "skipped")
                    .group_by(m.detail)
                    .order_by(func.count().desc(), m.detail)
                )
            }
            d = send_decisions.c
            settled = exists().where(
                and_(m.idempotency_key == d.idempotency_key, m.status.in_(SETTLED))
            )
            held = (
                select(d.idempotency_key, func.max(d.rule).label("rule"))
                .where(d.journey_id == journey_id, d.decision == "deferred", ~settled)
                .group_by(d.idempotency_key)
                .subquery()
            )
            rules = {
                str(rule or "other"): int(n)
                for rule, n in conn.execute(
                    select(held.c.rule, func.count(distinct(held.c.idempotency_key))).group_by(
                        held.c.rule
                    )
                )
            }
            skip_rule = (
                select(d.idempotency_key, func.max(d.rule).label("rule"))
                .where(d.journey_id == journey_id, d.decision.in_(("skipped", "suppressed")))
                .group_by(d.idempotency_key)
                .subquery()
            )
            skipped_rules = {
                str(rule or "other"): int(n)
                for rule, n in conn.execute(
                    select(skip_rule.c.rule, func.count())
                    .join(outbox, outbox.c.idempotency_key == skip_rule.c.idempotency_key)
                    .where(outbox.c.status == "skipped")
                    .group_by(skip_rule.c.rule)
                )
            }
        return MessageTally(
            enrolled=int(enrolled),
            skipped_rules=skipped_rules,
            running=int(running),
            by_status=by_status,
            skipped_reasons=reasons,
            deferred=sum(rules.values()),
            deferred_rules=rules,
        )
