"""Support in a real browser: find a customer by email, open a case from their page, see the
customer's marketing email wait for the case (the timeline says why) and go out once the case
is resolved on the case's page; and hostile text in an attribute or the search box stays text."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from tests.api.conftest import Stack, eventually, new_id
from tests.browser import offline_page
from tests.console.conftest import browser_sign_in, new_key, screenshot_path

OFFER = """
id: JOURNEY
name: Spring offer
category: marketing
trigger: {event: never_sent_JOURNEY}
quiet_hours: []
templates:
  offer: {subject: "SUBJECT", text: "Spring sale: 20% off this week."}
steps:
  - {id: pause, wait: {for: 6s}}
  - {id: offer, send: {channel: email, template: offer}}
"""
CDNOW_DAY = date(1998, 3, 1)  # the day tests/console/test_console_zh_browser.py uses too
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


async def shoot(page: Any, name: str) -> None:
    await page.screenshot(path=str(screenshot_path(name)), full_page=True)


async def test_support_opens_a_case_and_the_customers_marketing_waits_until_it_is_resolved(
    console_stack: Stack, served_console: str
) -> None:
    journey_id = new_id("spring").replace("-", "_")
    subject = f"Spring offer {journey_id}"
    console_stack.service.publish_definition(
        load_journey_text(OFFER.replace("JOURNEY", journey_id).replace("SUBJECT", subject))
    )
    customer_id = new_id("buyer")
    email = f"{customer_id}@example.com"
    console_stack.service.upsert_customer(
        CustomerUpsert(
            customer_id=customer_id,
            email=email,
            timezone="Asia/Shanghai",
            attributes={"first_name": "Mei", "city": "Hangzhou"},
            tags=["spring"],
        )
    )
    key = new_key(console_stack, "support")
    async with offline_page() as browser:
        page = browser.page
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/customers")
        await page.fill("#q", email.upper())
        await page.click("form[role=search] button[type=submit]")
        await page.wait_for_url(re.compile(r".*/console/customers\?q="))
        await shoot(page, "customers-search")
        await page.click(f'td a[href="/console/customers/{customer_id}"]')
        await page.wait_for_url(f"**/console/customers/{customer_id}")
        # The customer is in a journey whose marketing email goes out after a short wait.
        delivery = await console_stack.service.enroll(journey_id, customer_id)
        assert delivery.action == "started" and delivery.workflow_id
        # Open a case from the page while the run waits at its first step.
        await page.fill("#category", "delivery")
        await page.select_option("#severity", "high")
        await page.fill("#summary", "The parcel never came; do not send offers now.")
        await page.click("#open-case button[type=submit]")
        await page.wait_for_selector(".notice")
        notice = await page.inner_text(".notice")
        found = re.search(r"cs-[0-9a-f]+", notice)
        assert found, notice
        case_id = found.group(0)

        async def held() -> bool:
            decisions = console_stack.store.ledger.decisions(customer_id, journey_id, "deferred")
            return any(d.rule == "open_case" for d in decisions)

        try:
            await eventually(held, timeout=30, what="the offer held for the open case")
        except AssertionError:
            print(console_stack.store.ledger.decisions(customer_id))
            print(console_stack.store.cases.list(customer_id=customer_id))
            raise
        assert [m for m in console_stack.channel.to(email) if m.subject == subject] == []
        await page.reload()
        timeline = await page.inner_text("ol.timeline")
        assert "waiting: open case" in timeline and f"open case {case_id}" in timeline
        assert "Waits for a held message (open case" in timeline
        await shoot(page, "customers-customer-held")
        # The run page says what it waits for.
        await page.click(f'a[href="/console/runs/{delivery.workflow_id}"]')
        await page.wait_for_selector("#trace-h")
        run_text = await page.inner_text("main")
        assert "a held message" in run_text and "Temporal Web UI" in run_text
        await shoot(page, "runs-run-held")
        # Resolving the case (from its page, reached from the customer's timeline) lets the
        # offer go.
        await page.goto(f"{served_console}/console/customers/{customer_id}")
        await page.click(f'ol.timeline a[href="/console/cases/{case_id}"]')
        await page.wait_for_selector("#resolve-text")
        await page.fill("#resolve-text", "Refunded the parcel.")
        await page.click(f'form[action="/console/cases/{case_id}/resolve"] button[type=submit]')
        await page.wait_for_selector(".notice")

        async def sent() -> bool:
            return any(m.subject == subject for m in console_stack.channel.to(email))

        await eventually(sent, timeout=30, what="the offer after the case was resolved")

        async def shown() -> bool:
            await page.goto(f"{served_console}/console/customers/{customer_id}")
            text = await page.inner_text("ol.timeline")
            return subject in text and "· sent" in text

        await eventually(shown, timeout=15, what="the sent offer on the timeline")
        await shoot(page, "customers-customer-sent")
        await page.goto(f"{served_console}/console/runs/{delivery.workflow_id}")
        await shoot(page, "runs-run-done")
        # The same page in Chinese, and at tablet width.
        await page.goto(f"{served_console}/console/customers/{customer_id}")
        await page.click("a[lang=zh-CN]")
        await page.wait_for_selector("html[lang=zh-CN] #timeline-h")
        assert "时间线" in await page.inner_text("#timeline-h")
        await shoot(page, "customers-customer-zh")
        await page.set_viewport_size({"width": 820, "height": 1000})
        await shoot(page, "customers-customer-zh-820")
        await page.goto(f"{served_console}/console/runs/{delivery.workflow_id}")
        await shoot(page, "runs-run-zh-820")
        await page.goto(f"{served_console}/console/customers?q=spring")
        await shoot(page, "customers-search-zh-820")
        # A CDNOW buyer overdue for an order (as of a day in the CDNOW years): value, stage
        # and churn risk with its reasons, in Chinese and in English.
        projections = console_stack.store.projections
        if projections.built_as_of() != CDNOW_DAY:
            projections.rebuild(CDNOW_DAY)
        at_risk = next(m for m in projections.all() if m.churn_reasons and m.tier == "high")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.goto(f"{served_console}/console/customers/{at_risk.customer_id}")
        assert "流失风险" in await page.inner_text("#value-h + dl")
        await shoot(page, "customers-cdnow-zh")
        await page.click("a[lang=en]")
        await page.wait_for_selector("html[lang=en] #value-h")
        reasons = await page.inner_text("ul.reasons")
        assert "overdue for an order" in reasons
        await shoot(page, "customers-cdnow-en")
        assert browser.errors == [] and browser.refused == []


async def test_hostile_text_in_an_attribute_and_in_the_search_box_fires_nothing(
    console_stack: Stack, served_console: str
) -> None:
    customer_id = new_id("xss")
    console_stack.service.upsert_customer(
        CustomerUpsert(
            customer_id=customer_id,
            email=f"{customer_id}@example.com",
            attributes={"nickname": XSS[0], "note": XSS[1]},
            tags=[XSS[1]],
        )
    )
    key = new_key(console_stack, "support")
    async with offline_page() as browser:
        page = browser.page
        dialogs: list[str] = []

        async def dismiss(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/customers/{customer_id}")
        attributes = await page.inner_text("table.attributes")
        assert XSS[0] in attributes and XSS[1] in attributes  # shown as text
        await shoot(page, "customers-xss-attribute")
        for payload in XSS:
            await page.goto(f"{served_console}/console/customers")
            await page.fill("#q", payload)
            await page.click("form[role=search] button[type=submit]")
            await page.wait_for_load_state("load")
            assert await page.input_value("#q") == payload
        await shoot(page, "customers-xss-search")
        assert dialogs == [] and browser.errors == []
        assert await page.locator("img[src=x]").count() == 0
