"""The global suppression list: addresses fed by hard bounces and spam complaints.

A hard bounce suppresses the address for every message (it does not exist); a complaint
suppresses it for marketing (the person said no); `manual` entries take the scope given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, delete, select

from store.db import insert_ignoring, reading, writing
from store.schema import suppressions

Reason = Literal["bounce", "complaint", "manual"]
Scope = Literal["all", "marketing"]
SCOPE_OF: dict[str, Scope] = {"bounce": "all", "complaint": "marketing"}


class Suppression(BaseModel):
    channel: str
    address: str
    reason: Reason
    scope: Scope
    detail: str = ""
    created_at: datetime

    def blocks(self, category: str) -> bool:
        return self.scope == "all" or category == "marketing"


def normalise(address: str) -> str:
    return address.strip().lower()


class SuppressionList:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, entry: Suppression, conn: Connection | None = None) -> bool:
        """Suppress an address; True when it was not suppressed before (the first entry wins).

        Given `conn`, the entry joins the caller's transaction.
        """
        if conn is None:
            with writing(self._engine) as own:
                return self.add(entry, own)
        values = entry.model_dump() | {"address": normalise(entry.address)}
        inserted = conn.execute(
            insert_ignoring(conn, suppressions).values(values).returning(suppressions.c.channel)
        ).first()
        return inserted is not None

    def remove(self, channel: str, address: str) -> bool:
        s = suppressions.c
        with writing(self._engine) as conn:
            gone = conn.execute(
                delete(suppressions)
                .where(s.channel == channel, s.address == normalise(address))
                .returning(s.channel)
            ).first()
            return gone is not None

    def get(self, channel: str, address: str, conn: Connection | None = None) -> Suppression | None:
        """The entry for the address; given `conn`, as the caller's transaction sees it."""
        if conn is None:
            with reading(self._engine) as own:
                return self.get(channel, address, own)
        s = suppressions.c
        row = conn.execute(
            select(suppressions).where(s.channel == channel, s.address == normalise(address))
        ).first()
        return None if row is None else Suppression.model_validate(dict(row._mapping))

    def list(self, channel: str | None = None, limit: int = 100) -> list[Suppression]:
        s = suppressions.c
        query = select(suppressions).order_by(s.created_at.desc()).limit(limit)
        if channel is not None:
            query = query.where(s.channel == channel)
        with reading(self._engine) as conn:
            return [Suppression.model_validate(dict(row._mapping)) for row in conn.execute(query)]
