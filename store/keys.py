"""API keys as the store keeps them: name, role and the SHA-256 of the key, never the key.

Lookup is by the hash of the offered key, so the database never compares secrets; the found
row's hash is compared again in constant time before it counts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select, update

from domain.roles import Role
from store.db import insert_ignoring, reading, writing
from store.schema import api_keys

# How stale `last_used_at` may get: a busy key is not written on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKey(BaseModel):
    """A key as listed: never the key itself."""

    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class KeyNameTaken(ValueError):
    """A key (live or revoked) already has this name."""


class UnknownKey(LookupError):
    """No key has this name."""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


_COLUMNS = (
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


class KeyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self, name: str, role: Role, key: str, now: datetime, conn: Connection | None = None
    ) -> ApiKey:
        """Store a new key under `name`; KeyNameTaken if any key ever had that name."""
        if conn is None:
            with writing(self._engine) as own:
                return self.add(name, role, key, now, own)
        inserted = conn.execute(
            insert_ignoring(conn, api_keys, "name")
            .values(name=name, role=role, key_hash=key_hash(key), created_at=now)
            .returning(api_keys.c.name)
        ).first()
        if inserted is None:
            raise KeyNameTaken(
                f"a key named {name!r} exists (or existed: names of revoked keys are kept "
                "so the audit log stays unambiguous); choose another name"
            )
        return ApiKey(name=name, role=role, created_at=now)

    def revoke(self, name: str, now: datetime, conn: Connection | None = None) -> ApiKey:
        """Revoke the key `name` (revoking a revoked key changes nothing); UnknownKey if none."""
        if conn is None:
            with writing(self._engine) as own:
                return self.revoke(name, now, own)
        conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        found = self.get(name, conn)
        if found is None:
            raise UnknownKey(f"no key named {name!r}")
        return found

    def get(self, name: str, conn: Connection | None = None) -> ApiKey | None:
        if conn is None:
            with reading(self._engine) as own:
                return self.get(name, own)
        row = conn.execute(select(*_COLUMNS).where(api_keys.c.name == name)).first()
        return None if row is None else ApiKey.model_validate(dict(row._mapping))

    def all(self) -> list[ApiKey]:
        with reading(self._engine) as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.name))
            return [ApiKey.model_validate(dict(row._mapping)) for row in rows]

    def resolve(self, key: str, now: datetime) -> ApiKey | None:
        """The live key whose secret is `key`, noting its use; None for unknown or revoked."""
        digest = key_hash(key)
        with reading(self._engine) as conn:
            row = conn.execute(
                select(*_COLUMNS, api_keys.c.key_hash).where(api_keys.c.key_hash == digest)
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        found = ApiKey.model_validate(dict(row._mapping))
        if found.revoked:
            return None
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            with writing(self._engine) as conn:
                conn.execute(
                    update(api_keys).where(api_keys.c.name == found.name).values(last_used_at=now)
                )
        return found
