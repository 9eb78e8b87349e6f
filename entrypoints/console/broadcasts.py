"""Console pages: broadcasts — the list (what, to whom, when, how far) and one broadcast's
progress and funnel, the numbers `journeys broadcast show` prints (app/broadcasts.py).

Read only: a broadcast is created with `journeys broadcast create` or `POST /broadcasts`.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.broadcasts import BroadcastService
from domain.broadcasts import UnknownBroadcast
from entrypoints.console.web import ConsoleError, User, console_router, render, require

router = console_router()


def _broadcasts(request: Request) -> BroadcastService:
    # Reading needs neither the segments file nor the channels.
    return BroadcastService(request.app.state.service, {}, ())


@router.get("/broadcasts")
async def broadcast_list(request: Request, user: User) -> HTMLResponse:
    require(user, "journeys:read")
    rows = await asyncio.to_thread(_broadcasts(request).listing)
    return render(request, user, "broadcasts/list.html", active="broadcasts", rows=rows)


@router.get("/broadcasts/{name}")
async def broadcast_page(request: Request, user: User, name: str) -> HTMLResponse:
    require(user, "journeys:read")
    try:
        detail = await _broadcasts(request).show(name)
    except UnknownBroadcast:
        raise ConsoleError(
            404, user.gettext("There is no broadcast named “{name}”.").format(name=name)
        ) from None
    return render(request, user, "broadcasts/broadcast.html", active="broadcasts", detail=detail)
