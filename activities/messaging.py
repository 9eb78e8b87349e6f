"""The send-message activity: consent, rendering, the outbox, and one delivery per key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime

from temporalio import activity

from activities.channels import Channel, PermanentDeliveryError, RenderedMessage
from domain.contracts import SEND_MESSAGE, MessageOutcome, SendMessage
from domain.customers import CustomerProfile
from domain.expressions import ExpressionError
from domain.messages import OutboxMessage
from domain.rendering import render_template
from store.store import Store


def recipient_of(profile: CustomerProfile, channel: str) -> str | None:
    return {"email": profile.email, "sms": profile.phone}.get(channel)


class MessagingActivities:
    def __init__(
        self, store: Store, channels: Mapping[str, Channel], clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        """Send at most once per idempotency key; a retry returns the first outcome."""
        outbox = self.store.outbox
        stored = await asyncio.to_thread(outbox.get, request.idempotency_key)
        if stored is not None and stored.status != "pending":
            return self._outcome(stored, duplicate=True)
        profile = await asyncio.to_thread(self.store.customers.get, request.customer_id)
        # A draft that cannot be sent (no address, unsubscribed, template error) is recorded
        # in the outbox too, so the decision is visible and a retry repeats it.
        message, created = await asyncio.to_thread(outbox.reserve, self._draft(request, profile))
        if message.status != "pending":
            return self._outcome(message, duplicate=not created)
        channel = self.channels.get(request.channel)
        if channel is None:
            return self._outcome(
                await self._mark(message, "failed", f"channel {request.channel} not configured")
            )
        rendered = RenderedMessage(
            idempotency_key=message.idempotency_key,
            channel=message.channel,
            recipient=message.recipient or "",
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
        )
        try:
            provider_id = await channel.deliver(rendered)
        except PermanentDeliveryError as exc:
            return self._outcome(await self._mark(message, "failed", str(exc)))
        activity.logger.info("message sent", extra={"key": message.idempotency_key})
        return self._outcome(await self._mark(message, "sent", "", provider_id))

    def _draft(self, request: SendMessage, profile: CustomerProfile | None) -> OutboxMessage:
        message = OutboxMessage(
            idempotency_key=request.idempotency_key,
            customer_id=request.customer_id,
            journey_id=request.journey_id,
            workflow_id=request.workflow_id,
            step_id=request.step_id,
            channel=request.channel,
            template=request.template_name,
            requested_at=request.requested_at,
        )
        if profile is None:
            return message.model_copy(update={"status": "failed", "detail": "unknown customer"})
        recipient = recipient_of(profile, request.channel)
        if not recipient:
            return message.model_copy(
                update={"status": "skipped", "detail": f"no {request.channel} address"}
            )
        consented = getattr(profile.consent, request.channel, True)
        if request.category == "marketing" and not consented:
            return message.model_copy(
                update={
                    "status": "skipped",
                    "recipient": recipient,
                    "detail": f"unsubscribed from {request.channel}",
                }
            )
        try:
            parts = render_template(
                request.template, {**request.context, "profile": profile.template_context()}
            )
        except ExpressionError as exc:
            return message.model_copy(
                update={"status": "failed", "recipient": recipient, "detail": str(exc)}
            )
        return message.model_copy(
            update={
                "recipient": recipient,
                "subject": parts.subject,
                "body_text": parts.text,
                "body_html": parts.html,
            }
        )

    async def _mark(
        self, message: OutboxMessage, status: str, detail: str, provider_id: str | None = None
    ) -> OutboxMessage:
        return await asyncio.to_thread(
            self.store.outbox.mark,
            message.idempotency_key,
            status,
            detail=detail,
            provider_message_id=provider_id,
            sent_at=self.clock() if status == "sent" else None,
        )

    @staticmethod
    def _outcome(message: OutboxMessage, *, duplicate: bool = False) -> MessageOutcome:
        return MessageOutcome(
            idempotency_key=message.idempotency_key,
            status=message.status,
            detail=message.detail,
            recipient=message.recipient,
            duplicate=duplicate,
        )
