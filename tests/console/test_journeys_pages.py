"""Console journey pages over httpx: list, journey page, pause and resume, publish, simulate."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.journeys import JourneyPaused
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.loader import load_journey_file, load_journey_text
from tests.api.conftest import Stack, eventually, new_id
from tests.console.conftest import ConsoleClient, ConsoleFactory

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
BUILT_IN = sorted(load_journey_file(path).id for path in JOURNEYS.glob("*.yaml"))


def small_journey(journey_id: str, goal: str) -> str:
    """A journey whose runs end at once: a holdout, a two-arm split, the end."""
    return (
        f"id: {journey_id}\nname: Console promo {journey_id}\n"
        f"trigger: {{event: {journey_id}_started}}\n"
        f"exit_when: [{{event: {goal}}}]\n"
        "steps:\n"
        "  - {id: control, holdout: {percent: 30}}\n"
        "  - id: offer\n"
        "    split: [{name: discount, goto: done}, {name: shipping, goto: done}]\n"
        "  - {id: done, end: done}\n"
    )


def publish_own(stack: Stack, prefix: str = "cj") -> str:
    journey_id = new_id(prefix).replace("-", "_")
    stack.service.publish_definition(
        load_journey_text(small_journey(journey_id, f"{journey_id}_goal"))
    )
    return journey_id


def own_customer(stack: Stack) -> str:
    customer_id = new_id("cjc")
    stack.service.upsert_customer(
        CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
    )
    return customer_id


def status_of(stack: Stack, journey_id: str) -> str:
    summary = stack.store.journeys.get(journey_id)
    assert summary is not None
    return summary.status


# --- the list and the journey page ---------------------------------------------------------


async def test_the_list_shows_status_newest_version_and_runs_and_filters_by_status(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    paused = publish_own(console_stack)
    console_stack.service.set_status(paused, "paused")
    ops = await console("ops")
    page = await ops.get("/console/journeys")
    assert page.status_code == 200
    for journey_id in BUILT_IN:
        assert f'href="/console/journeys/{journey_id}"' in page.text
    assert "Runs in flight" in page.text and "Newest version" in page.text
    live = await ops.get("/console/journeys?status=active")
    assert "/console/journeys/win_back" in live.text and paused not in live.text
    only_paused = await ops.get("/console/journeys?status=paused")
    assert paused in only_paused.text and "/console/journeys/win_back" not in only_paused.text
    assert "Paused" in only_paused.text


async def test_a_tampered_list_cursor_is_a_400_page(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ"):  # garbage; {"x":1}
        page = await viewer.get(f"/console/journeys?after={cursor}")
        assert page.status_code == 400, cursor
        assert "not valid" in page.text


@pytest.mark.parametrize("journey_id", BUILT_IN)
async def test_every_built_in_journey_page_renders(
    console: ConsoleFactory, journey_id: str
) -> None:
    ops = await console("ops")
    page = await ops.get(f"/console/journeys/{journey_id}")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text and "Funnel of version" in page.text
    assert "YAML of version" in page.text and f"id: {journey_id}" in page.text
    zh = await console("viewer", locale="zh-CN")
    page = await zh.get(f"/console/journeys/{journey_id}")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text


async def test_the_journey_page_shows_goals_trigger_audience_and_versions(
    console: ConsoleFactory,
) -> None:
    ops = await console("ops")
    page = await ops.get("/console/journeys/win_back")
    text = page.text
    assert "customer_lapsed" in text and "at_risk_buyers" in text and "won_back" in text
    assert "after a cooldown of 90d" in text
    assert 'href="/console/journeys/win_back/pause"' in text
    assert re.search(r"<option value=\"1\" selected>v1", text)


async def test_unknown_journey_or_version_is_a_404_page(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    missing = await viewer.get("/console/journeys/no_such_journey")
    assert missing.status_code == 404 and "no such journey" in missing.text
    version = await viewer.get("/console/journeys/win_back?version=99")
    assert version.status_code == 404 and "no version 99" in version.text
    bad = await viewer.get("/console/journeys/win_back?version=zero")
    assert bad.status_code == 400


async def test_the_funnel_and_experiment_show_the_report_numbers(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = publish_own(console_stack)
    service = console_stack.service
    customers = [own_customer(console_stack) for _ in range(12)]
    for customer_id in customers:
        await service.enroll(journey_id, customer_id)

    async def ended() -> bool:
        runs = service.store.reports.run_counts(journey_id, [f"{journey_id}_goal"])
        return bool(runs) and runs[0].entered == 12 and runs[0].running == 0

    await eventually(ended, timeout=30, what="the runs to end")
    now = datetime.now(UTC)
    await service.ingest(
        [
            CustomerEvent(
                event_id=new_id("evt"),
                customer_id=customer_id,
                type=f"{journey_id}_goal",
                occurred_at=now,
            )
            for customer_id in customers[:5]
        ]
    )
    ops = await console("ops")
    page = await ops.get(f"/console/journeys/{journey_id}")
    assert page.status_code == 200
    text = page.text
    runs_table = text.split('<table class="runs">')[1].split("</table>")[0]
    assert '<td class="num">12</td>' in runs_table  # entered
    assert "5 (41.7%)" in runs_table  # converted
    arms = service.store.reports.arms(journey_id, [f"{journey_id}_goal"])
    assert arms
    experiment = text.split('id="experiment"')[1].split("</table>")[0]
    for arm in arms:
        assert f"<td>{arm.arm}</td>" in experiment
    assert "baseline" in experiment and "p-value" in experiment
    assert text.count("<svg") >= 3  # diagram, funnel chart, experiment chart


# --- pause and resume ----------------------------------------------------------------------


async def test_pause_asks_first_then_pauses_audited_and_entry_is_refused(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = publish_own(console_stack)
    ops = await console("ops")
    confirm = await ops.get(f"/console/journeys/{journey_id}/pause")
    assert confirm.status_code == 200 and "Yes, pause it" in confirm.text
    unconfirmed = await ops.post(f"/console/journeys/{journey_id}/pause", {})
    assert unconfirmed.status_code == 200 and "Yes, pause it" in unconfirmed.text
    assert status_of(console_stack, journey_id) == "active"
    done = await ops.post(f"/console/journeys/{journey_id}/pause", {"confirmed": "yes"})
    assert done.status_code == 200 and done.url.path == f"/console/journeys/{journey_id}"
    assert "is paused" in done.text and f'href="/console/journeys/{journey_id}/resume"' in done.text
    assert status_of(console_stack, journey_id) == "paused"
    entries = console_stack.store.audit.page(action="journey.pause").entries
    assert any(e.target == journey_id and e.role == "ops" for e in entries)
    with pytest.raises(JourneyPaused):
        await console_stack.service.enroll(journey_id, own_customer(console_stack))
    resumed = await ops.post(f"/console/journeys/{journey_id}/resume", {"confirmed": "yes"})
    assert "live again" in resumed.text
    assert status_of(console_stack, journey_id) == "active"
    entries = console_stack.store.audit.page(action="journey.resume").entries
    assert any(e.target == journey_id for e in entries)


@pytest.mark.parametrize("role", ["support", "viewer"])
async def test_support_and_viewer_see_no_buttons_and_a_forged_pause_is_refused(
    console: ConsoleFactory, console_stack: Stack, role: str
) -> None:
    journey_id = publish_own(console_stack)
    user = await console(role)
    page = await user.get(f"/console/journeys/{journey_id}")
    assert page.status_code == 200
    assert "/pause" not in page.text and "/resume" not in page.text
    listing = await user.get("/console/journeys")
    assert "/console/journeys/publish" not in listing.text
    forged = await user.post(f"/console/journeys/{journey_id}/pause", {"confirmed": "yes"})
    assert forged.status_code == 403 and "journeys" not in forged.url.path.split("/")[-1]
    assert "needs admin / ops" in forged.text
    no_token = await user.post(
        f"/console/journeys/{journey_id}/pause", {"confirmed": "yes"}, csrf=False
    )
    assert no_token.status_code == 403
    assert (await user.get(f"/console/journeys/{journey_id}/pause")).status_code == 403
    assert (await user.get("/console/journeys/publish")).status_code == 403
    assert status_of(console_stack, journey_id) == "active"


async def test_a_pause_without_its_form_token_changes_nothing(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = publish_own(console_stack)
    ops = await console("ops")
    await ops.get(f"/console/journeys/{journey_id}")
    forged = await ops.post(
        f"/console/journeys/{journey_id}/pause", {"confirmed": "yes"}, csrf=False
    )
    assert forged.status_code == 403 and "security token" in forged.text
    assert status_of(console_stack, journey_id) == "active"


# --- publishing ----------------------------------------------------------------------------


async def upload(ops: ConsoleClient, name: str, content: bytes, **fields: str) -> httpx.Response:
    """Post the publish form with a file, as the page's form does (multipart, CSRF field)."""
    await ops.get("/console/journeys/publish")
    return await ops.http.post(
        "/console/journeys/publish",
        data={"csrf_token": ops.csrf, "action": "publish", **fields},
        files={"file": (name, content, "application/yaml")},
    )


