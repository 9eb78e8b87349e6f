"""The web console, served by the API process under /console/.

Each module holds the pages of one area on its own router; `mount` adds them all, the static
files, and a not-found page for any other console path. Pages parse and present: they call
the app's services (app/) and render templates; no business rule lives here.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from entrypoints.console import (
    broadcasts,
    callbacks,
    cases,
    customers,
    journeys,
    messages,
    overview,
    reports,
    run_migration,
    runs,
    sign_in,
)
from entrypoints.console.i18n import gettext_for
from entrypoints.console.web import (
    PREFIX,
    STATIC,
    ConsoleError,
    console_router,
    error_page,
    locale_of,
    signed_in,
)

PAGES = (
    sign_in,
    overview,
    run_migration,
    journeys,
    customers,
    runs,
    cases,
    callbacks,
    messages,
    reports,
    broadcasts,
)

_fallback = console_router()


@_fallback.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    _ = gettext_for(signed_in(request).locale)
    raise ConsoleError(404, _("There is no such page in the console."))


def too_large_page(request: Request, max_bytes: int) -> HTMLResponse:
    """The 413 page for a console form whose body is over the API's request limit."""
    _ = gettext_for(locale_of(request))
    text = _(
        "What you sent is larger than {size} KiB, the most one request may carry, so nothing "
        "was changed. Send a smaller file."
    )
    return error_page(request, 413, text.format(size=max_bytes // 1024))


def mount(
    app: FastAPI,
    *,
    workspace_timezone: str = "UTC",
    temporal_ui_url: str = "http://127.0.0.1:8233",
    temporal_namespace: str = "default",
) -> None:
    """Serve the console from `app` under /console/; run pages link into the Temporal Web UI
    at `temporal_ui_url` (app.state.temporal_ui_url, app.state.temporal_namespace)."""
    app.state.workspace_timezone = workspace_timezone
    app.state.temporal_ui_url = temporal_ui_url.rstrip("/")
    app.state.temporal_namespace = temporal_namespace
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get(PREFIX, include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    for module in PAGES:
        app.include_router(module.router)
    app.include_router(_fallback)
