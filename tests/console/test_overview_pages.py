"""The console's overview: today per journey (in the workspace timezone), messages today, open
cases by SLA state, callbacks due and overdue, NPS and CSAT this week against last; a fixed
number of SQL queries whatever the data (no timing thresholds here: scripts/bench_console.py
measures time).

These tests need no Temporal (the overview reads the store): each gets its own SQLite store
with the built-in journeys published and writes exactly the rows it counts.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import insert

from app.audit import Auditor
from app.journeys import JourneyService
from app.keys import KeyService
from app.overview import period_of, today_in
from domain.callbacks import CreateCallback
from domain.cases import SLA, CaseEntry, CaseState, sla_state
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.roles import Role
from domain.surveys import CreateSurvey
from entrypoints.api import create_app
from scripts.bench_console import QueryCounter, seed
from store.db import writing
from store.schema import enrollments, outbox, send_decisions
from store.store import Store
from tests.api.conftest import API_KEY, JOURNEYS_DIR
from tests.console.conftest import WORKSPACE_TIMEZONE, ConsoleClient


@dataclass
class Light:
    """A console over its own store, without Temporal."""

    store: Store
    service: JourneyService
    app: FastAPI
    client: Callable[..., Awaitable[ConsoleClient]]


async def _no_temporal() -> Any:
    raise AssertionError("the overview and reports never reach Temporal")


@pytest_asyncio.fixture
async def light(tmp_path: Path) -> AsyncIterator[Light]:
    store = Store.open(f"sqlite:///{tmp_path / 'journeys.db'}")
    service = JourneyService(store, _no_temporal, "overview-test")
    service.publish_directory(JOURNEYS_DIR)
    app = create_app(service, api_key=API_KEY, workspace_timezone=WORKSPACE_TIMEZONE)
    clients: list[httpx.AsyncClient] = []

    async def client(role: Role | None = "admin", *, locale: str | None = None) -> ConsoleClient:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://console.test",
            headers={"Accept-Language": locale} if locale else {},
            follow_redirects=True,
        )
        clients.append(http)
        console = ConsoleClient(http)
        if role is not None:
            key = API_KEY
            if role != "admin":
                keys = KeyService(Auditor(store, lambda: datetime.now(UTC)))
                key = keys.create(f"{role}-{uuid.uuid4().hex[:8]}", role).key
            assert (await console.sign_in(key)).status_code == 200
        return console

    try:
        yield Light(store, service, app, client)
    finally:
        for http in clients:
            await http.aclose()
        store.close()


# --- writing rows -------------------------------------------------------------------------


def customers(light: Light, n: int) -> list[str]:
    ids = [f"ov-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    for customer_id in ids:
        light.service.upsert_customer(
            CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
        )
    return ids


def run(
    light: Light,
    journey_id: str,
    customer_id: str,
    entered: datetime,
    status: str = "running",
    ended: datetime | None = None,
) -> str:
    entry_id = f"run-{uuid.uuid4().hex[:12]}"
    with writing(light.store.engine) as conn:
        conn.execute(
            insert(enrollments).values(
                entry_id=entry_id,
                workflow_id=f"journey-{journey_id}-{entry_id}",
                journey_id=journey_id,
                version=1,
                customer_id=customer_id,
                status=status,
                entered_at=entered,
                ended_at=ended,
            )
        )
    return entry_id


def order(light: Light, customer_id: str, at: datetime) -> None:
    light.store.events.import_events(
        [
            CustomerEvent(
                event_id=f"order-{uuid.uuid4().hex[:12]}",
                customer_id=customer_id,
                type="order_completed",
                occurred_at=at,
                properties={"order_id": uuid.uuid4().hex[:8], "amount": 10.0},
            )
        ],
        at,
    )


def message(light: Light, customer_id: str, channel: str, status: str, at: datetime) -> str:
    key = f"msg-{uuid.uuid4().hex[:12]}"
    with writing(light.store.engine) as conn:
        conn.execute(
            insert(outbox).values(
                idempotency_key=key,
                customer_id=customer_id,
                journey_id="win_back",
                step_id="we_miss_you",
                channel=channel,
                template="t",
                recipient="r",
                subject="s",
                body_text="b",
                status=status,
                detail="",
                requested_at=at,
            )
        )
    return key


def decision(light: Light, key: str, customer_id: str, what: str, at: datetime) -> None:
    with writing(light.store.engine) as conn:
        conn.execute(
            insert(send_decisions).values(
                decision_key=f"{key}|{what}|",
                idempotency_key=key,
                customer_id=customer_id,
                journey_id="win_back",
                step_id="we_miss_you",
                channel="email",
                category="marketing",
                decision=what,
                reason="test",
                at=at,
            )
        )


def open_case(
    light: Light, customer_id: str, opened: datetime, severity: str, **changes: Any
) -> CaseState:
    first, resolution = SLA[severity]
    state = CaseState(
        case_id=f"case-{uuid.uuid4().hex[:10]}",
        customer_id=customer_id,
        channel="email",
        category="delivery",
        severity=severity,  # type: ignore[arg-type]
        summary="late parcel",
        opened_at=opened,
        first_response_due=opened + first,
        resolution_due=opened + resolution,
        history=[CaseEntry(at=opened, action="opened")],
    ).model_copy(update=changes)
    light.store.cases.save(state)
    return state


def callback(light: Light, customer_id: str, queue: str, due: datetime) -> None:
    light.store.callbacks.create(
        CreateCallback(
            task_id=f"cb-{uuid.uuid4().hex[:10]}",
            queue=queue,
            reason="call",
            customer_id=customer_id,
            journey_id="vip_care",
            workflow_id="wf",
            step_id="call",
            due_at=due,
            created_at=datetime.now(UTC),
        )
    )


def survey(
    light: Light, customer_id: str, kind: str, journey_id: str, score: int, at: datetime
) -> None:
    survey_id = f"sv-{uuid.uuid4().hex[:10]}"
    light.store.surveys.create(
        CreateSurvey(
            survey_id=survey_id,
            kind=kind,  # type: ignore[arg-type]
            customer_id=customer_id,
            journey_id=journey_id,
            workflow_id="wf",
            step_id="survey",
            expires_at=at + timedelta(days=7),
            created_at=at - timedelta(minutes=5),
        )
    )
    light.store.surveys.answer(survey_id, score, "", at)


# --- reading the page -----------------------------------------------------------------------


def cells(page: str, marker: str) -> list[str]:
    """The text of each cell of the table row that contains `marker`."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        if marker in row:
            found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
            return [
                " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in found
            ]
    raise AssertionError(f"no row with {marker!r}")


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start : page.find("<h2", start + 1)]