async def test_publish_shows_each_problem_beside_its_line_and_publishes_nothing(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("cjbad").replace("-", "_")
    text = (
        f"id: {journey_id}\n"
        "name: Broken\n"
        "trigger: {event: signed_up}\n"
        "steps:\n"
        "  - id: hello\n"
        "    send: {channel: pigeon, template: hi}\n"
        "  - id: pause\n"
        "    wait: {for: 3 fortnights}\n"
    )
    ops = await console("ops")
    response = await upload(ops, "broken.yaml", text.encode())
    assert response.status_code == 400
    page = response.text
    assert "nothing was published" in page
    rows = dict(re.findall(r'<tr id="line-(\d+)" class="has-problem">(.*?)</tr>', page, re.S))
    assert set(rows) == {"6", "8"}, rows
    assert "pigeon" in rows["6"] and "step hello" in rows["6"]
    assert "step pause" in rows["8"] and "not a duration" in rows["8"]
    assert console_stack.store.journeys.get(journey_id) is None
    # what the checks after the schema find (a template no one defined) has its line too
    checked = text.replace("channel: pigeon", "channel: email").replace("3 fortnights", "3d")
    response = await upload(ops, "broken.yaml", checked.encode())
    rows = dict(
        re.findall(r'<tr id="line-(\d+)" class="has-problem">(.*?)</tr>', response.text, re.S)
    )
    assert set(rows) == {"6"} and "hi" in rows["6"], rows
    assert console_stack.store.journeys.get(journey_id) is None


async def test_invalid_yaml_is_shown_at_its_line(console: ConsoleFactory) -> None:
    ops = await console("ops")
    response = await upload(ops, "bad.yaml", b"id: x\nname: [unclosed\ntrigger: {}\n")
    assert response.status_code == 400
    page = response.text
    assert "invalid YAML" in page
    assert re.search(r'<tr id="line-\d" class="has-problem">', page)


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        (b"\xff\xfe\x00binary", 400, "not UTF-8"),
        (b"just some words, not a journey\n", 400, "must be a mapping"),
        (b"id: big\n" + b"# padding\n" * 30_000, 413, "larger than 256 KiB"),
        (b"id: huge\n" + b"# padding\n" * 120_000, 413, "the most one request may carry"),
    ],
)
async def test_a_file_that_is_not_a_journey_is_refused_clearly(
    console: ConsoleFactory, console_stack: Stack, content: bytes, status: int, says: str
) -> None:
    before = len(console_stack.store.journeys.list())
    ops = await console("ops")
    response = await upload(ops, "upload.yaml", content)
    assert response.status_code == status
    assert says in response.text
    assert len(console_stack.store.journeys.list()) == before


