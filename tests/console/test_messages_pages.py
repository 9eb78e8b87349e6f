"""Messages and send decisions (filters, keyset pages) and the preview of a send step: the
verdict and its category, an email's HTML only inside a sandboxed iframe with its own strict
CSP, and an SMS's text."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime

from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.messages import OutboxMessage
from entrypoints.console.messages import PREVIEW_CSP
from entrypoints.console.web import encode_cursor
from tests.api.conftest import Stack, eventually, new_id
from tests.console.conftest import ConsoleFactory

SENDS = """
id: {journey_id}
name: Console sends
category: transactional
trigger: {{event: console_sends_due}}
templates:
  hello:
    subject: "Hello {{{{ profile.first_name | default('there') }}}}"
    text: "Hi {{{{ profile.first_name | default('there') }}}}, your parcel is on its way."
    html: >-
      <p>Hi <b>{{{{ profile.first_name | default('there') }}}}</b></p>
      <script>parent.alert(1)</script>
  again:
    subject: "Still there?"
    text: "A second note."
  texted:
    text: "Your code is 1234"
steps:
  - {{id: hello, send: {{channel: email, template: hello}}}}
  - {{id: again, send: {{channel: email, template: again}}}}
  - {{id: texted, send: {{channel: sms, template: texted}}}}
  - {{id: done, end: sent}}
"""


async def sent_twice(stack: Stack) -> tuple[str, str]:
    """A journey of its own that sends two emails (and tries an SMS) to a new customer."""
    journey_id = f"console_sends_{uuid.uuid4().hex[:8]}"
    stack.service.publish_definition(load_journey_text(SENDS.format(journey_id=journey_id)))
    customer = new_id("msg")
    stack.store.customers.upsert(
        CustomerUpsert(
            customer_id=customer,
            email=f"{customer}@example.com",
            phone="+4915112345678",
            attributes={"first_name": '<img src=x onerror=alert("name")>'},
        ),
        datetime.now(UTC),
    )
    await stack.service.enroll(journey_id, customer)

    async def both() -> list[OutboxMessage] | None:
        found = stack.store.outbox.list(10, customer_id=customer)
        return found if len([m for m in found if m.channel == "email"]) >= 2 else None

    await eventually(both, what="two emails")
    return journey_id, customer


async def test_messages_and_decisions_list_with_filters_and_pages(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    from entrypoints.console import messages as pages

    journey_id, customer = await sent_twice(console_stack)
    viewer = await console("viewer")
    page = await viewer.get("/console/messages", params={"customer": customer})
    assert page.status_code == 200
    assert "Still there?" in page.text and "Hello" in page.text
    assert "<img src=x" not in page.text  # the customer's name in the subject is text
    email_only = await viewer.get(
        "/console/messages", params={"customer": customer, "channel": "sms"}
    )
    assert "Still there?" not in email_only.text
    decisions = await viewer.get(
        "/console/messages", params={"show": "decisions", "customer": customer}
    )
    assert decisions.status_code == 200 and journey_id in decisions.text
    today = datetime.now(UTC).astimezone().strftime("%Y-%m-%d")
    assert (await viewer.get("/console/messages", params={"day": today})).status_code == 200
    original = pages.PAGE_SIZE
    pages.PAGE_SIZE = 1
    try:
        first = await viewer.get("/console/messages", params={"customer": customer})
        assert 'rel="next"' in first.text
        link = html.unescape(first.text.split('rel="next"')[0].rsplit('href="', 1)[1][:-2])
        second = await viewer.get(link)
        assert second.status_code == 200 and "First page" in second.text
        assert ("Still there?" in first.text) != ("Still there?" in second.text)
        more = await viewer.get(
            "/console/messages", params={"show": "decisions", "customer": customer}
        )
        link = html.unescape(more.text.split('rel="next"')[0].rsplit('href="', 1)[1][:-2])
        assert (await viewer.get(link)).status_code == 200
    finally:
        pages.PAGE_SIZE = original


async def test_bad_filters_and_cursors_are_400(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    for params in (
        {"cursor": "garbage"},
        {
            "show": "decisions",
            "cursor": "eyJhdCI6IjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCJpZCI6IngifQ",
        },
        {
            "show": "decisions",
            "cursor": encode_cursor({"at": "2026-01-01T00:00:00+00:00", "id": 10**30}),
        },
        {"channel": "pigeon"},
        {"day": "yesterday"},
        {"show": "everything"},
    ):
        page = await viewer.get("/console/messages", params=params)
        assert page.status_code == 400, params


async def test_the_preview_of_an_email_step(console_stack: Stack, console: ConsoleFactory) -> None:
    journey_id, customer = await sent_twice(console_stack)
    viewer = await console("viewer")
    asked = {"journey": journey_id, "step": "hello", "customer": customer}
    page = await viewer.get("/console/messages/preview", params=asked)
    assert page.status_code == 200, page.text
    assert "Yes: it would be sent now." in page.text
    assert "transactional" in page.text
    assert '<iframe class="preview" sandbox src="/console/messages/preview/html?' in page.text
    assert "your parcel is on its way" in page.text
    assert "<script>parent.alert" not in page.text and "<img src=x" not in page.text
    frame = await viewer.get("/console/messages/preview/html", params=asked)
    assert frame.status_code == 200
    assert frame.headers["content-security-policy"] == PREVIEW_CSP
    assert "<b>" in frame.text


async def test_the_preview_of_an_sms_step_and_a_refusal(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    journey_id, customer = await sent_twice(console_stack)
    support = await console("support", locale="zh-CN")
    asked = {"journey": journey_id, "step": "texted", "customer": customer}
    page = await support.get("/console/messages/preview", params=asked)
    assert page.status_code == 200
    assert "Your code is 1234" in page.text and "<iframe" not in page.text
    assert "预览" in page.text
    no_html = await support.get("/console/messages/preview/html", params=asked)
    assert no_html.status_code == 404
    unknown = await support.get("/console/messages/preview", params={**asked, "step": "nope"})
    assert unknown.status_code == 404
    nobody = await support.get(
        "/console/messages/preview", params={**asked, "customer": "nobody-here"}
    )
    assert nobody.status_code == 404 and "没有" in nobody.text
    blank = await support.get("/console/messages/preview")
    assert blank.status_code == 200 and "<iframe" not in blank.text
