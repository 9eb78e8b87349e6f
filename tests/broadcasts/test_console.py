"""The console's broadcast pages, in English and Chinese: the list links each broadcast, and
a broadcast's page shows the progress and funnel `journeys broadcast show` counts; a viewer
reads them, an unknown name is a 404 page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from app.bootstrap import make_service
from entrypoints.api import create_app
from tests.broadcasts.conftest import Stack, eventually
from tests.broadcasts.test_broadcasts import progress
from tests.console.conftest import ConsoleClient
from tests.console.test_accessibility import problems_of
from workers.settings import get_settings

API_KEY = "broadcast-console-key-0123456789"


@pytest_asyncio.fixture
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_service(get_settings(), stack.store), api_key=API_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://console.test",
        follow_redirects=True,
    ) as http:
        yield http


async def test_the_broadcast_pages_show_its_progress_in_both_languages(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    members = stack.customers("api", 2)
    code, out = await stack.journeys(
        "broadcast", "create", "console_sale", "--segment", "api",
        "--template", str(stack.template()),
    )  # fmt: skip
    assert code == 0, out

    async def done() -> str | None:
        _code, out = await stack.journeys("broadcast", "show", "console_sale")
        return out if "state: done" in out else None

    shown = progress(await eventually(done, what="console_sale done"))
    console = ConsoleClient(browser)
    assert (await console.sign_in(API_KEY)).status_code == 200
    listed = await console.get("/console/broadcasts")
    assert listed.status_code == 200, listed.text
    assert 'href="/console/broadcasts/console_sale"' in listed.text
    page = await console.get("/console/broadcasts/console_sale")
    assert page.status_code == 200, page.text
    assert "<h1>Broadcast console_sale</h1>" in page.text
    cells = [f"<td>{n}</td>" for n in (shown["members"], shown["enrolled"], shown["sent"])]
    assert "".join(cells) in "".join(page.text.split()), page.text
    assert shown["sent"] == str(sum(stack.mails_to(members).values()))
    chinese = await console.get(
        "/console/broadcasts/console_sale", headers={"Accept-Language": "zh-CN"}
    )
    assert "群发 console_sale" in chinese.text and "进度" in chinese.text
    for html in (listed.text, page.text, chinese.text):  # what every console page passes
        assert problems_of(html) == []
    missing = await console.get("/console/broadcasts/nope")
    assert missing.status_code == 404 and "There is no broadcast named “nope”." in missing.text