async def test_publish_without_a_file_or_token_is_refused(console: ConsoleFactory) -> None:
    ops = await console("ops")
    await ops.get("/console/journeys/publish")
    empty = await ops.http.post(
        "/console/journeys/publish", data={"csrf_token": ops.csrf, "action": "publish"}
    )
    assert empty.status_code == 400 and "Choose a journey file" in empty.text
    forged = await ops.http.post(
        "/console/journeys/publish",
        data={"action": "publish"},
        files={"file": ("j.yaml", b"id: x\n", "application/yaml")},
    )
    assert forged.status_code == 403


async def test_a_good_file_is_published_and_the_journey_page_says_so(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("cjnew").replace("-", "_")
    text = small_journey(journey_id, "order_completed").encode()
    ops = await console("ops")
    response = await upload(ops, f"{journey_id}.yaml", text)
    assert response.status_code == 200
    assert response.url.path == f"/console/journeys/{journey_id}"
    assert f"Published {journey_id} version 1." in response.text
    # its trigger event is one no one sends: a warning, published all the same
    assert "Warnings:" in response.text
    entries = console_stack.store.audit.page(action="journey.publish").entries
    assert any(e.target == journey_id and e.role == "ops" for e in entries)
    again = await upload(ops, f"{journey_id}.yaml", text)
    assert "Nothing changed" in again.text
    assert console_stack.store.journeys.get_version(journey_id, 2) is None
    changed = text.replace(b"percent: 30", b"percent: 20")
    second = await upload(ops, f"{journey_id}.yaml", changed)
    assert f"Published {journey_id} version 2." in second.text
    assert "Changes from version 1 to 2" in second.text
    changes = second.text.split('id="changes"')[1].split("</table>")[0]
    assert "<code>control</code>" in changes and "changed" in changes
    first = await ops.get(f"/console/journeys/{journey_id}?version=1")
    assert "Changes from version" not in first.text and "percent: 30" in first.text


async def test_a_draft_is_simulated_with_its_expected_funnel_and_nothing_is_published(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("cjsim").replace("-", "_")
    ops = await console("ops")
    response = await upload(
        ops,
        "draft.yaml",
        small_journey(journey_id, "order_completed").encode(),
        action="simulate",
        customers="20",
        days="3",
    )
    assert response.status_code == 200, response.text
    page = response.text
    assert "Expected funnel" in page and "20 synthetic customers over 3 days" in page
    assert re.search(r'<code>control</code></td><td>Holdout</td>\s*<td class="num">20</td>', page)
    assert console_stack.store.journeys.get(journey_id) is None
    too_many = await upload(
        ops,
        "draft.yaml",
        small_journey(journey_id, "x").encode(),
        action="simulate",
        customers="501",
        days="3",
    )
    assert too_many.status_code == 400
    assert "1 to 500 customers" in too_many.text


async def test_what_a_file_says_is_shown_as_text_never_as_markup(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    payload = "<img src=x onerror=alert(1)>"
    journey_id = new_id("cjxss").replace("-", "_")
    text = small_journey(journey_id, "order_completed").replace(
        f"name: Console promo {journey_id}", f'name: "{payload}"\ndescription: "<script>x</script>"'
    )
    ops = await console("ops")
    published = await upload(ops, "xss.yaml", text.encode())
    assert published.url.path == f"/console/journeys/{journey_id}"
    assert payload not in published.text and "<script>x" not in published.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in published.text
    broken = text.replace("holdout: {percent: 30}", f'holdout: {{percent: "{payload}"}}')
    problems = await upload(ops, "xss.yaml", broken.encode())
    assert problems.status_code == 400
    assert payload not in problems.text and "&lt;img src=x" in problems.text


async def test_the_list_pages_by_journey_id_with_a_keyset_cursor(
    console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from entrypoints.console import journeys as page_module

    monkeypatch.setattr(page_module, "PAGE_SIZE", 4)
    viewer = await console("viewer")
    seen: list[str] = []
    path: str | None = "/console/journeys?status=active"
    while path:
        page = await viewer.get(path)
        assert page.status_code == 200
        ids = re.findall(r'<code class="muted">([^<]+)</code>', page.text)
        assert 0 < len(ids) <= 4
        seen += ids
        found = re.search(r'href="([^"]+)" rel="next"', page.text)
        path = found.group(1).replace("&amp;", "&") if found else None
        if path:
            assert "status=active" in path
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(BUILT_IN) <= set(seen)
