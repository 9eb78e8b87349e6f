"""The console with start steps: an upload naming a journey that does not exist shows the
problem beside the step's line and publishes nothing; a published journey with a start step
shows it in its diagram, in both languages."""

from __future__ import annotations

import re

from tests.api.conftest import Stack, new_id
from tests.console.conftest import ConsoleFactory
from tests.console.test_journeys_pages import upload


def starter(journey_id: str, target: str) -> str:
    return (
        f"id: {journey_id}\n"
        "name: Hands over\n"
        "trigger: {event: signed_up_for_start_tests}\n"
        "steps:\n"
        "  - id: pause\n"
        "    wait: {for: 1d}\n"
        "  - id: hand_over\n"
        f"    start: {{journey: {target}}}\n"
    )


async def test_an_upload_starting_an_unknown_journey_shows_it_beside_the_step(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("cjstart").replace("-", "_")
    ops = await console("ops")
    response = await upload(ops, "starter.yaml", starter(journey_id, "no_such_journey").encode())
    assert response.status_code == 400
    rows = dict(
        re.findall(r'<tr id="line-(\d+)" class="has-problem">(.*?)</tr>', response.text, re.S)
    )
    assert "nothing was published" in response.text
    assert list(rows) == ["8"], rows
    assert "starts unknown journey" in rows["8"] and "no_such_journey" in rows["8"]
    assert console_stack.store.journeys.get(journey_id) is None


async def test_a_start_step_is_in_the_journey_diagram_in_both_languages(
    console: ConsoleFactory,
) -> None:
    journey_id = new_id("cjstart").replace("-", "_")
    ops = await console("ops")
    response = await upload(ops, "starter.yaml", starter(journey_id, "nurture").encode())
    assert response.status_code in (200, 303), response.text
    page = await ops.get(f"/console/journeys/{journey_id}")
    assert "Start journey" in page.text and "starts nurture" in page.text
    zh = await console("viewer", locale="zh-CN")
    page = await zh.get(f"/console/journeys/{journey_id}")
    assert "启动旅程" in page.text and "启动 nurture" in page.text