# --- tests --------------------------------------------------------------------------------


async def test_the_overview_counts_each_journeys_runs_of_today_in_the_workspace_timezone(
    light: Light,
) -> None:
    now = datetime.now(UTC)
    today = today_in(WORKSPACE_TIMEZONE, now)  # Shanghai's day: it starts at 16:00 UTC
    a, b, c, d = customers(light, 4)
    run(light, "win_back", a, today.start + timedelta(minutes=1))  # today, in flight
    run(light, "win_back", b, today.start - timedelta(minutes=1))  # yesterday, in flight
    run(light, "win_back", c, today.start + timedelta(minutes=2), "completed", now)
    # Entered yesterday, ordered today for the first time since: converted today.
    ended = today.start - timedelta(minutes=1)
    run(light, "win_back", d, today.start - timedelta(hours=3), "completed", ended)
    order(light, d, min(now, today.start + timedelta(minutes=5)))
    # Entered and ordered yesterday, ordered again today: converted yesterday, not today.
    e = customers(light, 1)[0]
    run(light, "win_back", e, today.start - timedelta(hours=5), "completed", ended)
    order(light, e, today.start - timedelta(hours=4))
    order(light, e, min(now, today.start + timedelta(minutes=6)))
    # Another journey's goal does not count for this one (post_purchase converts on nothing).
    run(light, "post_purchase", a, today.start + timedelta(minutes=3), "exited", now)

    page = (await (await light.client()).get("/console/")).text

    # in flight, entered, completed, converted
    assert cells(page, "/console/journeys/win_back")[2:] == ["2", "2", "1", "1"]
    assert cells(page, "/console/journeys/post_purchase")[2:] == ["0", "1", "0", "0"]
    assert cells(page, "/console/journeys/birthday")[2:] == ["0", "0", "0", "0"]
    assert "Asia/Shanghai" in page


