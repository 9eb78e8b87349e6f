"""Outbound messages: what a send step asks for and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from domain.customers import CustomerProfile

Channel = Literal["email", "sms", "webhook"]
# `sending`: the content is being handed to a provider that has no idempotency key (SMTP DATA);
# a retry that finds it so cannot know whether the provider took it and records `uncertain`.
MessageStatus = Literal["pending", "sending", "sent", "uncertain", "skipped", "failed", "deferred"]


class OutboxMessage(BaseModel):
    """One message in the outbox; `idempotency_key` is unique, so a retry never sends twice."""

    idempotency_key: str
    customer_id: str
    journey_id: str | None = None
    workflow_id: str | None = None
    step_id: str | None = None
    channel: Channel
    template: str
    recipient: str | None = None
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    status: MessageStatus = "pending"
    detail: str = ""
    provider_message_id: str | None = None
    requested_at: datetime
    sent_at: datetime | None = None


def recipient_of(profile: CustomerProfile, channel: str) -> str | None:
    """Email and SMS go to the customer's address; a webhook carries the customer's id."""
    return {"email": profile.email, "sms": profile.phone, "webhook": profile.customer_id}.get(
        channel
    )
