"""Console pages: the overview (being written)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from entrypoints.console.web import User, console_router, render

router = console_router()


@router.get("/")
def overview(request: Request, user: User) -> HTMLResponse:
    return render(request, user, "overview/index.html", active="overview")
