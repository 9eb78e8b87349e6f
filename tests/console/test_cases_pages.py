"""The case queue and case page over the real stack: SLA states, filters and keyset pages, the
actions through the case workflow, and every refusal (CSRF, role, state, unknown id, cursor),
each with nothing written."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from app.cases import CaseService
from domain.cases import CaseState, OpenCase
from domain.customers import CustomerUpsert
from store.schema import audit_log
from tests.api.conftest import Stack, eventually, new_id
from tests.console.conftest import ConsoleFactory

XSS = '<script>alert("case")</script><img src=x onerror=alert(1)>'


def new_console_customer(stack: Stack, timezone: str = "Europe/Berlin") -> str:
    customer_id = new_id("cons")
    stack.store.customers.upsert(
        CustomerUpsert(
            customer_id=customer_id, email=f"{customer_id}@example.com", timezone=timezone
        ),
        datetime.now(UTC),
    )
    return customer_id


async def open_case(
    stack: Stack, *, severity: str = "normal", summary: str = "Parcel never came"
) -> CaseState:
    cases = CaseService(stack.service, roster=[])
    customer = new_console_customer(stack)
    state = await cases.open(
        OpenCase.model_validate(
            {
                "customer_id": customer,
                "category": "delivery",
                "severity": severity,
                "summary": summary,
            }
        )
    )

    async def recorded() -> bool:
        return stack.store.cases.get(state.case_id) is not None

    await eventually(recorded, what="the case in the store")
    return state


def audit_count(stack: Stack, target: str) -> int:
    """Audit rows about `target` written by a support key (the console's user here; a test
    of the CLI earlier in the session may leave its own actor on direct service calls)."""
    with stack.store.engine.connect() as conn:
        rows = conn.execute(
            audit_log.select().where(audit_log.c.target == target, audit_log.c.role == "support")
        ).all()
    return len(rows)


async def test_the_queue_lists_open_cases_by_sla_state_with_filters(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    urgent = await open_case(console_stack, severity="urgent", summary="Urgent: card charged twice")
    viewer = await console("viewer")
    page = await viewer.get("/console/cases")
    assert page.status_code == 200, page.text
    assert "Open cases by SLA state" in page.text
    assert urgent.case_id in page.text
    only_urgent = await viewer.get("/console/cases", params={"severity": "urgent"})
    assert urgent.case_id in only_urgent.text
    low = await viewer.get("/console/cases", params={"severity": "low", "sla": "breached"})
    assert urgent.case_id not in low.text
    # An hour to its first response: due within the hour from the start.
    soon = await viewer.get("/console/cases", params={"sla": "due_soon", "severity": "urgent"})
    assert urgent.case_id in soon.text and "Due within the hour" in soon.text
    fine = await viewer.get("/console/cases", params={"sla": "fine", "severity": "urgent"})
    assert urgent.case_id not in fine.text
    assert (await viewer.get("/console/cases", params={"severity": "huge"})).status_code == 400


async def test_the_queue_pages_with_keyset_cursors(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    from entrypoints.console import cases as pages

    made = [await open_case(console_stack, severity="high") for _ in range(3)]
    viewer = await console("viewer")
    original = pages.PAGE_SIZE
    pages.PAGE_SIZE = 2
    try:
        seen: list[str] = []
        path = "/console/cases?severity=high"
        for _ in range(50):
            page = await viewer.get(path)
            assert page.status_code == 200
            seen += [c.case_id for c in made if f"/console/cases/{c.case_id}" in page.text]
            if 'rel="next"' not in page.text:
                break
            path = html.unescape(page.text.split('rel="next"')[0].rsplit('href="', 1)[1][:-2])
        assert sorted(seen) == sorted(c.case_id for c in made)
    finally:
        pages.PAGE_SIZE = original


async def test_a_bad_cursor_is_a_400_page(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ", "eyJhdCI6ImJhZCIsImlkIjoiYSJ9"):
        page = await viewer.get("/console/cases", params={"cursor": cursor})
        assert page.status_code == 400, cursor
        assert "This page link is not valid" in page.text


async def test_an_unknown_case_is_a_404_page(console: ConsoleFactory) -> None:
    support = await console("support")
    page = await support.get("/console/cases/cs-nosuchcase")
    assert page.status_code == 404
    assert "There is no such case." in page.text
    posted = await support.post("/console/cases/cs-nosuchcase/note", {"text": "hello"})
    assert posted.status_code == 404


async def test_support_works_a_case_through_every_action(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    state = await open_case(console_stack)
    support = await console("support")
    path = f"/console/cases/{state.case_id}"
    page = await support.get(path)
    assert page.status_code == 200
    assert "Parcel never came" in page.text and "Resolve case" in page.text
    steps = [
        ("assign", {"agent": "mei"}, "Case assigned."),
        ("note", {"text": "Called the courier"}, "Note added."),
        ("respond", {"text": "Your parcel is on its way"}, "Response recorded."),
        ("resolve", {"resolution": "Delivered on Tuesday"}, "Case resolved."),
    ]
    for action, fields, notice in steps:
        done = await support.post(f"{path}/{action}", fields)
        assert done.status_code == 200, done.text
        assert notice in done.text
    resolved = await support.get(path)
    for text in ("Called the courier", "Your parcel is on its way", "Delivered on Tuesday", "mei"):
        assert text in resolved.text
    assert "Reopen case" in resolved.text and "Resolve case" not in resolved.text
    assert audit_count(console_stack, state.case_id) == 4  # each change, as the support key

    before = audit_count(console_stack, state.case_id)
    refused = await support.post(f"{path}/resolve", {"resolution": "again"})
    assert refused.status_code == 409
    assert "is resolved; reopen it first" in refused.text
    assert audit_count(console_stack, state.case_id) == before
    reopened = await support.post(f"{path}/reopen", {"reason": "Parcel was empty"})
    assert reopened.status_code == 200 and "Case reopened." in reopened.text
    assert console_stack.store.cases.get(state.case_id) is not None


async def test_a_form_without_its_csrf_token_changes_nothing(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    state = await open_case(console_stack)
    support = await console("support")
    path = f"/console/cases/{state.case_id}"
    await support.get(path)
    forms = {
        "assign": {"agent": "x"},
        "note": {"text": "x"},
        "respond": {"text": "x"},
        "resolve": {"resolution": "x"},
        "reopen": {"reason": "x"},
    }
    for action, fields in forms.items():
        for forged in (dict(fields), {**fields, "csrf_token": "forged"}):
            page = await support.post(f"{path}/{action}", forged, csrf=False)
            assert page.status_code == 403, action
            assert "security token" in page.text
    after = await CaseService(console_stack.service, roster=[]).state(state.case_id)
    assert [e.action for e in after.history if e.action != "acknowledged"] == ["opened"]
    assert after.assignee is None and after.status == "open"


async def test_a_viewer_may_read_a_case_but_not_change_it(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    state = await open_case(console_stack)
    viewer = await console("viewer")
    path = f"/console/cases/{state.case_id}"
    page = await viewer.get(path)
    assert page.status_code == 200
    assert "Resolve case" not in page.text
    assert "may read this case but not change it" in page.text
    refused = await viewer.post(f"{path}/resolve", {"resolution": "no"})
    assert refused.status_code == 403
    assert "needs admin / support" in refused.text
    after = await CaseService(console_stack.service, roster=[]).state(state.case_id)
    assert after.status == "open"


async def test_empty_or_too_long_input_is_a_400_and_changes_nothing(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    state = await open_case(console_stack)
    support = await console("support")
    path = f"/console/cases/{state.case_id}"
    await support.get(path)
    assert (await support.post(f"{path}/note", {"text": "  "})).status_code == 400
    assert (await support.post(f"{path}/note", {"text": "x" * 4001})).status_code == 400
    after = await CaseService(console_stack.service, roster=[]).state(state.case_id)
    assert [e.action for e in after.history if e.action != "acknowledged"] == ["opened"]


async def test_a_note_with_markup_renders_as_text(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    state = await open_case(console_stack, summary=XSS)
    support = await console("support")
    path = f"/console/cases/{state.case_id}"
    await support.get(path)
    assert (await support.post(f"{path}/note", {"text": XSS})).status_code == 200
    page = await support.get(path)
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert html.escape(XSS) in page.text or "&lt;script&gt;" in page.text
    queue = await support.get("/console/cases", params={"severity": "normal"})
    assert "<script>alert" not in queue.text


async def test_the_case_page_speaks_chinese(console_stack: Stack, console: ConsoleFactory) -> None:
    state = await open_case(console_stack)
    support = await console("support", locale="zh-CN")
    page = await support.get(f"/console/cases/{state.case_id}")
    assert page.status_code == 200
    assert "处理记录" in page.text and "解决工单" in page.text
    queue = await support.get("/console/cases")
    assert "按 SLA 状态" in queue.text
    path = f"/console/cases/{state.case_id}"
    assert (await support.post(f"{path}/resolve", {"resolution": "已退款"})).status_code == 200
    again = await support.post(f"{path}/resolve", {"resolution": "再次"})
    assert again.status_code == 409 and "此工单已解决，请先重新打开。" in again.text


async def test_an_ingest_key_reads_no_support_page(console: ConsoleFactory) -> None:
    ingest = await console("ingest")
    for path in ("/console/cases", "/console/callbacks", "/console/messages"):
        page = await ingest.get(path)
        assert page.status_code == 403, path
