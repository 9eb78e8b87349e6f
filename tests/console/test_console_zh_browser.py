"""The console in Chinese, in a real browser whose locale is zh-CN: the overview and the reports
show Chinese labels and dates (an ops user rebuilds the segments summary as of a chosen day),
and the language link turns the console to English. Screenshots of both pages in both
languages at 1280 and 820 px (tests/console/conftest.py screenshot_path)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.surveys import CreateSurvey
from tests.api.conftest import Stack, new_id
from tests.browser import CHROMIUM_ARGS, LOCAL_HOSTS, chromium_path
from tests.console.conftest import (
    WORKSPACE_TIMEZONE,
    browser_sign_in,
    new_key,
    screenshot_path,
)

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

# The day the customers pages' tests project the CDNOW base as of (the same, so neither
# test's rebuild undoes the other's).
AS_OF = "1998-03-01"
WAITING = """
id: JOURNEY
name: 春季关怀
category: marketing
trigger: {event: never_sent_JOURNEY}
steps:
  - {id: pause, wait: {for: 1h}}
"""


@asynccontextmanager
async def chinese_page() -> AsyncIterator[Page]:
    """A page in Chromium with the browser's locale zh-CN (it sends Accept-Language: zh-CN),
    every request beyond this machine aborted."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                locale="zh-CN", viewport={"width": 1280, "height": 900}
            )

            async def cut(route: Route) -> None:
                url = urlsplit(route.request.url)
                if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
                    await route.continue_()
                else:
                    await route.abort("internetdisconnected")

            await context.route("**/*", cut)
            yield await context.new_page()
        finally:
            await browser.close()


async def shoot(page: Any, name: str) -> None:
    """Full-page screenshots at 1280 and 820 px wide."""
    for width in (1280, 820):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(screenshot_path(f"{name}-{width}")), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


def activity(stack: Stack) -> str:
    """A run in flight on a journey of this test's own, and survey answers of its own
    customers, so the pages have something of today to show."""
    journey_id = new_id("zh_care").replace("-", "_")
    stack.service.publish_definition(load_journey_text(WAITING.replace("JOURNEY", journey_id)))
    now = datetime.now(UTC)
    for score in (10, 9, 6):
        customer_id = new_id("zh")
        stack.service.upsert_customer(
            CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
        )
        survey_id = new_id("zh-survey")
        stack.store.surveys.create(
            CreateSurvey(
                survey_id=survey_id,
                kind="nps",
                customer_id=customer_id,
                journey_id=journey_id,
                workflow_id=f"wf-{survey_id}",
                step_id="nps",
                expires_at=now.replace(year=now.year + 1),
                created_at=now,
            )
        )
        stack.store.surveys.answer(survey_id, score, "", now)
    return journey_id


async def test_the_console_in_chinese_shows_chinese_labels_and_dates_and_switches_to_english(
    console_stack: Stack, served_console: str
) -> None:
    journey_id = activity(console_stack)
    customer_id = new_id("zh-run")
    console_stack.service.upsert_customer(CustomerUpsert(customer_id=customer_id))
    started = await console_stack.service.enroll(journey_id, customer_id)
    assert started.action == "started"
    today = datetime.now(UTC).astimezone(ZoneInfo(WORKSPACE_TIMEZONE))
    chinese_day = f"{today.year}年{today.month}月{today.day}日"

    async with chinese_page() as page:
        await browser_sign_in(page, served_console, new_key(console_stack, "ops"))
        await page.goto(f"{served_console}/console/")
        assert await page.inner_text("h1") == "概览"
        assert await page.get_attribute("html", "lang") == "zh-CN"
        body = await page.inner_text("main")
        assert "今日旅程" in body and "进行中的运行" in body and "本周与上周的 NPS 和 CSAT" in body
        assert chinese_day in body
        row = await page.inner_text(f'tr:has(a[href="/console/journeys/{journey_id}"])')
        assert row.split()[-4:] == ["1", "1", "0", "0"]  # in flight, entered today
        assert "Runs in flight" not in body
        await shoot(page, "overview-zh")

        await page.click('nav a[href="/console/reports"]')
        await page.wait_for_url("**/console/reports")
        assert await page.inner_text("h1") == "报表"
        await page.fill("#as_of", AS_OF)
        await page.click("form:has(#as_of) button[type=submit]")
        await page.wait_for_url(re.compile(r".*as_of=1998-03-01"))
        if await page.locator('form[action="/console/reports/segments/rebuild"]').count():
            async with page.expect_navigation(url=re.compile(r".*notice=")):
                await page.click('form[action="/console/reports/segments/rebuild"] button')
            await page.wait_for_selector("table.segments")
            assert "已按 1998年3月1日 重建客户画像" in await page.inner_text(".notice")
        body = await page.inner_text("main")
        assert "客群概览" in body and "截至 1998年3月1日" in body
        assert "高价值" in body and "合计" in body
        assert re.search(r"\d{4} 年第 \d+ 周", body)
        await shoot(page, "reports-zh")

        async with page.expect_navigation(url=re.compile(r".*/console/reports")):
            await page.click('header .languages a[lang="en"]')
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.inner_text("h1") == "Reports"
        body = await page.inner_text("main")
        assert "Segments summary" in body and "Mar 1, 1998" in body and "客群概览" not in body
        await shoot(page, "reports-en")
        await page.click('nav a[href="/console/"]')
        await page.wait_for_url("**/console/")
        body = await page.inner_text("main")
        assert "Runs in flight" in body and "进行中的运行" not in body
        await shoot(page, "overview-en")
