"""Console fixtures: the console over the real stack (a store with the CDNOW base imported, a
Temporal dev server and a worker), signed in as a key of a chosen role.

`console(role)` gives an httpx client that holds a session cookie as a browser would and
fills in the CSRF token of its forms; `served_console` runs the app under uvicorn for
Chromium (tests/browser.py). Each test makes its own customers, so tests never see each
other's runs; the CDNOW customers are shared and read only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.audit import Auditor
from app.keys import KeyService
from domain.importing import cdnow_profile, parse_cdnow
from domain.roles import Role
from entrypoints.api import create_app, running
from tests.api.conftest import API_KEY, SURVEY_LINKS, Stack, running_stack
from tests.audiences.conftest import cdnow_file

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
SCREENSHOTS = Path("/tmp/console-shots")
WORKSPACE_TIMEZONE = "Asia/Shanghai"


@pytest_asyncio.fixture(scope="session")
async def console_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The real stack with the CDNOW purchases imported (23,570 customers, 69,659 orders)."""
    async with running_stack(tmp_path_factory.mktemp("console") / "journeys.db") as stack:
        data = cdnow_file()
        if data is not None:
            with data.open(encoding="utf-8") as lines:
                parsed = parse_cdnow(lines)
            now = datetime.now(UTC)
            stack.store.events.import_events(
                parsed.events, now, new_customer=lambda cid: cdnow_profile(cid, now)
            )
        yield stack


def make_console_app(stack: Stack) -> FastAPI:
    return create_app(
        stack.service,
        api_key=API_KEY,
        survey_links=SURVEY_LINKS,
        workspace_timezone=WORKSPACE_TIMEZONE,
    )


def new_key(stack: Stack, role: Role) -> str:
    """A fresh stored key of `role` (the bootstrap key is admin)."""
    keys = KeyService(Auditor(stack.store, lambda: datetime.now(UTC)))
    return keys.create(f"{role}-{uuid.uuid4().hex[:8]}", role).key


class ConsoleClient:
    """A signed-in browser without a browser: keeps the session cookie, fills in CSRF."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.csrf = ""

    async def sign_in(self, key: str) -> httpx.Response:
        form = await self.http.get("/console/sign-in")
        token = CSRF.search(form.text)
        assert token, form.text
        response = await self.http.post(
            "/console/sign-in",
            data={"csrf_token": token.group(1), "key": key, "next": "/console/"},
        )
        found = META_CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.get(path, **kwargs)
        found = META_CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Post a form as the console's own page would (with the session's CSRF token)."""
        fields = dict(data or {})
        if csrf:
            fields.setdefault("csrf_token", self.csrf)
        return await self.http.post(path, data=fields, **kwargs)


ConsoleFactory = Callable[..., Awaitable[ConsoleClient]]


@pytest_asyncio.fixture
async def console(console_stack: Stack) -> AsyncIterator[ConsoleFactory]:
    """`await console("support")`: a client signed in with a new key of that role
    (`console("admin")` uses the bootstrap key); `console(None)` is not signed in."""
    clients: list[httpx.AsyncClient] = []
    app = make_console_app(console_stack)

    async def make(role: Role | None = "admin", *, locale: str | None = None) -> ConsoleClient:
        headers = {"Accept-Language": locale} if locale else {}
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://console.test",
            headers=headers,
            follow_redirects=True,
        )
        clients.append(http)
        client = ConsoleClient(http)
        if role is not None:
            key = API_KEY if role == "admin" else new_key(console_stack, role)
            response = await client.sign_in(key)
            assert response.status_code == 200, response.text
        return client

    try:
        yield make
    finally:
        for http in clients:
            await http.aclose()


@pytest_asyncio.fixture
async def served_console(console_stack: Stack) -> AsyncIterator[str]:
    """The console app under uvicorn on a free port: its base URL, for Chromium."""
    async with running(make_console_app(console_stack)) as url:
        yield url


async def browser_sign_in(page: Any, base_url: str, key: str) -> None:
    """Sign in through the sign-in form, as a person would."""
    await page.goto(f"{base_url}/console/sign-in")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/console/**")


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
