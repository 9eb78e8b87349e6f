"""SMS and webhooks over real HTTP to the local provider sink: keys, signatures, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from activities.channels import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from activities.http_channel import HttpChannel
from domain.webhook_signature import SignatureError, signature_headers, verify_webhook_signature
from entrypoints.api import running
from workers.provider_sink import SinkState, provider_sink

SECRET = "whsec-test"


class Sink:
    def __init__(self, url: str, state: SinkState) -> None:
        self.url = url
        self.state = state

    async def control(self, **command: Any) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.url}/control", json=command)).raise_for_status()


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[Sink]:
    app = provider_sink(webhook_secret=SECRET)
    async with running(app) as url:
        yield Sink(url, app.state.sink)


def sms(key: str = "k-1", to: str = "+4915112345678") -> RenderedMessage:
    return RenderedMessage(idempotency_key=key, channel="sms", recipient=to, text="Hi Ada")


async def test_an_sms_carries_its_key_and_a_repeat_is_the_same_message(sink: Sink) -> None:
    channel = HttpChannel("sms", f"{sink.url}/sms")
    first = await channel.deliver(sms())
    again = await channel.deliver(sms())
    assert first == again and first.startswith("sms-")
    [message] = sink.state.messages("sms")
    assert message["key"] == "k-1" and message["payload"]["to"] == "+4915112345678"
    assert sink.state.requests == 2


async def test_5xx_and_timeouts_are_transient_4xx_is_permanent(sink: Sink) -> None:
    channel = HttpChannel("sms", f"{sink.url}/sms", timeout=0.5)
    await sink.control(fail=503, times=1)
    with pytest.raises(TransientDeliveryError, match="answered 503"):
        await channel.deliver(sms())
    await sink.control(fail=429, times=1)
    with pytest.raises(TransientDeliveryError, match="answered 429"):
        await channel.deliver(sms())
    await sink.control(fail=400, times=1)
    with pytest.raises(PermanentDeliveryError, match="refused the message \\(400\\)"):
        await channel.deliver(sms())
    with pytest.raises(PermanentDeliveryError, match=r"E\.164"):
        await channel.deliver(sms(key="k-2", to="015112345678"))
    await sink.control(hold=2.0)
    with pytest.raises(TransientDeliveryError, match="timed out"):
        await channel.deliver(sms(key="k-3"))
    await sink.control(reset=True)
    assert await channel.deliver(sms())  # and then it goes through, once
    assert [m["key"] for m in sink.state.messages("sms")] == ["k-3", "k-1"]


async def test_an_unreachable_provider_is_transient() -> None:
    channel = HttpChannel("sms", "http://127.0.0.1:9/sms", timeout=0.5)
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await channel.deliver(sms())


async def test_webhooks_are_signed_and_the_receiver_verifies_them(sink: Sink) -> None:
    hook = RenderedMessage(
        idempotency_key="w-1", channel="webhook", recipient="c-1", customer_id="c-1", text="x"
    )
    assert await HttpChannel("webhook", f"{sink.url}/webhook", secret=SECRET).deliver(hook)
    [received] = sink.state.messages("webhook")
    assert received["payload"]["customer_id"] == "c-1"
    forged = HttpChannel("webhook", f"{sink.url}/webhook", secret="not-the-secret")
    with pytest.raises(PermanentDeliveryError, match="401"):
        await forged.deliver(hook.model_copy(update={"idempotency_key": "w-2"}))
    assert len(sink.state.messages("webhook")) == 1


def test_verify_webhook_signature_refuses_tampering_and_replays() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    body = b'{"customer_id":"c-1"}'
    headers = signature_headers(SECRET, body, now)
    verify_webhook_signature(SECRET, body, headers, now + timedelta(seconds=30))
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook_signature(SECRET, body + b" ", headers, now)
    with pytest.raises(SignatureError, match="replayed"):
        verify_webhook_signature(SECRET, body, headers, now + timedelta(minutes=10))
    with pytest.raises(SignatureError, match="missing"):
        verify_webhook_signature(SECRET, body, {}, now)
