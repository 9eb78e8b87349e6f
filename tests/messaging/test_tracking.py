"""Open and click tracking over HTTP: what the customer's mail client fetches, as events.

A journey sends an HTML email through the real send activity and SMTP (aiosmtpd capture over
TCP) on the time-skipping server, then waits for `message_clicked`. The captured email is read
as the customer's client would: its pixel and links are fetched from the real API app, which
records `message_opened` once per message and `message_clicked` once per link through
ingestion, so the waiting run resumes. Forged and expired tokens record nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.email_channel import SmtpEmailChannel
from activities.messaging import MessagingActivities
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.tracking import PIXEL_GIF, TrackingLinks
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import create_app
from store.store import Store
from workers.mail_capture import CapturedMail, MailCapture
from workers.worker import activities_for, build_worker

SECRET = "tracking-test-secret"
PUBLIC = "http://api"
API_KEY = "tracking-test-key-0123"
LINKS = UnsubscribeLinks(SECRET, PUBLIC)
NEWS = load_journey_text(
    """
id: tracked_news
name: Tracked news
category: marketing
trigger: {event: signed_up}
templates:
  news:
    subject: "What is new"
    text: "Read it at https://shop.example/new?a=1&b=2 or unsubscribe: {{ unsubscribe_url }}"
    html: >-
      <html><body><p>Hello {{ profile.first_name | default("there") }}</p>
      <a href="https://shop.example/new?a=1&b=2">new things</a>
      <a class="x" href='http://blog.example/post'>our blog</a>
      <a href="mailto:help@shop.example">write to us</a>
      <a href="{{ unsubscribe_url }}">unsubscribe</a></body></html>
steps:
  - {id: news, send: {channel: email, template: news}}
  - id: clicked
    wait_for: {event: message_clicked, timeout: 30d}
    on_timeout: end
  - {id: engaged, update: {add_tags: [engaged]}}
