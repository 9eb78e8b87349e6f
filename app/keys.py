"""API keys: create (the secret is shown once and stored only as its hash), list, revoke,
and resolve an offered key to the principal it names. Each change and its audit entry
commit in one transaction."""

from __future__ import annotations

import hmac
import secrets

from pydantic import BaseModel

from app.audit import Auditor
from domain.audit import Actor
from domain.roles import Role, check_key_name
from store.keys import ApiKey
from store.unit_of_work import unit_of_work

# The bootstrap admin key (JOURNEYS_API_KEY) acts under this name; the colon keeps it
# apart from every name a created key may have.
BOOTSTRAP_NAME = "env:JOURNEYS_API_KEY"
# 32 random bytes: far beyond guessing, so one unsalted SHA-256 is a sound way to store it.
TOKEN_BYTES = 32
PREFIX = "jk_"


class CreatedKey(BaseModel):
    """A new key: `key` is its secret, shown this once and never again."""

    key: str
    record: ApiKey


class KeyService:
    def __init__(self, auditor: Auditor, bootstrap_key: str | None = None) -> None:
        self.auditor = auditor
        self.store = auditor.store
        self._bootstrap = bootstrap_key.encode() if bootstrap_key else None

    def create(self, name: str, role: Role, actor: Actor | None = None) -> CreatedKey:
        check_key_name(name)
        secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with unit_of_work(self.store.engine) as conn:
            record = self.store.keys.add(name, role, secret, self.auditor.clock(), conn=conn)
            self.auditor.record(actor, "key.create", name, {"role": role}, conn=conn)
        return CreatedKey(key=secret, record=record)

    def revoke(self, name: str, actor: Actor | None = None) -> ApiKey:
        with unit_of_work(self.store.engine) as conn:
            record = self.store.keys.revoke(name, self.auditor.clock(), conn=conn)
            # A revoked key's console sign-ins end with it.
            self.store.console_sessions.remove_for_key(name, conn)
            self.auditor.record(actor, "key.revoke", name, {"role": record.role}, conn=conn)
        return record

    def all(self) -> list[ApiKey]:
        return self.store.keys.all()

    def resolve(self, offered: list[str]) -> tuple[str, Role] | None:
        """The (name, role) of the first offered key that is live, or None."""
        found: tuple[str, Role] | None = None
        for key in offered:
            # Every offered key is compared with the bootstrap key in constant time.
            if self._bootstrap is not None and hmac.compare_digest(
                key.encode("utf-8", "surrogateescape"), self._bootstrap
            ):
                found = found or (BOOTSTRAP_NAME, "admin")
        if found is not None:
            return found
        for key in offered:
            record = self.store.keys.resolve(key, self.auditor.clock())
            if record is not None:
                return record.name, record.role
        return None