async def test_messages_today_by_channel_and_outcome(light: Light) -> None:
    now = datetime.now(UTC)
    today = today_in(WORKSPACE_TIMEZONE, now)
    (a,) = customers(light, 1)
    sent = message(light, a, "email", "sent", today.start + timedelta(seconds=1))
    message(light, a, "email", "sent", now)
    message(light, a, "email", "skipped", now)
    message(light, a, "sms", "sent", now)
    message(light, a, "email", "sent", today.start - timedelta(seconds=1))  # yesterday
    decision(light, sent, a, "bounced", now)

    page = section((await (await light.client()).get("/console/")).text, "messages-today")

    assert re.findall(r'<th scope="col" class="num">(\w+)</th>', page) == ["Email", "SMS"]
    assert cells(page, ">sent<")[1:] == ["2", "1"]
    assert cells(page, ">skipped<")[1:] == ["1", "0"]
    assert cells(page, ">bounced<")[1:] == ["1", "0"]


async def test_open_cases_by_sla_state_as_the_domain_rule_and_the_case_queue_count_them(
    light: Light,
) -> None:
    now = datetime.now(UTC)
    a, b = customers(light, 2)
    made = [
        open_case(light, a, now - timedelta(hours=2), "urgent"),  # no answer in 1h: breached
        open_case(light, a, now - timedelta(minutes=20), "urgent"),  # due in 40 min
        open_case(light, b, now - timedelta(minutes=10), "normal"),  # fine
        # Answered late but the resolution is hours away: the queue's rule says fine.
        open_case(
            light, b, now - timedelta(hours=2), "urgent", first_response_at=now - timedelta(hours=1)
        ),
        open_case(light, b, now - timedelta(days=9), "low", status="resolved", resolved_at=now),
    ]
    expected = {"breached": 0, "due_soon": 0, "fine": 0}
    for state in made:
        if state.status == "open":
            expected[sla_state(state, now)] += 1
    assert expected == {"breached": 1, "due_soon": 1, "fine": 2}

    client = await light.client()
    page = section((await client.get("/console/")).text, "cases-sla")

    assert cells(page, "Breached")[1] == "1"
    assert cells(page, "Due within the hour")[1] == "1"
    assert cells(page, "Within SLA")[1] == "2"
    assert cells(page, "Open cases")[1] == "4"


async def test_callbacks_overdue_due_today_and_later_per_queue(light: Light) -> None:
    now = datetime.now(UTC)
    today = today_in(WORKSPACE_TIMEZONE, now)
    (a,) = customers(light, 1)
    callback(light, a, "vip", now - timedelta(minutes=5))
    callback(light, a, "vip", now - timedelta(days=2))
    callback(light, a, "vip", today.end + timedelta(hours=1))
    callback(light, a, "support", today.end + timedelta(days=3))
    if today.end - now > timedelta(minutes=2):
        callback(light, a, "support", now + timedelta(minutes=1))
        due_today = "1"
    else:  # the day ends within two minutes: nothing can be due later today
        due_today = "0"

    page = (await (await light.client()).get("/console/")).text

    assert cells(section(page, "callbacks-due"), "?queue=vip")[1:] == ["2", "0", "1"]
    assert cells(section(page, "callbacks-due"), "?queue=support")[1:] == ["0", due_today, "1"]
    overdue_card = page[page.index("Callbacks overdue") :]
    assert re.search(r'class="big">2<', overdue_card)


