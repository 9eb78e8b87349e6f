"""The customer pages over the real stack: search, the customer page, and its actions."""

from __future__ import annotations

import html
import re
from datetime import date

import markupsafe
import pytest
from sqlalchemy import func, select

from app.privacy import PrivacyService
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from entrypoints.console.web import encode_cursor
from store.schema import audit_log, customer_events
from tests.api.conftest import Stack, eventually, new_id
from tests.console.conftest import ConsoleFactory
from tests.support.follow_up import FORM
from tests.support.test_support_steps import FOLLOW_UP

CDNOW_DAY = date(1998, 3, 1)
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']

SLOW = """
id: JOURNEY
name: Slow offer
category: marketing
trigger: {event: never_sent_JOURNEY}
quiet_hours: []
templates:
  offer: {subject: "An offer", text: "Sale"}
steps:
  - {id: pause, wait: {for: 1h}}
  - {id: offer, send: {channel: email, template: offer}}
"""


def customer(stack: Stack, **fields: object) -> str:
    customer_id = str(fields.pop("customer_id", None) or new_id("cc"))
    stack.service.upsert_customer(CustomerUpsert(customer_id=customer_id, **fields))
    return customer_id


def slow_journey(stack: Stack) -> str:
    journey_id = new_id("slow").replace("-", "_")
    stack.service.publish_definition(load_journey_text(SLOW.replace("JOURNEY", journey_id)))
    return journey_id


def rows(page: str) -> list[str]:
    """The customer ids a search page lists, in order."""
    return re.findall(r'<td><a href="/console/customers/([^"]+)">', page)


def audited(stack: Stack, action: str, target: str) -> int:
    with stack.store.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == action, audit_log.c.target == target)
            )
            or 0
        )


# --- search -----------------------------------------------------------------------------------


async def test_search_by_exact_id_and_by_prefix_over_the_cdnow_base(
    console: ConsoleFactory,
) -> None:
    support = await console("support")
    exact = await support.get("/console/customers", params={"q": "cdnow-1"})
    assert exact.status_code == 200
    assert rows(exact.text)[:3] == ["cdnow-1", "cdnow-10", "cdnow-100"]  # exact, then prefix
    prefix = await support.get("/console/customers", params={"q": "CDNOW-1234"})
    assert rows(prefix.text) == ["cdnow-1234", *(f"cdnow-1234{n}" for n in range(10))]
    assert "order_completed" in exact.text  # the last event


async def test_the_whole_list_pages_by_keyset_and_a_tampered_cursor_is_a_400_page(
    console: ConsoleFactory,
) -> None:
    viewer = await console("viewer")
    first = await viewer.get("/console/customers")
    assert first.status_code == 200
    listed = rows(first.text)
    assert len(listed) == 50 and listed == sorted(listed)
    found = re.search(r'href="(/console/customers\?after=[^"]+)" rel="next"', first.text)
    assert found
    second = await viewer.get(html.unescape(found.group(1)))
    assert second.status_code == 200
    following = rows(second.text)
    assert len(following) == 50 and following[0] > listed[-1]
    assert "First page" in second.text
    # A search pages too, and its next page keeps the search.
    ones = await viewer.get("/console/customers", params={"q": "cdnow-1"})
    next_link = r'href="(/console/customers\?q=cdnow-1&amp;after=[^"]+)" rel="next"'
    more = re.search(next_link, ones.text)
    assert more
    next_ones = rows((await viewer.get(html.unescape(more.group(1)))).text)
    assert len(next_ones) == 50 and all(r.startswith("cdnow-1") for r in next_ones)
    assert next_ones[0] > rows(ones.text)[-1]
    bad = await viewer.get("/console/customers", params={"after": "not-a-cursor"})
    assert bad.status_code == 400
    assert "cursor" in bad.text
    long = await viewer.get("/console/customers", params={"q": "x" * 400})
    assert long.status_code == 400


