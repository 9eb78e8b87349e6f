"""/docs and /redoc work in a browser that cannot reach the internet.

The API runs as `journeys api` builds it (from settings), under uvicorn on a free port; the
page's assets must come from this server (the installed fastapi-offline package), never a CDN.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from entrypoints.api import create_app_from_settings, running
from tests.browser import offline_page
from workers.settings import Settings

SCREENSHOT = Path("/tmp/docs_offline.png")
REDOC_SCREENSHOT = Path("/tmp/redoc_offline.png")
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest_asyncio.fixture
async def api_url(tmp_path: Path) -> AsyncIterator[str]:
    # No Temporal: the docs pages and the schema never reach it (the client connects lazily).
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/journeys.db",
        data_dir=tmp_path,
        api_key="docs-test-key",
    )
    async with running(create_app_from_settings(settings)) as url:
        yield url


async def operations(url: str) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=url) as client:
        spec = (await client.get("/openapi.json")).raise_for_status().json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    ]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_docs_pages_load_their_assets_from_this_server(api_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        page = await client.get(path)
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert assets, page.text
        assert [url for url in assets if not url.startswith("/")] == []
        for url in assets:
            if url != "/openapi.json":
                assert (await client.get(url)).status_code == 200, url


async def test_swagger_ui_lists_every_operation_with_the_network_cut(api_url: str) -> None:
    expected = await operations(api_url)
    assert ("POST", "/events") in expected
    async with offline_page() as offline:
        page = offline.page
        response = await page.goto(f"{api_url}/docs", wait_until="networkidle")
        assert response is not None and response.ok
        await page.locator(".opblock").first.wait_for(timeout=20_000)
        events = page.locator('.opblock-post .opblock-summary-path[data-path="/events"]')
        assert await events.count() == 1
        assert await page.locator(".opblock").count() == len(expected)
        await events.scroll_into_view_if_needed()
        await page.screenshot(path=str(SCREENSHOT))
    assert offline.refused == [], f"/docs tried to reach the internet: {offline.refused}"
    assert offline.errors == [], f"script errors on /docs: {offline.errors}"


async def test_redoc_lists_the_operations_with_the_network_cut(api_url: str) -> None:
    async with offline_page() as offline:
        page = offline.page
        response = await page.goto(f"{api_url}/redoc", wait_until="networkidle")
        assert response is not None and response.ok
        await page.locator("[data-section-id*='/operation/']").first.wait_for(timeout=20_000)
        assert await page.locator("[data-section-id*='/operation/']").count() == len(
            await operations(api_url)
        )
        await page.get_by_text("/events", exact=True).first.wait_for(state="attached")
        await page.screenshot(path=str(REDOC_SCREENSHOT))
    # ReDoc's sidebar credit ("API docs by Redocly") hard-codes its logo on their CDN, with no
    # option to turn it off; the image hides itself when it fails to load. Nothing else may go.
    beyond = [url for url in offline.refused if url != REDOCLY_LOGO]
    assert beyond == [], f"/redoc tried to reach the internet: {beyond}"
    assert offline.errors == [], f"script errors on /redoc: {offline.errors}"
