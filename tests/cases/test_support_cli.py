"""`journeys cases note/respond/reopen`, `journeys callbacks list/claim/complete` and
`journeys report surveys` against the API tests' real dev server and store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from domain.callbacks import CreateCallback
from domain.customers import CustomerUpsert
from domain.surveys import CreateSurvey
from tests.api.conftest import SURVEY_LINKS, Stack, api, stack
from tests.cases.conftest import Journeys
from tests.support.follow_up import FORM, event_types

__all__ = ["api", "stack"]


def new_customer(stack: Stack) -> str:
    customer = f"cli-{uuid.uuid4().hex[:8]}"
    stack.store.customers.upsert(
        CustomerUpsert(customer_id=customer, email=f"{customer}@example.com"), datetime.now(UTC)
    )
    return customer


async def test_notes_responses_and_reopening_from_the_cli(stack: Stack, cli: Journeys) -> None:
    customer = new_customer(stack)
    code, out = await cli("cases", "open", customer, "--category", "billing", "--summary", "2x")
    assert code == 0, out
    case_id = out.split()[0]
    code, out = await cli("cases", "note", case_id, "Called, no answer", "--agent", "mo")
    assert code == 0 and "Called, no answer" in out and "(answered)" not in out
    code, out = await cli("cases", "respond", case_id, "Refund on its way", "--agent", "mo")
    assert code == 0 and "(answered)" in out and "assignee mo" in out
    code, out = await cli("cases", "reopen", case_id, "--agent", "mo", "--reason", "too early")
    assert code == 1 and "only a resolved case reopens" in out
    await cli("cases", "resolve", case_id, "--agent", "mo", "--resolution", "Refunded")
    code, out = await cli("cases", "reopen", case_id, "--agent", "mo", "--reason", "Charged again")
    assert code == 0 and f"{case_id} open" in out and "Charged again" in out
    code, out = await cli("cases", "respond", case_id, "", "--agent", "mo")
    assert code == 1 and "respond:" in out
    code, out = await cli("cases", "note", "cs-nope", "x", "--agent", "mo")
    assert code == 1 and "cs-nope" in out
    types = [e.type for e in stack.store.events.for_customer(customer)]
    assert types.count("case_reopened") == 1


def rows(out: str, containing: str) -> list[list[str]]:
    """The cells of the table rows of `out` that mention `containing`."""
    lines = [line for line in out.splitlines() if containing in line]
    return [[cell.strip() for cell in line.strip("│ ").split("│")] for line in lines]


def book(stack: Stack, queue: str, task_id: str, customer: str, due_in: timedelta) -> None:
    now = datetime.now(UTC)
    stack.store.callbacks.create(
        CreateCallback(
            task_id=task_id,
            queue=queue,
            reason=f"call {task_id}",
            customer_id=customer,
            journey_id="win_back",
            workflow_id=f"wf-{task_id}",
            step_id="call",
            due_at=now + due_in,
            created_at=now,
        )
    )


async def test_the_callback_queue_from_the_cli(stack: Stack, cli: Journeys) -> None:
    customer = new_customer(stack)
    queue = f"q{uuid.uuid4().hex[:8]}"
    book(stack, queue, f"{queue}-later", customer, timedelta(hours=3))
    book(stack, queue, f"{queue}-late", customer, timedelta(hours=-2))
    book(stack, queue, f"{queue}-soon", customer, timedelta(hours=1))
    code, out = await cli("callbacks", "list", "--queue", queue)
    assert code == 0, out
    listed = rows(out, queue)
    assert [row[0] for row in listed] == [f"{queue}-late", f"{queue}-soon", f"{queue}-later"]
    assert ["OVERDUE" in row[1] for row in listed] == [True, False, False]
    task = f"{queue}-soon"
    code, out = await cli("callbacks", "claim", task, "--agent", "mo")
    assert code == 0 and f"{task} claimed by mo: call {customer}" in out
    code, out = await cli("callbacks", "claim", task, "--agent", "lin")
    assert code == 1 and f"callback {task} is claimed by mo" in out
    code, out = await cli("callbacks", "complete", task, "--agent", "lin", "--outcome", "reached")
    assert code == 1 and "claimed by mo, not lin" in out
    code, out = await cli("callbacks", "complete", task, "--agent", "mo", "--outcome", "maybe")
    assert code == 1
    assert event_types(stack, customer, "callback_completed") == []
    code, out = await cli(
        "callbacks", "complete", task, "--agent", "mo", "--outcome", "reached", "--notes", "ok"
    )
    assert code == 0 and f"{task} done: reached" in out
    [done] = event_types(stack, customer, "callback_completed")
    assert done["task_id"] == task and done["agent"] == "mo"
    code, out = await cli("callbacks", "list", "--queue", queue, "--agent", "mo")
    assert task not in out  # done tasks leave the queue
    code, out = await cli("callbacks", "claim", "cb-nope", "--agent", "mo")
    assert code == 1 and "cb-nope" in out


async def answered_surveys(
    api: httpx.AsyncClient, stack: Stack, journey_id: str, kind: str, scores: list[int]
) -> None:
    """Surveys of one journey, answered through their signed links like a customer's."""
    customer = new_customer(stack)
    now = datetime.now(UTC)
    for n, score in enumerate(scores):
        survey_id = f"{journey_id}-{n}"
        expires = now + timedelta(days=7)
        stack.store.surveys.create(
            CreateSurvey(
                survey_id=survey_id,
                kind=kind,
                customer_id=customer,
                journey_id=journey_id,
                workflow_id=f"wf-{survey_id}",
                step_id="ask",
                expires_at=expires,
                created_at=now,
            )
        )
        path = SURVEY_LINKS.url(survey_id, customer, expires).removeprefix("http://api")
        answered = await api.post(path, content=f"score={score}", headers=FORM)
        assert answered.status_code == 200, answered.text


async def test_the_survey_report_shows_nps_and_csat_per_journey(
    api: httpx.AsyncClient, stack: Stack, cli: Journeys
) -> None:
    tag = uuid.uuid4().hex[:6]
    nps, csat = f"nps_{tag}", f"csat_{tag}"
    # 2 promoters, 1 passive, 1 detractor: NPS +25; CSAT 5, 4, 1: mean 3.33, 66.7% satisfied.
    await answered_surveys(api, stack, nps, "nps", [10, 9, 7, 3])
    await answered_surveys(api, stack, csat, "csat", [5, 4, 1])
    code, out = await cli("report", "surveys", "--by", "all")
    assert code == 0, out
    assert rows(out, nps) == [[nps, "NPS", "all", "4", "4", "+25.0", "-", "-"]]
    assert rows(out, csat) == [[csat, "CSAT", "all", "3", "3", "-", "3.33", "66.7%"]]
    code, out = await cli("report", "surveys", "--by", "year")
    assert code == 1 and "--by is week, month or all" in out
