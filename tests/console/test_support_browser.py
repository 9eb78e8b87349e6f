"""Cases, callbacks and messages in a real browser: an agent claims and completes a callback
and the run waiting on it moves on; hostile text in a case note (and in a customer's name in a
message preview) stays text and no dialog fires. Screenshots of each page, en and zh-CN, at
1280 and 820 px."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Stack, eventually
from tests.browser import offline_page
from tests.console.conftest import browser_sign_in, new_key, screenshot_path
from tests.console.test_callbacks_pages import run_of, waiting_callback
from tests.console.test_cases_pages import XSS, open_case
from tests.console.test_messages_pages import sent_twice


async def shoot(page: Any, name: str) -> None:
    await page.screenshot(path=str(screenshot_path(name)), full_page=True)


async def to_chinese(page: Any) -> None:
    await page.click("a[lang=zh-CN]")
    await page.wait_for_selector("html[lang=zh-CN]")
    await page.wait_for_load_state("load")


async def test_an_agent_claims_and_completes_a_callback_and_the_run_moves_on(
    console_stack: Stack, served_console: str
) -> None:
    waiting = await waiting_callback(console_stack)
    task_id = waiting.task.task_id
    key = new_key(console_stack, "support")
    async with offline_page() as browser:
        page = browser.page
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/callbacks?queue={waiting.queue}")
        row = page.locator("tr", has_text=task_id)
        assert "Delivery complaint" in await row.inner_text()
        await shoot(page, "callbacks-queue")
        await row.locator("button[type=submit]").click()
        await page.wait_for_selector(".notice")
        assert "You hold this callback now" in await page.inner_text(".notice")
        assert "America/New_York" in await page.inner_text("#call-back-zone")
        await shoot(page, "callbacks-task-claimed")
        await page.check("#outcome-reached")
        await page.fill("#notes", "Spoke to the customer; parcel re-sent.")
        await page.click("form[action$='/complete'] button[type=submit]")
        await page.wait_for_selector(".notice")
        assert "Callback completed" in await page.inner_text(".notice")
        await shoot(page, "callbacks-task-done")
        await page.click("text=The run waiting on this callback")
        await page.wait_for_url("**/console/runs/**")

        async def ended() -> bool:
            return run_of(console_stack, waiting).status != "running"

        await eventually(ended, what="the run past its callback")
        run = run_of(console_stack, waiting)
        assert run.end_reason == "called"
        steps = [s.step_id for s in console_stack.store.runs.steps(run.entry_id)]
        assert steps.index("reached") > steps.index("call")
        await page.goto(f"{served_console}/console/runs/{run.workflow_id}")
        assert "reached" in await page.inner_text("main")
        await shoot(page, "callbacks-run-after")

        await page.goto(f"{served_console}/console/callbacks?state=done&queue={waiting.queue}")
        await to_chinese(page)
        assert "已联系上客户" in await page.inner_text("main")
        await shoot(page, "callbacks-queue-zh")
        await page.set_viewport_size({"width": 820, "height": 1000})
        await page.goto(f"{served_console}/console/callbacks/{task_id}")
        await shoot(page, "callbacks-task-zh-820")
        assert browser.errors == [] and browser.refused == []


async def test_hostile_text_in_a_case_note_and_a_preview_stays_text(
    console_stack: Stack, served_console: str
) -> None:
    case = await open_case(console_stack, severity="high", summary=XSS)
    journey_id, customer = await sent_twice(console_stack)
    key = new_key(console_stack, "support")
    async with offline_page() as browser:
        page = browser.page
        dialogs: list[str] = []

        async def dismiss(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/cases")
        await shoot(page, "cases-queue")
        await page.goto(f"{served_console}/console/cases/{case.case_id}")
        await page.fill("#note-text", XSS)
        await page.click("form[action$='/note'] button[type=submit]")
        await page.wait_for_selector(".notice")
        history = await page.inner_text("table.history")
        assert XSS in history  # shown as the text it is
        assert await page.locator("main img").count() == 0
        await shoot(page, "cases-case")
        # A refusal on the page: resolve, then resolve again from a stale page.
        await page.fill("#resolve-text", "Refunded")
        await page.click("form[action$='/resolve'] button[type=submit]")
        await page.wait_for_selector(".notice")
        await to_chinese(page)
        assert "处理记录" in await page.inner_text("main")
        await shoot(page, "cases-case-zh")
        await page.set_viewport_size({"width": 820, "height": 1000})
        await page.goto(f"{served_console}/console/cases?status=resolved")
        await shoot(page, "cases-queue-zh-820")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.click("a[lang=en]")
        await page.wait_for_selector("html[lang=en]")

        await page.goto(f"{served_console}/console/messages?customer={customer}")
        assert "Still there?" in await page.inner_text("main")
        await shoot(page, "messages-list")
        await page.goto(
            f"{served_console}/console/messages/preview?journey={journey_id}"
            f"&step=hello&customer={customer}"
        )
        frame = page.frame_locator("iframe.preview")
        assert "Hi" in await frame.locator("body").inner_text()
        assert "would be sent now" in await page.inner_text("main")
        await shoot(page, "messages-preview")
        await page.goto(
            f"{served_console}/console/messages/preview?journey={journey_id}"
            f"&step=texted&customer={customer}"
        )
        await to_chinese(page)
        await shoot(page, "messages-preview-sms-zh")
        await page.set_viewport_size({"width": 820, "height": 1000})
        await page.goto(f"{served_console}/console/messages?show=decisions&customer={customer}")
        await shoot(page, "messages-decisions-zh-820")
        assert dialogs == [] and browser.errors == [] and browser.refused == []