async def test_nps_and_csat_this_week_against_last_are_the_survey_reports_numbers(
    light: Light,
) -> None:
    now = datetime.now(UTC)
    last_week = now - timedelta(days=7)
    people = customers(light, 6)
    for person, score in zip(people, (10, 9, 3, 7), strict=False):
        survey(light, person, "nps", "win_back", score, now)
    for person, score in zip(people, (10, 2), strict=False):
        survey(light, person, "nps", "win_back", score, last_week)
    survey(light, people[4], "csat", "complaint_recovery", 5, now)
    survey(light, people[5], "csat", "complaint_recovery", 2, now)

    page = section((await (await light.client()).get("/console/")).text, "surveys-week")

    dialect = light.store.engine.dialect.name
    this, last = period_of(now, "week", dialect), period_of(last_week, "week", dialect)
    scores = {(r.journey_id, r.kind, r.period): r for r in light.store.surveys.scores(None, "week")}
    nps_now, nps_then = scores["win_back", "nps", this], scores["win_back", "nps", last]
    assert (nps_now.nps, nps_then.nps) == (25.0, 0.0)  # (2 - 1) / 4, (1 - 1) / 2
    assert cells(page, "win_back")[2:] == ["25.0", "4", "0.0", "2", "+25.0"]
    csat = scores["complaint_recovery", "csat", this]
    assert cells(page, "complaint_recovery")[2:4] == [f"{csat.csat:.2f}", "2"]
    label = {p: f"{p[:4]} week {int(p.split('-W')[1])}" for p in (this, last)}
    assert f"This week ({label[this]})" in page and f"Last week ({label[last]})" in page


async def test_the_overview_runs_the_same_number_of_queries_with_few_or_many_rows(
    light: Light,
) -> None:
    client = await light.client()
    counter = QueryCounter(light.store.engine)
    people = customers(light, 3)
    seed(
        light.store,
        people,
        datetime.now(UTC),
        runs=20,
        messages=20,
        cases=4,
        callbacks=4,
        surveys=10,
    )
    with counter.counting():
        assert (await client.get("/console/")).status_code == 200
    few = counter.count

    many = customers(light, 40)
    for n in range(6):  # more journeys too
        text = (JOURNEYS_DIR / "birthday.yaml").read_text().replace("id: birthday", f"id: more_{n}")
        path = Path(light.store.engine.url.database or "").parent / f"more_{n}.yaml"
        path.write_text(text)
        light.service.publish(path)
    seed(
        light.store,
        many,
        datetime.now(UTC),
        runs=1500,
        messages=1500,
        cases=120,
        callbacks=80,
        surveys=300,
    )
    with counter.counting():
        page = await client.get("/console/")
    assert page.status_code == 200
    assert "more_5" in page.text
    assert counter.count == few, f"{few} queries with few rows, {counter.count} with many"


async def test_the_overview_in_chinese_has_chinese_labels_and_dates(light: Light) -> None:
    page = (await (await light.client(locale="zh-CN")).get("/console/")).text
    assert "今天" in page and "进行中的运行" in page
    day = today_in(WORKSPACE_TIMEZONE, datetime.now(UTC)).day
    assert f"{day.year}年{day.month}月{day.day}日" in page
    assert "Runs in flight" not in page


async def test_a_visitor_without_a_session_is_sent_to_sign_in(light: Light) -> None:
    visitor = await light.client(None)
    response = await visitor.get("/console/")
    assert response.url.path == "/console/sign-in"


async def test_a_hostile_journey_name_is_shown_as_text(light: Light, tmp_path: Path) -> None:
    text = (JOURNEYS_DIR / "birthday.yaml").read_text()
    text = re.sub(r"^name: .*$", 'name: "<script>alert(1)</script>"', text, count=1, flags=re.M)
    path = tmp_path / "hostile.yaml"
    path.write_text(text.replace("id: birthday", "id: hostile_name"))
    light.service.publish(path)
    client = await light.client()
    for url in ("/console/", "/console/reports"):
        page = (await client.get(url)).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
