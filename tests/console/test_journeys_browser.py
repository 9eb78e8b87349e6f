"""Journey pages in Chromium: ops pauses win_back from its diagram page and a new trigger is
refused; a support key has no pause button and its forged pause form is refused (403)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.journeys import JourneyPaused
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.loader import load_journey_text
from tests.api.conftest import Stack, eventually, new_id
from tests.browser import offline_page
from tests.console.conftest import browser_sign_in, new_key, screenshot_path

BROKEN = (
    "id: console_broken\n"
    "name: Broken draft\n"
    "trigger: {event: signed_up}\n"
    "steps:\n"
    "  - id: hello\n"
    "    send: {channel: pigeon, template: hi}\n"
    "  - id: later\n"
    "    wait: {for: 3 fortnights}\n"
    "  - {id: done, end: done}\n"
)


def own_customer(stack: Stack) -> str:
    customer_id = new_id("cjb")
    stack.service.upsert_customer(
        CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
    )
    return customer_id


async def experiment_with_runs(stack: Stack) -> str:
    """A holdout-and-split journey of our own that 30 runs have passed, 12 of them converted."""
    journey_id = new_id("cjx").replace("-", "_")
    stack.service.publish_definition(
        load_journey_text(
            f"id: {journey_id}\nname: Spring promo\ntrigger: {{event: {journey_id}_go}}\n"
            f"exit_when: [{{event: {journey_id}_won, name: ordered}}]\n"
            "steps:\n  - {id: control, holdout: {percent: 30}}\n"
            "  - id: offer\n"
            "    split: [{name: discount, goto: done}, {name: free_shipping, goto: done}]\n"
            "  - {id: done, end: done}\n"
        )
    )
    customers = [own_customer(stack) for _ in range(30)]
    for customer_id in customers:
        await stack.service.enroll(journey_id, customer_id)

    async def ended() -> bool:
        runs = stack.store.reports.run_counts(journey_id, [])
        return bool(runs) and runs[0].running == 0 and runs[0].entered == 30

    await eventually(ended, timeout=30, what="the runs to end")
    await stack.service.ingest(
        [
            CustomerEvent(
                event_id=new_id("evt"),
                customer_id=customer_id,
                type=f"{journey_id}_won",
                occurred_at=stack.service.clock(),
            )
            for customer_id in customers[::5] + customers[1::4]
        ]
    )
    return journey_id


@pytest.fixture
def win_back_live_after(console_stack: Stack) -> Iterator[None]:
    """Whatever the test does to win_back, it is live again afterwards."""
    yield
    console_stack.service.set_status("win_back", "active")


async def test_ops_pauses_win_back_from_its_diagram_and_a_new_trigger_is_refused(
    console_stack: Stack, served_console: str, win_back_live_after: None
) -> None:
    service = console_stack.service

    def first_step() -> int:
        counts = service.store.reports.step_counts("win_back")
        return next((c.entered for c in counts if c.step_id == "wait_first_offer"), 0)

    before = first_step()
    for _ in range(2):  # runs of our own, so the diagram has counts to show
        await service.enroll("win_back", own_customer(console_stack))

    async def recorded() -> int:
        return first_step() if first_step() >= before + 2 else 0

    first = await eventually(recorded, timeout=30, what="the runs to enter the first step")
    key = new_key(console_stack, "ops")
    async with offline_page() as browser:
        page = browser.page
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/journeys")
        await page.screenshot(path=screenshot_path("journeys-list"), full_page=True)
        await page.click('a[href="/console/journeys/win_back"]')
        await page.wait_for_url("**/console/journeys/win_back")
        node = page.locator('svg g.node[data-step="wait_first_offer"] text.count')
        assert await node.text_content() == f"{first:,} runs"
        assert await page.locator("svg g.node text.count").count() == 13  # one per step
        await page.screenshot(path=screenshot_path("journeys-journey"), full_page=True)

        await page.click("#pause")
        await page.wait_for_url("**/console/journeys/win_back/pause")
        await page.screenshot(path=screenshot_path("journeys-confirm-pause"))
        assert console_stack.store.journeys.get("win_back").status == "active"  # type: ignore[union-attr]
        await page.click("#confirm-pause")
        await page.wait_for_url("**/console/journeys/win_back?notice=*")
        assert "is paused" in (await page.locator("p.notice").text_content() or "")
        assert await page.locator("#journey-status").text_content() == "Paused"
        assert console_stack.store.journeys.get("win_back").status == "paused"  # type: ignore[union-attr]

        # A new trigger is refused: enrolling by hand (the API's 409) and the trigger event.
        with pytest.raises(JourneyPaused):
            await service.enroll("win_back", own_customer(console_stack))
        lapsed = own_customer(console_stack)
        [result] = await service.ingest(
            [
                CustomerEvent(
                    event_id=new_id("evt"),
                    customer_id=lapsed,
                    type="customer_lapsed",
                    occurred_at=service.clock(),
                )
            ]
        )
        assert all(d.journey_id != "win_back" for d in result.deliveries), result
        assert service.store.runs.for_customer(lapsed) == []

        await page.click("#resume")
        await page.click("#confirm-resume")
        await page.wait_for_url("**/console/journeys/win_back?notice=*")
        assert await page.locator("#journey-status").text_content() == "Live"
        assert console_stack.store.journeys.get("win_back").status == "active"  # type: ignore[union-attr]

        # A journey of our own with a holdout and a split that runs have passed: the
        # experiment table (arms, conversions, lift, p-value) and its chart.
        journey_id = await experiment_with_runs(console_stack)
        await page.goto(f"{served_console}/console/journeys/{journey_id}#experiment")
        arms = page.locator("h2#experiment + .table-wrap tbody tr")
        assert await arms.count() >= 3  # holdout arms and the two split variants
        assert "free_shipping" in (await arms.all_text_contents())[-1]
        await page.screenshot(path=screenshot_path("journeys-experiment"), full_page=True)

        # The same page in Chinese, and at tablet width.
        await page.goto(
            f"{served_console}/console/language?lang=zh-CN&next=/console/journeys/win_back"
        )
        await page.wait_for_url("**/console/journeys/win_back")
        assert await page.locator("#journey-status").text_content() == "已上线"
        await page.screenshot(path=screenshot_path("journeys-journey-zh"), full_page=True)
        await page.set_viewport_size({"width": 820, "height": 1000})
        await page.screenshot(path=screenshot_path("journeys-journey-zh-820"), full_page=True)
        await page.goto(f"{served_console}/console/journeys")
        await page.screenshot(path=screenshot_path("journeys-list-zh-820"), full_page=True)

        # The publish page with a file that has problems: each beside its line.
        await page.goto(f"{served_console}/console/language?lang=en&next=/console/journeys/publish")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.set_input_files(
            "#file",
            files=[
                {"name": "broken.yaml", "mimeType": "application/yaml", "buffer": BROKEN.encode()}
            ],
        )
        await page.click("#publish")
        await page.wait_for_selector("table.source")
        assert await page.locator("tr.has-problem").count() == 2
        assert "pigeon" in (await page.locator("#line-6").text_content() or "")
        await page.screenshot(path=screenshot_path("journeys-publish-problems"), full_page=True)
        assert console_stack.store.journeys.get("console_broken") is None

        # The same draft, fixed, simulated instead of published: its expected funnel.
        fixed = BROKEN.replace("pigeon", "email").replace("3 fortnights", "3d")
        fixed = fixed.replace("steps:", "templates:\n  hi: {subject: Hi, text: Hello}\nsteps:")
        await page.set_input_files(
            "#file",
            files=[
                {"name": "draft.yaml", "mimeType": "application/yaml", "buffer": fixed.encode()}
            ],
        )
        await page.fill("#customers", "40")
        await page.fill("#days", "5")
        await page.click("#simulate")
        await page.wait_for_selector("#simulation", timeout=60_000)
        assert "40 synthetic customers over 5 days" in (await page.content())
        assert await page.locator("#simulation ~ figure.diagram svg g.node").count() == 3
        await page.screenshot(path=screenshot_path("journeys-simulation"), full_page=True)
        assert console_stack.store.journeys.get("console_broken") is None
        assert browser.errors == [] and browser.refused == []


async def test_support_gets_no_pause_button_and_a_forged_pause_form_is_refused(
    console_stack: Stack, served_console: str, win_back_live_after: None
) -> None:
    key = new_key(console_stack, "support")
    before = len(console_stack.store.audit.page(action="journey.pause", limit=1000).entries)
    async with offline_page() as browser:
        page = browser.page
        await browser_sign_in(page, served_console, key)
        await page.goto(f"{served_console}/console/journeys/win_back")
        assert await page.locator("#pause").count() == 0
        assert await page.locator('a[href$="/pause"], form[action$="/pause"]').count() == 0
        await page.screenshot(path=screenshot_path("journeys-journey-support"), full_page=True)
        # A pause form the page never offered, posted with this session and its own token.
        async with page.expect_response("**/console/journeys/win_back/pause") as answer:
            await page.evaluate(
                """() => {
                  const form = document.createElement("form");
                  form.method = "post";
                  form.action = "/console/journeys/win_back/pause";
                  for (const [name, value] of [
                    ["csrf_token", document.querySelector('meta[name="csrf-token"]').content],
                    ["confirmed", "yes"],
                  ]) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.append(input);
                  }
                  document.body.append(form);
                  form.submit();
                }"""
            )
        response = await answer.value
        assert response.status == 403
        await page.wait_for_selector("p.problem")
        assert "needs admin / ops" in (await page.locator("p.problem").text_content() or "")
        await page.screenshot(path=screenshot_path("journeys-forged-pause-403"))
    assert console_stack.store.journeys.get("win_back").status == "active"  # type: ignore[union-attr]
    after = len(console_stack.store.audit.page(action="journey.pause", limit=1000).entries)
    assert after == before
