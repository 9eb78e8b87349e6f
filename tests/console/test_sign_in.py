"""Signing in and out of the console, sessions, CSRF, roles and languages (no browser)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from app.audit import Auditor
from app.keys import KeyService
from tests.api.conftest import Stack
from tests.console.conftest import ConsoleFactory, make_console_app, new_key


async def test_a_page_without_a_session_goes_to_sign_in_and_back(console: ConsoleFactory) -> None:
    visitor = await console(None)
    response = await visitor.get("/console/customers?q=x")
    assert response.url.path == "/console/sign-in"
    assert "next=%2Fconsole%2Fcustomers%3Fq%3Dx" in str(response.url)
    assert 'name="key"' in response.text


async def test_sign_in_sets_a_strict_http_only_cookie_and_the_key_never_reaches_a_url(
    console_stack: Stack,
) -> None:
    app = make_console_app(console_stack)
    key = new_key(console_stack, "ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as http:
        form = await http.get("/console/sign-in")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        response = await http.post(
            "/console/sign-in", data={"csrf_token": token, "key": key, "next": "/console/"}
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("journeys_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert key not in response.headers["location"] and key not in cookie


async def test_a_wrong_key_is_refused_on_the_page(console: ConsoleFactory) -> None:
    visitor = await console(None)
    response = await visitor.sign_in("jk_not-a-key")
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.text


async def test_sign_in_without_its_form_token_is_refused(console: ConsoleFactory) -> None:
    visitor = await console(None)
    response = await visitor.http.post("/console/sign-in", data={"key": "whatever"})
    assert response.status_code == 403
    assert "expired" in response.text


async def test_sign_out_ends_the_session_on_the_server(console: ConsoleFactory) -> None:
    ops = await console("ops")
    cookie = ops.http.cookies.get("journeys_console", path="/console")
    assert (await ops.post("/console/sign-out")).url.path == "/console/sign-in"
    # The old cookie, replayed, opens nothing.
    ops.http.cookies.set("journeys_console", cookie, path="/console")
    assert (await ops.get("/console/")).url.path == "/console/sign-in"


async def test_a_form_without_the_csrf_token_changes_nothing(console: ConsoleFactory) -> None:
    ops = await console("ops")
    response = await ops.post("/console/sign-out", {"csrf_token": "forged"})
    assert response.status_code == 403
    assert "security token" in response.text
    # Still signed in: the forged sign-out did nothing.
    assert (await ops.get("/console/")).url.path == "/console/"


async def test_a_revoked_key_loses_its_console_session(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    keys = KeyService(Auditor(console_stack.store, lambda: datetime.now(UTC)))
    created = keys.create(f"viewer-{uuid.uuid4().hex[:8]}", "viewer")
    viewer = await console(None)
    assert (await viewer.sign_in(created.key)).url.path == "/console/"
    keys.revoke(created.record.name)
    assert (await viewer.get("/console/")).url.path == "/console/sign-in"


async def test_an_expired_session_sends_a_form_back_with_nothing_done(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    support = await console("support")
    past = datetime.now(UTC) - timedelta(minutes=1)
    with console_stack.store.engine.begin() as conn:
        from store.schema import console_sessions

        conn.execute(console_sessions.update().values(expires_at=past))
    response = await support.post("/console/sign-out")
    assert response.status_code == 401
    assert "session has ended" in response.text


async def test_the_console_speaks_chinese_when_the_browser_asks(console: ConsoleFactory) -> None:
    ops = await console("ops", locale="zh-CN,zh;q=0.9")
    page = await ops.get("/console/")
    assert '<html lang="zh-CN">' in page.text
    assert "概览" in page.text and "退出登录" in page.text
    english = await ops.get("/console/language?lang=en&next=/console/")
    assert '<html lang="en">' in english.text and "Sign out" in english.text


async def test_an_unknown_console_page_is_a_404_page(console: ConsoleFactory) -> None:
    ops = await console("ops")
    response = await ops.get("/console/no/such/page")
    assert response.status_code == 404
    assert "no such page" in response.text


async def test_a_form_over_the_request_limit_is_a_page_saying_so_with_nothing_done(
    console: ConsoleFactory,
) -> None:
    ops = await console("ops", locale="zh-CN")
    response = await ops.post("/console/sign-out", {"padding": "x" * 1_100_000})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "1024 KiB" in response.text and "未做任何更改" in response.text
    # The sign-out it carried never ran.
    assert (await ops.get("/console/")).url.path == "/console/"


async def test_only_the_consoles_own_redirects_put_a_notice_on_a_page(
    console: ConsoleFactory,
) -> None:
    ops = await console("ops")
    crafted = await ops.get("/console/?notice=Your+key+expired:+call+555-0100")
    assert crafted.status_code == 200 and "555-0100" not in crafted.text
    assert "expired" not in crafted.text  # nor in the language link's way back
    # A notice the console made itself is shown (signing out of another session says so).
    viewer = await console("viewer")
    response = await viewer.post("/console/reports/segments/rebuild", {"as_of": "1998-03-01"})
    assert response.status_code == 403
