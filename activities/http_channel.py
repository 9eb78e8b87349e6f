"""SMS and webhook over HTTP (httpx) to a provider endpoint, carrying the idempotency key.

Every request sends `Idempotency-Key: <key>`, so a provider that honours it (as the dev
stack's provider sink does, and as SMS and payment APIs commonly do) turns a retried request
into the original message. Webhook bodies are signed (domain/webhook_signature.py).

Outcomes: 2xx delivered (the provider's id from the JSON `id`); 408, 429 and 5xx, timeouts
and connection errors are transient (Temporal retries with backoff); any other 4xx is a
permanent refusal (recorded as failed; the journey goes on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.channels import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from domain.webhook_signature import signature_headers

IDEMPOTENCY_HEADER = "Idempotency-Key"
TRANSIENT_STATUSES = frozenset({408, 425, 429})


class HttpChannel:
    """POSTs each message as JSON to `url`; `secret` signs the body (webhooks)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        token: str | None = None,
        secret: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.secret = secret
        self.timeout = timeout
        self.clock = clock

    def body(self, message: RenderedMessage) -> dict[str, Any]:
        if self.name == "sms":
            return {"to": message.recipient, "text": message.text, "key": message.idempotency_key}
        return {
            "customer_id": message.customer_id or message.recipient,
            "subject": message.subject,
            "text": message.text,
            "category": message.category,
            "key": message.idempotency_key,
        }

    async def deliver(self, message: RenderedMessage) -> str:
        body = json.dumps(self.body(message), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.secret:
            headers |= signature_headers(self.secret, body, self.clock())
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"{self.name} provider timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"{self.name} provider unreachable: {exc}") from exc
        code = response.status_code
        if code >= 500 or code in TRANSIENT_STATUSES:
            raise TransientDeliveryError(
                f"{self.name} provider answered {code}: {response.text[:200]}"
            )
        if code >= 400:
            raise PermanentDeliveryError(
                f"{self.name} provider refused the message ({code}): {response.text[:200]}"
            )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        provider_id = answer.get("id") if isinstance(answer, dict) else None
        return str(provider_id or response.headers.get("X-Message-Id") or message.idempotency_key)
