"""HTTP broadcasts: `POST /broadcasts`, `GET /broadcasts`, `GET /broadcasts/{name}`,
`POST /broadcasts/{name}/start` — the use cases of `journeys broadcast` (app/broadcasts.py).

A refusal names its field: 422 in the validation shape (`loc: ["body", field]`) for a value
that is wrong in itself (a bad name, a time in the past or without a timezone, a template that
does not render, an email without a subject), 404 for a segment there is not, 409 for a name
already used, a segment with no members or a channel not configured here. Nothing is written
on any of them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.broadcasts import (
    BroadcastDetail,
    BroadcastNotStarted,
    BroadcastService,
    CreateBroadcast,
    broadcast_service,
)
from domain.broadcasts import (
    MAX_NAME,
    NAME_PATTERN,
    Broadcast,
    BroadcastRefused,
    Category,
    UnknownBroadcast,
)
from domain.journey import Template, TemplateVariant
from domain.messages import Channel
from domain.segments import SegmentError
from entrypoints.api_common import (
    NOT_FOUND,
    TEMPORAL,
    ErrorDetail,
    Service,
    invalid,
    protected_router,
    requires,
)
from workers.settings import get_settings

router = protected_router()

REFUSED: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorDetail, "description": "The segment (or broadcast) does not exist."},
    409: {
        "model": ErrorDetail,
        "description": "The name is used already, the segment has no members, or the channel "
        "is not configured here; nothing was written.",
    },
}
NOT_STARTED: dict[int | str, dict[str, object]] = {
    503: {
        "model": ErrorDetail,
        "description": "Saved, but Temporal did not take its run: "
        "POST /broadcasts/{name}/start starts it.",
    }
}
BroadcastName = Annotated[
    str, Path(min_length=1, max_length=MAX_NAME, description="The broadcast's name.")
]


LocaleName = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class TemplateBody(TemplateVariant):
    """A journey template's shape: the default wording and the wording per locale."""

    locales: dict[LocaleName, TemplateVariant] = Field(
        default_factory=dict,
        description="Wording per locale, e.g. {zh-CN: {subject, text}}.",
        # Only locale names are keys (the schema says so, not just the validator).
        json_schema_extra={"additionalProperties": False},
    )


class BroadcastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        description="A new name: lowercase letters, digits and '_', starting with a letter.",
    )
    segment: str = Field(min_length=1, max_length=128, description="A segment's name.")
    channel: Channel = "email"
    template: TemplateBody = Field(
        description="subject, text, optional html and locales, as a journey's template."
    )
    at: datetime | None = Field(
        default=None, description="When to send, with a timezone; null or left out: now."
    )
    category: Category = "marketing"


def _service(journeys: Service) -> BroadcastService:
    try:
        return broadcast_service(get_settings(), journeys)
    except SegmentError as exc:
        raise invalid(("body", "segment"), f"the segments file does not load: {exc}", None) from exc


def _refused(exc: BroadcastRefused) -> Exception:
    if exc.kind == "unknown":
        return HTTPException(404, str(exc))
    if exc.kind == "conflict":
        return HTTPException(409, str(exc))
    return invalid(("body", exc.field), exc.args[0], None)


@router.post(
    "/broadcasts",
    dependencies=[requires("journeys:write")],
    tags=["broadcasts"],
    status_code=201,
    response_model=Broadcast,
    responses={**REFUSED, **TEMPORAL, **NOT_STARTED},
    summary="Send a template to a segment's members once, now or at a time",
)
async def create_broadcast(body: BroadcastRequest, journeys: Service) -> Broadcast:
    """Checked, stored, published as the journey `broadcast_<name>` and audited in one
    transaction; then its enrollment run starts (at `at`, by a durable start delay)."""
    request = CreateBroadcast(
        name=body.name,
        segment=body.segment,
        channel=body.channel,
        template=Template.model_validate(body.template.model_dump()),
        template_source="request body",
        at=body.at,
        category=body.category,
    )
    try:
        return await _service(journeys).create(request)
    except BroadcastRefused as exc:
        raise _refused(exc) from exc
    except BroadcastNotStarted as exc:
        raise HTTPException(503, str(exc)) from exc


@router.post(
    "/broadcasts/{name}/start",
    dependencies=[requires("journeys:write")],
    tags=["broadcasts"],
    response_model=Broadcast,
    responses={**NOT_FOUND, **TEMPORAL},
    summary="Start a broadcast saved while Temporal was unreachable (harmless to repeat)",
)
async def start_broadcast(name: BroadcastName, journeys: Service) -> Broadcast:
    try:
        return await _service(journeys).start(name)
    except UnknownBroadcast as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get(
    "/broadcasts",
    dependencies=[requires("journeys:read")],
    tags=["broadcasts"],
    response_model=list[Broadcast],
    summary="Every broadcast, newest first",
)
async def list_broadcasts(journeys: Service) -> list[Broadcast]:
    return await asyncio.to_thread(_service(journeys).list)


@router.get(
    "/broadcasts/{name}",
    dependencies=[requires("journeys:read")],
    tags=["broadcasts"],
    response_model=BroadcastDetail,
    responses={**NOT_FOUND, **TEMPORAL},
    summary="A broadcast, its progress and its funnel",
)
async def show_broadcast(name: BroadcastName, journeys: Service) -> BroadcastDetail:
    """Members, enrolled, sent, deferred, skipped (with the reasons), failed, runs still
    going; the funnel of its journey as `journeys report funnel` counts it."""
    try:
        return await _service(journeys).show(name)
    except UnknownBroadcast as exc:
        raise HTTPException(404, str(exc)) from exc
