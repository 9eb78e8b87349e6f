"""Console sign-in: an API key buys a session (a random token in an HttpOnly cookie), which
carries the key's name and role and a CSRF token, and ends at sign-out, at expiry or when the
key is revoked. Sign-in and sign-out are audited in the same transaction as the session row."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from app.keys import KeyService
from domain.audit import Actor
from store.console_sessions import ConsoleSession
from store.unit_of_work import unit_of_work

# A session lasts this long after its last use (each page view moves the end on) ...
IDLE = timedelta(hours=8)
# ... but never past this long after sign-in.
ABSOLUTE = timedelta(hours=24)
# Moving the end on is a write: do it at most this often per session.
EXTEND_EVERY = timedelta(minutes=5)


class SignInRefused(ValueError):
    """The offered key is unknown or revoked."""


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: ConsoleSession

    @property
    def actor(self) -> Actor:
        return Actor(
            name=self.session.key_name, role=self.session.role, address=self.session.address
        )


class ConsoleSessions:
    def __init__(self, keys: KeyService) -> None:
        self.keys = keys
        self.store = keys.store
        self.clock = keys.auditor.clock

    def sign_in(self, key: str, address: str | None) -> SignedIn:
        found = self.keys.resolve([key]) if key else None
        if found is None:
            raise SignInRefused("that key is unknown or has been revoked")
        name, role = found
        now = self.clock()
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            key_name=name,
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            address=address,
            created_at=now,
            expires_at=now + IDLE,
        )
        actor = Actor(name=name, role=role, address=address)
        with unit_of_work(self.store.engine) as conn:
            self.store.console_sessions.add(token, session, conn=conn)
            self.keys.auditor.record(actor, "console.sign_in", name, {}, conn=conn)
        return SignedIn(token, session)

    def current(self, token: str) -> SignedIn | None:
        """The live session `token` opens (its end moved on), or None."""
        if not token:
            return None
        now = self.clock()
        session = self.store.console_sessions.live(token, now)
        if session is None:
            return None
        end = min(now + IDLE, session.created_at + ABSOLUTE)
        if end - session.expires_at >= EXTEND_EVERY:
            self.store.console_sessions.extend(token, end)
            session = session.model_copy(update={"expires_at": end})
        return SignedIn(token, session)

    def sign_out(self, signed_in: SignedIn) -> None:
        with unit_of_work(self.store.engine) as conn:
            if self.store.console_sessions.remove(signed_in.token, conn=conn):
                self.keys.auditor.record(
                    signed_in.actor, "console.sign_out", signed_in.session.key_name, {}, conn=conn
                )
