"""Console sessions as the store keeps them: the SHA-256 of the cookie's token, never the token.

A session is valid until `expires_at`; signing out deletes its row, and expired rows are
deleted whenever a new session is made.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, delete, select, update

from domain.roles import Role
from store.db import reading, writing
from store.schema import console_sessions


class ConsoleSession(BaseModel):
    key_name: str
    role: Role
    csrf_token: str
    address: str | None = None
    created_at: datetime
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


_COLUMNS = (
    console_sessions.c.key_name,
    console_sessions.c.role,
    console_sessions.c.csrf_token,
    console_sessions.c.address,
    console_sessions.c.created_at,
    console_sessions.c.expires_at,
)


class ConsoleSessionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, token: str, session: ConsoleSession, conn: Connection | None = None) -> None:
        """Store a new session under `token`, dropping every session that has expired."""
        if conn is None:
            with writing(self._engine) as own:
                return self.add(token, session, own)
        conn.execute(
            delete(console_sessions).where(console_sessions.c.expires_at <= session.created_at)
        )
        conn.execute(
            console_sessions.insert().values(token_hash=token_hash(token), **session.model_dump())
        )
        return None

    def live(self, token: str, now: datetime) -> ConsoleSession | None:
        """The session `token` opens, unless there is none or it has expired."""
        with reading(self._engine) as conn:
            row = conn.execute(
                select(*_COLUMNS).where(console_sessions.c.token_hash == token_hash(token))
            ).first()
        if row is None:
            return None
        found = ConsoleSession.model_validate(dict(row._mapping))
        return found if found.expires_at > now else None

    def extend(self, token: str, expires_at: datetime) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                update(console_sessions)
                .where(console_sessions.c.token_hash == token_hash(token))
                .values(expires_at=expires_at)
            )

    def remove(self, token: str, conn: Connection | None = None) -> bool:
        """End the session `token`; whether there was one."""
        if conn is None:
            with writing(self._engine) as own:
                return self.remove(token, own)
        result = conn.execute(
            delete(console_sessions).where(console_sessions.c.token_hash == token_hash(token))
        )
        return bool(result.rowcount)

    def remove_for_key(self, key_name: str, conn: Connection) -> int:
        """End every session of the key `key_name` (it was revoked)."""
        result = conn.execute(
            delete(console_sessions).where(console_sessions.c.key_name == key_name)
        )
        return int(result.rowcount)
