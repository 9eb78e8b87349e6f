"""Consent, unsubscribe links, provider feedback, previews and message lists over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest_asyncio

from domain.tokens import sign
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, Stack, event, eventually, new_customer

LINKS = UnsubscribeLinks("unsubscribe-secret", "http://api")


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack.service, API_KEY, links=LINKS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
    ) as client:
        yield client


def token_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["token"][0]


async def timeline(api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/customers/{customer_id}/timeline")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_an_unsubscribe_link_unsubscribes_once_and_bad_links_change_nothing(
    api: httpx.AsyncClient,
) -> None:
    customer = await new_customer(api)
    token = token_of(LINKS.url(customer, "email", datetime.now(UTC)))
    page = await api.get("/unsubscribe", params={"token": token}, headers={"X-API-Key": ""})
    assert page.status_code == 200 and "<form method='post'" in page.text
    assert (await api.get(f"/customers/{customer}")).json()["consent"]["email"] is True
    for _ in range(2):  # a second click (or the mail client's one-click POST) changes nothing
        done = await api.post("/unsubscribe", params={"token": token})
        assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert (await api.get(f"/customers/{customer}")).json()["consent"]["email"] is False
    changes = [
        e for e in (await timeline(api, customer))["events"] if e["type"] == "consent_changed"
    ]
    assert len(changes) == 1 and changes[0]["properties"]["email"] is False

    other = await new_customer(api)
    forged = token_of(LINKS.url(other, "email", datetime.now(UTC)))[:-2] + "xx"
    refused = await api.post("/unsubscribe", params={"token": forged})
    assert refused.status_code == 400 and "does not match" in refused.text
    expired = sign(
        LINKS.secret, "unsubscribe", {"c": other, "ch": "email"}, datetime.now(UTC) - timedelta(1)
    )
    gone = await api.post("/unsubscribe", params={"token": expired})
    assert gone.status_code == 410 and "expired" in gone.text
    assert (await api.get(f"/customers/{other}")).json()["consent"]["email"] is True


async def test_consent_over_the_api(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api)
    changed = await api.put(f"/customers/{customer}/consent", json={"sms": False})
    assert changed.status_code == 200 and changed.json()["consent"]["sms"] is False
    assert (await api.put(f"/customers/{customer}/consent", json={})).status_code == 422
    unknown_channel = await api.put(f"/customers/{customer}/consent", json={"fax": False})
    assert unknown_channel.status_code == 422
    missing = await api.put("/customers/nobody-here/consent", json={"sms": False})
    assert missing.status_code == 404


async def test_a_hard_bounce_suppresses_the_address_for_every_later_message(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer = await new_customer(api)
    email = f"{customer}@example.com"
    bad = await api.post(
        "/providers/feedback", json={"type": "bounce", "recipient": "not-an-address"}
    )
    assert bad.status_code == 422 and "is not an email address" in bad.text
    assert stack.store.suppressions.get("email", "not-an-address") is None
    bounced = await api.post(
        "/providers/feedback",
        json={"type": "bounce", "recipient": email.upper(), "detail": "550 no such user"},
    )
    assert bounced.status_code == 200 and bounced.json()["scope"] == "all"
    listed = (await api.get("/suppressions", params={"channel": "email"})).json()
    assert email in [s["address"] for s in listed]
    assert (await api.post("/events", json=event(customer, "signed_up"))).status_code == 202

    async def skipped() -> list[dict[str, Any]] | None:
        found = (await api.get("/messages", params={"customer_id": customer})).json()
        return found or None

    [message] = await eventually(skipped, what="the welcome message's outcome")
    assert message["status"] == "skipped" and message["detail"].startswith("suppressed: bounce")
    assert stack.channel.to(email) == []
    decisions = (await api.get("/decisions", params={"customer_id": customer})).json()
    assert [d["decision"] for d in decisions] == ["suppressed"]
    gone = await api.delete(f"/suppressions/email/{email}")
    assert gone.status_code == 204
    assert (await api.delete(f"/suppressions/email/{email}")).status_code == 404


async def test_preview_renders_the_customers_locale(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api, locale="zh-CN", attributes={"first_name": "美玲"})
    shown = await api.get(
        "/journeys/onboarding/steps/welcome/preview", params={"customer_id": customer}
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    welcome = "欢迎加入，美玲"
    assert body["locale"] == "zh-CN" and body["subject"] == welcome
    # The built-in policy's email quiet hours hold it at night; preview says so.
    assert body["would_send"] is True or (body["verdict"], body["rule"]) == ("defer", "quiet_hours")
    english = await api.get(
        "/journeys/onboarding/steps/welcome/preview",
        params={"customer_id": customer, "locale": "en"},
    )
    assert english.json()["subject"] == "Welcome aboard, 美玲"
    assert english.json()["locale"] == "default"
    nope = await api.get(
        "/journeys/onboarding/steps/nope/preview", params={"customer_id": customer}
    )
    assert nope.status_code == 404 and "no send step 'nope'" in nope.text


async def test_without_a_signing_secret_the_public_pages_trust_no_link(stack: Stack) -> None:
    bare = create_app(stack.service, API_KEY)  # no JOURNEYS_SECRET_KEY anywhere
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bare), base_url="http://api"
    ) as client:
        token = token_of(LINKS.url("anyone", "email", datetime.now(UTC)))
        assert (await client.post("/unsubscribe", params={"token": token})).status_code == 503
        assert (await client.get(f"/s/{token}")).status_code == 503
