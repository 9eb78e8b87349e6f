"""HTTP: the audit log for admins, oldest first, in pages (`after` the last `seq` seen)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import AwareDatetime

from app.audit import Auditor
from domain.audit import AuditAction, AuditPage
from entrypoints.api_common import auditor_of, protected_router, requires

router = protected_router(tags=["audit"])

AuditLog = Annotated[Auditor, Depends(auditor_of)]


@router.get(
    "/audit",
    dependencies=[requires("audit:read")],
    response_model=AuditPage,
    summary="Who did what, to what, when and from where; `next` is the cursor of the next page",
)
def audit(
    log: AuditLog,
    after: Annotated[int | None, Query(ge=0, description="The `next` of the page before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    since: Annotated[AwareDatetime | None, Query(description="At or after this time.")] = None,
    actor: Annotated[str | None, Query(max_length=128, description="A key's name.")] = None,
    action: AuditAction | None = None,
) -> AuditPage:
    return log.page(after=after, limit=limit, since=since, actor=actor, action=action)
