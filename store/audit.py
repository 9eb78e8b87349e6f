"""The audit log as the store keeps it: appended in the caller's transaction, read in pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from domain.audit import Actor, AuditEntry, AuditPage
from store.db import reading, writing
from store.schema import audit_log


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        at: datetime,
        details: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Append one entry; given `conn`, in the caller's transaction (with the change)."""
        if conn is None:
            with writing(self._engine) as own:
                self.record(actor, action, target, at, details, own)
            return
        conn.execute(
            insert(audit_log).values(
                at=at,
                actor=actor.name,
                role=actor.role,
                action=action,
                target=target[:512],
                address=actor.address[:64] if actor.address else None,
                details=details or {},
            )
        )

    def page(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> AuditPage:
        """Entries after the cursor `after` (a `seq`), oldest first, filtered as asked."""
        c = audit_log.c
        query = select(audit_log).order_by(c.seq).limit(limit + 1)
        if after is not None:
            query = query.where(c.seq > after)
        if since is not None:
            query = query.where(c.at >= since)
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None:
            query = query.where(c.action == action)
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        entries = [AuditEntry.model_validate(dict(row._mapping)) for row in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(entries=entries, next=entries[-1].seq if more and entries else None)