"""
)


@dataclass
class Tracked:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    capture: MailCapture
    queue: str
    api: httpx.AsyncClient

    def events(self, customer: str, type_: str) -> list[dict[str, Any]]:
        return [
            dict(e.properties) for e in self.store.events.for_customer(customer) if e.type == type_
        ]


@pytest_asyncio.fixture
async def tracked(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Tracked]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"tracking-{uuid.uuid4().hex[:8]}"

    async def connect() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, connect, queue)
    service.publish_definition(NEWS)
    capture = MailCapture(tmp_path / "mail")
    capture.start()
    app = create_app(service, API_KEY, links=LINKS)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as api:
            yield Tracked(time_skipping_env, store, service, capture, queue, api)
    finally:
        capture.stop()
        store.close()


def html_of(mail: CapturedMail) -> str:
    part = mail.message.get_body(preferencelist=("html",))
    assert part is not None, "the email has an HTML part"
    return str(part.get_content())


def tracked_urls(markup: str) -> tuple[list[str], list[str]]:
    """(pixel sources, link targets) of the HTML as a mail client reads them."""
    pixels = [unescape(u) for u in re.findall(r'<img src="([^"]+)"', markup)]
    links = [unescape(u) for u in re.findall(r"""href=["']([^"']+)["']""", markup)]
    return pixels, links


async def send_news(tracked: Tracked, **fields: Any) -> tuple[str, str, CapturedMail]:
    """Start the journey for a new customer; (customer, workflow id, the email received)."""
    customer = f"c-{uuid.uuid4().hex[:8]}"
    tracked.store.customers.upsert(
        CustomerUpsert(
            customer_id=customer,
            email=f"{customer}@example.com",
            attributes={"first_name": "Ada"},
            **fields,
        ),
        datetime.now(UTC),
    )
    delivery = await tracked.service.enroll(NEWS.id, customer)
    assert delivery.workflow_id is not None
    for _ in range(200):
        if tracked.capture.to(f"{customer}@example.com"):
            break
        await asyncio.sleep(0.1)  # the send comes before any timer: no time needs skipping
    [mail] = tracked.capture.to(f"{customer}@example.com")
    return customer, delivery.workflow_id, mail


async def test_a_tracked_email_records_one_open_and_one_click_per_link_and_the_run_resumes(
    tracked: Tracked,
) -> None:
    activities = activities_for(tracked.store, {"email": channel(tracked)}, links=LINKS)
    async with build_worker(tracked.env.client, tracked.queue, activities):
        customer, workflow_id, mail = await send_news(tracked)
        markup = html_of(mail)
        [pixel], links = tracked_urls(markup)
        assert pixel.startswith(f"{PUBLIC}/t/o/") and pixel.endswith(".gif")
        shop, blog, mailto, unsubscribe = links
        assert shop.startswith(f"{PUBLIC}/t/c/") and blog.startswith(f"{PUBLIC}/t/c/")
        assert mailto == "mailto:help@shop.example", "only http(s) links are tracked"
        assert unsubscribe.startswith(f"{PUBLIC}/unsubscribe?token="), "own links stay as they are"
        assert "shop.example/new" not in markup and "blog.example" not in markup
        assert "https://shop.example/new?a=1&b=2" in mail.text(), "the text keeps its links"
        assert markup.index("/t/o/") < markup.index("</body>")

        for _ in range(3):  # mail clients fetch images again and again
            answer = await tracked.api.get(pixel.removeprefix(PUBLIC))
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/gif" and answer.content == PIXEL_GIF
        [opened] = tracked.events(customer, "message_opened")
        assert opened["message_key"] == mail.idempotency_key
        assert (opened["journey_id"], opened["step_id"]) == ("tracked_news", "news")

        targets = []
        for link in (shop, shop, blog):
            answer = await tracked.api.get(link.removeprefix(PUBLIC))
            assert answer.status_code == 302
            targets.append(answer.headers["location"])
        assert targets == [
            "https://shop.example/new?a=1&b=2",
            "https://shop.example/new?a=1&b=2",
            "http://blog.example/post",
        ]
        clicks = tracked.events(customer, "message_clicked")
        assert sorted(c["url"] for c in clicks) == [
            "http://blog.example/post",
            "https://shop.example/new?a=1&b=2",
        ]
        assert {c["message_key"] for c in clicks} == {mail.idempotency_key}

        with tracked.env.auto_time_skipping_disabled():
            await tracked.env.client.get_workflow_handle(workflow_id).result()
    profile = tracked.store.customers.get(customer)
    assert profile is not None and "engaged" in profile.tags, "the waiting run heard the click"
    [message] = tracked.store.outbox.for_customer(customer)
    assert message.body_html is not None and "/t/o/" in message.body_html, "the outbox has it"


async def test_forged_and_expired_tokens_record_nothing_and_redirect_nowhere(
    tracked: Tracked,
) -> None:
    activities = activities_for(tracked.store, {"email": channel(tracked)}, links=LINKS)
    async with build_worker(tracked.env.client, tracked.queue, activities):
        customer, workflow_id, mail = await send_news(tracked)
        [pixel], [shop, *_] = tracked_urls(html_of(mail))
        await tracked.env.client.get_workflow_handle(workflow_id).terminate("test done")
    key = mail.idempotency_key

    # Another target under the genuine signature, a byte changed, another workspace's key.
    body, _, signature = shop.removeprefix(f"{PUBLIC}/t/c/").partition(".")
    evil = TrackingLinks(SECRET, PUBLIC).click_url(customer, key, "https://evil.example", now())
    swapped = f"/t/c/{evil.removeprefix(f'{PUBLIC}/t/c/').partition('.')[0]}.{signature}"
    flipped = f"/t/c/{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{signature}"
    other = TrackingLinks("another-secret", PUBLIC).click_url(
        customer, key, "https://x.example", now()
    )
    for forged in (swapped, flipped, other.removeprefix(PUBLIC), "/t/c/not-a-token"):
        answer = await tracked.api.get(forged)
        assert answer.status_code == 400, forged
        assert "location" not in answer.headers
        assert "cannot be used" in answer.text

    forged_pixel = pixel.removeprefix(PUBLIC).replace("/t/o/", "/t/o/x")
    wrong_purpose = f"/t/o/{shop.removeprefix(f'{PUBLIC}/t/c/')}.gif"  # a click token as pixel
    for bad in (forged_pixel, wrong_purpose, "/t/o/nothing.gif"):
        answer = await tracked.api.get(bad)
        assert answer.status_code == 200 and answer.content == PIXEL_GIF

    old = TrackingLinks(SECRET, PUBLIC)
    long_ago = now() - timedelta(days=400)
    expired = await tracked.api.get(
        old.click_url(customer, key, "https://shop.example", long_ago).removeprefix(PUBLIC)
    )
    assert expired.status_code == 410 and "expired" in expired.text
    stale = await tracked.api.get(old.open_url(customer, key, long_ago).removeprefix(PUBLIC))
    assert stale.status_code == 200
    assert tracked.events(customer, "message_opened") == []
    assert tracked.events(customer, "message_clicked") == []

    # The genuine link still works after all that: the checks above could have failed.
    assert (await tracked.api.get(shop.removeprefix(PUBLIC))).status_code == 302
    assert len(tracked.events(customer, "message_clicked")) == 1


async def test_with_tracking_off_the_email_keeps_its_links_and_has_no_pixel(
    tracked: Tracked,
) -> None:
    messaging = MessagingActivities(
        tracked.store, {"email": channel(tracked)}, now, links=LINKS, tracking=False
    )
    listed = [
        messaging.send_message if getattr(fn, "__name__", "") == "send_message" else fn
        for fn in activities_for(tracked.store, {"email": channel(tracked)}, links=LINKS)
    ]
    async with build_worker(tracked.env.client, tracked.queue, listed):
        _, workflow_id, mail = await send_news(tracked)
        await tracked.env.client.get_workflow_handle(workflow_id).terminate("test done")
    pixels, links = tracked_urls(html_of(mail))
    assert pixels == []
    assert links[:2] == ["https://shop.example/new?a=1&b=2", "http://blog.example/post"]


def channel(tracked: Tracked) -> SmtpEmailChannel:
    return SmtpEmailChannel(tracked.capture.host, tracked.capture.port, "shop@example.com")


def now() -> datetime:
    return datetime.now(UTC)