async def test_search_by_email_in_any_case_by_phone_and_by_tag(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    mark = new_id("m").replace("-", "")
    found = customer(
        console_stack,
        email=f"Ada.{mark}@Example.com",
        phone="+4915112345678",
        tags=[f"vip{mark}"],
    )
    support = await console("support")
    for query in (f"ada.{mark}@example.com", f"ADA.{mark}", f"vip{mark}"):
        page = await support.get("/console/customers", params={"q": query})
        assert rows(page.text) == [found], query
    by_phone = await support.get("/console/customers", params={"q": "+49151 1234"})
    assert found in rows(by_phone.text)
    nothing = await support.get("/console/customers", params={"q": f"nobody{mark}"})
    assert rows(nothing.text) == [] and "No customer matches" in nothing.text
    # A tag matches exactly, not by prefix; LIKE wildcards are literal.
    assert rows((await support.get("/console/customers", params={"q": "vip"})).text) == []
    assert rows((await support.get("/console/customers", params={"q": "%"})).text) == []


# --- the customer page ------------------------------------------------------------------------


async def test_a_cdnow_customer_page_shows_tier_stage_rfm_churn_reasons_and_the_timeline(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    # As of a day inside the CDNOW years, some buyers are overdue (as of today all churned).
    projections = console_stack.store.projections
    if projections.built_as_of() != CDNOW_DAY:
        projections.rebuild(CDNOW_DAY)
    at_risk = next(
        m for m in projections.all() if m.churn_risk and m.churn_reasons and m.tier is not None
    )
    support = await console("support")
    page = await support.get(f"/console/customers/{at_risk.customer_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert f"R {at_risk.r_score} · F {at_risk.f_score} · M {at_risk.m_score}" in text
    assert at_risk.churn_reasons[0].code == "overdue"
    assert at_risk.recency_days is not None and at_risk.mean_interval_days
    ratio = at_risk.recency_days / at_risk.mean_interval_days
    assert (
        f"{at_risk.recency_days:,} days since the last order, "
        f"{ratio:.1f} times the usual {at_risk.mean_interval_days:.1f} days"
    ) in text
    assert "overdue for an order" in text
    assert "order_completed" in text and "Churn risk" in text
    assert "Save consent" in text and "Open case" in text and "Enroll" in text
    zh = await console("support", locale="zh-CN")
    chinese = await zh.get(f"/console/customers/{at_risk.customer_id}")
    assert "流失风险" in chinese.text and "时间线" in chinese.text
    assert f"距上次下单已 {at_risk.recency_days:,} 天" in chinese.text


async def test_the_timeline_is_bounded_and_pages_to_older_entries(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    with console_stack.store.engine.connect() as conn:
        busiest = conn.execute(
            select(customer_events.c.customer_id, func.count().label("n"))
            .where(customer_events.c.customer_id.like("cdnow-%"))
            .group_by(customer_events.c.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
    assert busiest.n > 50
    viewer = await console("viewer")
    page = await viewer.get(f"/console/customers/{busiest.customer_id}")
    assert page.text.count('<li class="entry') == 50
    older = re.search(r'href="([^"]+\?before=[^"]+)" rel="next"', page.text)
    assert older
    second = await viewer.get(html.unescape(older.group(1)))
    assert second.status_code == 200
    assert second.text.count('<li class="entry') == min(50, busiest.n - 50)
    # Filtered to one kind, the older link keeps the filter.
    events = await viewer.get(f"/console/customers/{busiest.customer_id}", params={"kind": "event"})
    assert events.text.count('<li class="entry event">') == 50
    assert events.text.count('<li class="entry') == 50
    older_events = re.search(r'href="([^"]+\?kind=event&amp;before=[^"]+)" rel="next"', events.text)
    assert older_events
    cases = await viewer.get(f"/console/customers/{busiest.customer_id}", params={"kind": "case"})
    assert '<li class="entry' not in cases.text and "Nothing of these kinds" in cases.text
    nonsense = await viewer.get(
        f"/console/customers/{busiest.customer_id}", params={"kind": "secrets"}
    )
    assert nonsense.status_code == 400
    # Viewers see no action forms.
    assert "Save consent" not in page.text and 'id="open-case"' not in page.text
    bad = await viewer.get(f"/console/customers/{busiest.customer_id}", params={"before": "eyJ4"})
    assert bad.status_code == 400
    for at, kind, key in [
        ("2026-01-01T00:00:00+00:00", "event", 10**30),  # beyond a database integer
        ("2026-01-01T00:00:00+00:00", "event", "7"),  # an event's key is a number
        ("2026-01-01T00:00:00", "event", 7),  # no timezone
        ("2026-01-01T00:00:00+00:00", "nothing", "x"),
    ]:
        cursor = encode_cursor({"at": at, "kind": kind, "key": key})
        out_of_range = await viewer.get(
            f"/console/customers/{busiest.customer_id}", params={"before": cursor}
        )
        assert out_of_range.status_code == 400, (at, kind, key)


async def test_an_unknown_customer_is_a_404_page(console: ConsoleFactory) -> None:
    support = await console("support")
    page = await support.get("/console/customers/nobody-at-all")
    assert page.status_code == 404
    assert "There is no such customer" in page.text


async def test_xss_in_an_attribute_and_in_the_search_box_is_escaped(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    target = customer(
        console_stack,
        email=f"{new_id('x')}@example.com",
        attributes={"nickname": XSS[0], "note": XSS[1], "prefs": {"lang": XSS[0], "n": 2}},
        tags=["xss"],
    )
    support = await console("support")
    page = await support.get(f"/console/customers/{target}")
    assert str(markupsafe.escape('{"lang": "<script>alert(1)</script>", "n": 2}')) in page.text
    for payload in XSS:
        assert payload not in page.text
        assert str(markupsafe.escape(payload)) in page.text
    for payload in XSS:
        search = await support.get("/console/customers", params={"q": payload})
        assert search.status_code == 200
        assert payload not in search.text
        assert str(markupsafe.escape(payload)) in search.text


# --- actions ----------------------------------------------------------------------------------


async def test_support_enrolls_a_customer_and_a_second_enrollment_reaches_the_running_run(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = slow_journey(console_stack)
    target = customer(console_stack, email=f"{new_id('e')}@example.com")
    support = await console("support")
    done = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    assert done.status_code == 200, done.text
    assert f"Enrolled in {journey_id}" in done.text
    assert f"/console/runs/journey/{journey_id}/{target}" in done.text
    assert audited(console_stack, "enrollment.create", f"{journey_id}/{target}") == 1
    again = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    # Already in the journey: the running run gets the enrollment, no second run starts.
    assert again.status_code == 200
    said = f"{journey_id}: the customer's running run got the enrollment"
    assert str(markupsafe.escape(said)) in again.text
    runs = [r for r in console_stack.store.runs.for_customer(target)]
    assert len(runs) == 1


async def test_enrolling_in_a_paused_journey_is_refused_and_a_viewer_may_not_enroll(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = slow_journey(console_stack)
    target = customer(console_stack, email=f"{new_id('p')}@example.com")
    viewer = await console("viewer")
    refused = await viewer.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    assert refused.status_code == 403 and "support" in refused.text
    console_stack.service.set_status(journey_id, "paused")
    support = await console("support")
    paused = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    assert paused.status_code == 409 and "paused" in paused.text
    assert 'class="problem"' in paused.text and "Timeline" in paused.text  # on its page
    forged = await support.post(
        f"/console/customers/{target}/enroll", {"journey_id": journey_id}, csrf=False
    )
    assert forged.status_code == 403
    assert console_stack.store.runs.for_customer(target) == []
    assert audited(console_stack, "enrollment.create", f"{journey_id}/{target}") == 0


async def test_support_changes_consent_per_channel_and_it_is_audited(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    target = customer(console_stack, email=f"{new_id('k')}@example.com")
    support = await console("support")
    done = await support.post(
        f"/console/customers/{target}/consent", {"email": "no", "sms": "yes", "webhook": "yes"}
    )
    assert done.status_code == 200 and "Consent saved" in done.text
    profile = console_stack.store.customers.get(target)
    assert profile is not None and profile.consent.email is False and profile.consent.sms
    assert audited(console_stack, "consent.change", target) == 1
    assert "consent_changed" in done.text  # on the timeline
    bad = await support.post(f"/console/customers/{target}/consent", {"email": "maybe"})
    assert bad.status_code == 400
    ops = await console("ops")
    refused = await ops.post(f"/console/customers/{target}/consent", {"email": "yes"})
    assert refused.status_code == 403
    profile = console_stack.store.customers.get(target)
    assert profile is not None and profile.consent.email is False


async def test_support_opens_a_case_from_the_customer_page(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    target = customer(console_stack, email=f"{new_id('c')}@example.com")
    support = await console("support")
    bad = await support.post(
        f"/console/customers/{target}/cases",
        {"category": "Not A Category!", "severity": "high", "summary": "Broken"},
    )
    assert bad.status_code == 400 and "category" in bad.text
    assert console_stack.store.cases.list(customer_id=target) == []
    done = await support.post(
        f"/console/customers/{target}/cases",
        {"category": "delivery", "severity": "high", "summary": "Parcel never came"},
    )
    assert done.status_code == 200, done.text
    case_id = re.search(r"Case (cs-[0-9a-f]+) opened", done.text)
    assert case_id
    assert audited(console_stack, "case.open", case_id.group(1)) == 1

    async def listed() -> bool:
        page = await support.get(f"/console/customers/{target}")
        return f"/console/cases/{case_id.group(1)}" in page.text

    await eventually(listed, what="the case on the timeline")
    viewer = await console("viewer")
    refused = await viewer.post(
        f"/console/customers/{target}/cases", {"category": "delivery", "summary": "x"}
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("path", ["enroll", "consent", "cases"])
async def test_actions_on_an_unknown_customer_are_404_pages(
    console: ConsoleFactory, console_stack: Stack, path: str
) -> None:
    journey_id = slow_journey(console_stack)
    support = await console("support")
    fields = {
        "enroll": {"journey_id": journey_id},
        "consent": {"email": "no"},
        "cases": {"category": "delivery", "summary": "x"},
    }[path]
    page = await support.post(f"/console/customers/nobody-{new_id()}/{path}", fields)
    assert page.status_code == 404


async def test_an_erased_customer_page_says_so_and_every_action_is_refused(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = slow_journey(console_stack)
    target = customer(console_stack, email=f"{new_id('z')}@example.com")
    await PrivacyService(console_stack.service).erase(target)
    support = await console("support")
    page = await support.get(f"/console/customers/{target}")
    assert page.status_code == 200
    assert "This customer has been erased" in page.text
    assert 'id="open-case"' not in page.text and "Save consent" not in page.text
    enroll = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    cases = await support.post(
        f"/console/customers/{target}/cases", {"category": "delivery", "summary": "x"}
    )
    consent = await support.post(f"/console/customers/{target}/consent", {"email": "no"})
    assert [enroll.status_code, cases.status_code, consent.status_code] == [410, 410, 410]
    assert "erased" in enroll.text and "erased" in cases.text
    assert console_stack.store.runs.for_customer(target) == []
    assert console_stack.store.cases.list(customer_id=target) == []


ONCE = """
id: JOURNEY
name: Once only
category: marketing
trigger: {event: never_sent_JOURNEY, re_entry: once}
steps:
  - {id: pause, wait: {for: 1s}}
"""


async def test_an_enrollment_the_journeys_re_entry_policy_refuses_shows_why(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("once").replace("-", "_")
    console_stack.service.publish_definition(load_journey_text(ONCE.replace("JOURNEY", journey_id)))
    target = customer(console_stack, email=f"{new_id('o')}@example.com")
    support = await console("support")
    first = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    assert first.status_code == 200

    async def ended() -> bool:
        return [r.status for r in console_stack.store.runs.for_customer(target)] == ["completed"]

    await eventually(ended, what="the run to end")
    again = await support.post(f"/console/customers/{target}/enroll", {"journey_id": journey_id})
    assert again.status_code == 409
    assert f"Not enrolled in {journey_id}: re_entry once: entered already on" in again.text
    assert len(console_stack.store.runs.for_customer(target)) == 1


async def test_the_timeline_shows_an_answered_survey_and_the_callback_it_booked(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id = new_id("follow").replace("-", "_")
    console_stack.service.publish_definition(
        load_journey_text(
            FOLLOW_UP.replace("id: follow_up", f"id: {journey_id}", 1).replace(
                "event: order_completed", f"event: never_sent_{journey_id}"
            )
        )
    )
    email = f"{new_id('s')}@example.com"
    target = customer(console_stack, email=email)
    await console_stack.service.enroll(journey_id, target)

    async def link() -> str | None:
        for message in console_stack.channel.to(email):
            if found := re.search(r"http://api(/s/\S+)", message.text):
                return found.group(1)
        return None

    path = await eventually(link, what="the survey email")
    support = await console("support")
    answered = await support.http.post(
        path, content="score=1&comment=awful+%3Cb%3Eservice%3C%2Fb%3E", headers=FORM
    )
    assert answered.status_code == 200, answered.text

    async def booked() -> str | None:
        page = await support.get(f"/console/customers/{target}")
        return page.text if 'class="entry callback"' in page.text else None

    text = await eventually(booked, what="the callback on the timeline")
    assert 'class="entry survey"' in text and "score 1" in text
    assert "awful &lt;b&gt;service&lt;/b&gt;" in text
    assert "managers" in text and "Low CSAT" in text
