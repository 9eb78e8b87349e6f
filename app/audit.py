"""Recording and reading the audit log: who changed what, to what, when, from where.

A use case that has a transaction records its entry in it (`conn=`), so the change and its
entry commit together; one whose change is a single repository call or a Temporal call
records it right after the change succeeds. An action without an actor (a worker acting on
its own, a customer's link) is not audited.

Who acts is set once per request or command by the entrypoint (`acting_as`: the API's key
check, the CLI's `service()`), a context variable that follows the request into threads and
tasks, so the use cases need not carry it through every signature.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.audit import Actor, AuditAction, AuditPage
from store.store import Store

_acting: ContextVar[Actor | None] = ContextVar("journeys_actor", default=None)


def acting_as(actor: Actor | None) -> None:
    """Who the rest of this request or command acts as."""
    _acting.set(actor)


def acting() -> Actor | None:
    """Who this request or command acts as, if set."""
    return _acting.get()


def cli_actor() -> Actor:
    """The command line acts as admin, named after the OS user running it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(name=f"cli:{user}", role="admin")


class Auditor:
    """Appends entries for one store; `default` is the actor when a call names none."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime], default: Actor | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.default = default

    def record(
        self,
        actor: Actor | None,
        action: AuditAction,
        target: str,
        details: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        who = actor or _acting.get() or self.default
        if who is None:
            return
        self.store.audit.record(who, action, target, self.clock(), details, conn=conn)

    def page(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> AuditPage:
        return self.store.audit.page(
            after=after, limit=limit, since=since, actor=actor, action=action
        )
