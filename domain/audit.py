"""The audit log's vocabulary: who did what, to what, when and from where.

An `AuditEntry` is written once and never changed; `Actor` is who acted (a key's name and
role, `cli:<os user>` for the command line). Actions are named `<thing>.<verb>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from domain.roles import Role

AuditAction = Literal[
    "journey.publish",
    "journey.pause",
    "journey.resume",
    "consent.change",
    "suppression.remove",
    "case.open",
    "case.assign",
    "case.add_note",
    "case.respond",
    "case.resolve",
    "case.reopen",
    "callback.claim",
    "callback.complete",
    "enrollment.create",
    "audience.enroll",
    "key.create",
    "key.revoke",
    "console.sign_in",
    "console.sign_out",
    "customer.erase",
    "run.reconcile",
    "run.end",
    "run.skip_wait",
    "run.retry",
    "run.move",
    "run.migrate",
    "event.retry",
    "broadcast.create",
]
AUDIT_ACTIONS: tuple[str, ...] = get_args(AuditAction)


class Actor(BaseModel):
    """Who acts: a key's name and role, and the address the request came from (if any)."""

    name: str
    role: Role
    address: str | None = None


class AuditEntry(BaseModel):
    """One recorded action; `seq` orders the log and is the cursor of its pages."""

    seq: int
    at: datetime
    actor: str
    role: Role
    action: AuditAction
    target: str
    address: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    """Entries in log order; `next` is the `after` cursor of the page after, or None."""

    entries: list[AuditEntry]
    next: int | None = None
