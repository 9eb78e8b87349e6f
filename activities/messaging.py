"""The send-message activity: who may be sent what, when, and one delivery per key.

In order: a key already decided returns its first outcome; then the message is rendered and
the eligibility rule (domain/eligibility.py) decides, on the facts gathered here, whether it
goes: the customer's address, consent (marketing only) and the suppression list decide whether
it can exist at all (they win over a broken template, which fails it otherwise); an open case,
quiet hours in the customer's timezone and frequency caps across all journeys defer it (the
workflow waits on a durable timer and asks again with the same key) or skip it. The caps are
decided under the send ledger's per-customer lock, which takes the slot. Then the outbox row
is reserved and the channel delivers it with the key, so a retry after a crash finds the row
and the provider sees the same key. Every decision is recorded with its rule and reason and
appended to the customer's event log (message_sent, message_deferred, message_suppressed,
message_failed). HTML email carries an open pixel and tracked links (domain/tracking.py)
unless tracking is off.

`abandon_message` settles the outbox row of a send the run gave up on after its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime

from temporalio import activity

from activities.channels import (
    Channel,
    CommittingChannel,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from domain.contracts import (
    ABANDON_MESSAGE,
    SEND_MESSAGE,
    AbandonMessage,
    MessageOutcome,
    SendMessage,
)
from domain.customers import CustomerProfile
from domain.eligibility import RECIPIENT_RULES, Eligibility, SendFacts, Suppressed, decide_send
from domain.events import CustomerEvent
from domain.expressions import ExpressionError
from domain.messages import OutboxMessage, recipient_of
from domain.privacy import CustomerErased
from domain.rendering import render_message
from domain.send_policy import SendPolicy
from domain.tracking import TrackingLinks
from domain.unsubscribe import UnsubscribeLinks
from store.send_ledger import SendDecision
from store.store import Store

HEARTBEAT_EVERY = 2.0
CUT_OFF = (
    "an earlier attempt stopped during the SMTP DATA exchange; the server may have the"
    " message, so it is not sent again (receivers drop a copy by its Message-ID)"
)
GAVE_UP_MID_SEND = (
    "the run gave up while an attempt was handing the message over; the provider may have"
    " it, so it is recorded as unconfirmed, not failed"
)
# Outbox statuses that settle a message for good (a decision of the same name).
SETTLED = frozenset({"sent", "uncertain", "skipped", "failed"})
# The decision a verdict that holds the message back is recorded as.
DECISION_OF = {"defer": "deferred", "skip": "skipped", "suppress": "suppressed"}
# What each decision is called as a customer event.
EVENT_OF = {
    "sent": "message_sent",
    "uncertain": "message_uncertain",
    "skipped": "message_suppressed",
    "suppressed": "message_suppressed",
    "failed": "message_failed",
    "deferred": "message_deferred",
}


class MessagingActivities:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime],
        *,
        policy: SendPolicy | None = None,
        links: UnsubscribeLinks | None = None,
        tracking: bool = True,
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.policy = policy or SendPolicy()
        self.links = links
        # Open and click tracking in HTML email, signed like the unsubscribe links (so only
        # with them); JOURNEYS_TRACKING=false turns it off for new messages.
        self.tracking = (
            TrackingLinks(links.secret, links.public_url)
            if links is not None and tracking
            else None
        )

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        """Send at most once per idempotency key; a retry returns the first outcome."""
        outbox = self.store.outbox
        stored = await asyncio.to_thread(outbox.get, request.idempotency_key)
        if stored is not None and stored.status == "sending":
            return await self._unconfirmed(request, stored, CUT_OFF)
        if stored is not None and stored.status != "pending":
            return self._outcome(stored, duplicate=True)
        if stored is None:
            profile = await asyncio.to_thread(self.store.customers.get, request.customer_id)
            draft, decided = await asyncio.to_thread(self._draft, request, profile)
            if decided is not None and decided.verdict == "defer":
                return await asyncio.to_thread(self._defer, request, decided)
            try:
                message, created = await asyncio.to_thread(outbox.reserve, draft)
            except CustomerErased:
                # Erased while this send was on its way: nothing is kept, nothing goes out.
                return MessageOutcome(
                    idempotency_key=request.idempotency_key,
                    status="skipped",
                    detail="customer erased",
                )
            if message.status != "pending":
                if created:
                    await asyncio.to_thread(
                        self._decided,
                        request,
                        DECISION_OF.get(decided.verdict, message.status)
                        if decided
                        else message.status,
                        message.detail,
                        rule=decided.rule if decided else None,
                        known=profile is not None,
                    )
                return self._outcome(message, duplicate=not created)
        else:
            message = stored  # interrupted after reserving: deliver again under the same key
        return await self._deliver(request, message)

    @activity.defn(name=ABANDON_MESSAGE)
    async def abandon_message(self, request: AbandonMessage) -> None:
        """The run gave up on a send whose retries ran out: settle its outbox row for good.

        A `pending` row (nothing handed over) becomes `failed` with the reason and gives back
        its frequency-cap slot; a `sending` row (cut off during SMTP DATA: the server may have
        it) becomes `uncertain` and keeps its slot. A row some attempt already settled keeps
        its status. Either way the decision and the customer event are recorded once per key,
        so running this twice, or after a crash half-way, has one effect.
        """
        outbox, key = self.store.outbox, request.idempotency_key
        stored = await asyncio.to_thread(outbox.get, key)
        if stored is None:  # it never reached the outbox (it errored before the reservation)
            await asyncio.to_thread(self.store.ledger.release, key)
            await asyncio.to_thread(self._decided, request, "failed", request.reason)
            return
        if stored.status in ("pending", "sending"):
            settled, why = (
                ("failed", request.reason)
                if stored.status == "pending"
                else ("uncertain", f"{GAVE_UP_MID_SEND} ({request.reason})")
            )
            moved = await asyncio.to_thread(
                outbox.transition, key, stored.status, settled, detail=why[:500]
            )
            # None: another attempt moved the row first; what it decided stands.
            stored = moved or await asyncio.to_thread(outbox.get, key) or stored
        if stored.status in ("pending", "sending"):
            raise RuntimeError(f"message {key} is still {stored.status}; asking again")
        if stored.status not in SETTLED:
            return
        if stored.status in ("failed", "skipped"):
            await asyncio.to_thread(self.store.ledger.release, key)
        activity.logger.warning("message abandoned", extra={"key": key, "status": stored.status})
        # Recorded again for a row settled earlier: the ledger and the log keep one of each.
        decision, rule = await asyncio.to_thread(self._settled_as, request, stored.status)
        known = await asyncio.to_thread(self.store.customers.get, request.customer_id)
        await asyncio.to_thread(
            self._decided, request, decision, stored.detail, rule=rule, known=known is not None
        )

    # --- what may be sent ------------------------------------------------------------------

    def _draft(
        self, request: SendMessage, profile: CustomerProfile | None
    ) -> tuple[OutboxMessage, Eligibility | None]:
        """The message as it would go out, or why it cannot (recorded in the outbox too), with
        the eligibility decision (None when the customer is unknown or the template broken).

        A deferral leaves the message as it is (nothing is reserved before it may go)."""
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
            return message.model_copy(
                update={"status": "failed", "detail": "unknown customer"}
            ), None
        message = message.model_copy(update={"recipient": recipient_of(profile, request.channel)})
        facts = self._facts(request, profile, message.recipient)
        rendered = self._render(request, profile, message)
        if rendered.status == "failed":
            # Whether the message may exist at all wins over a broken template; when it
            # would go does not matter any more.
            decided = decide_send(facts)
            if decided.rule in RECIPIENT_RULES:
                return message.model_copy(
                    update={"status": "skipped", "detail": decided.reason}
                ), decided
            return rendered, None
        # Under the customer's lock: a message that goes takes its frequency-cap slot there.
        decided = self.store.ledger.decide(request.idempotency_key, request.customer_id, facts)
        if decided.sends or decided.verdict == "defer":
            return rendered, decided
        return message.model_copy(update={"status": "skipped", "detail": decided.reason}), decided

    def _facts(
        self, request: SendMessage, profile: CustomerProfile, recipient: str | None
    ) -> SendFacts:
        """What the eligibility rule needs to know about this message, looked up now."""
        entry = self.store.suppressions.get(request.channel, recipient) if recipient else None
        open_cases: list[str] = []
        held_for_case = False
        if request.category == "marketing":
            open_cases = self.store.cases.open_for(request.customer_id)
            if not open_cases and request.after_case == "skip":
                earlier = self.store.ledger.decisions(
                    customer_id=request.customer_id,
                    idempotency_key=request.idempotency_key,
                    decision="deferred",
                    limit=1000,
                )
                held_for_case = any(d.rule == "open_case" for d in earlier)
        return SendFacts(
            channel=request.channel,
            category=request.category,
            recipient=recipient,
            consented=bool(getattr(profile.consent, request.channel)),
            suppression=(
                None
                if entry is None
                else Suppressed(reason=entry.reason, scope=entry.scope, detail=entry.detail)
            ),
            open_cases=open_cases,
            held_for_case=held_for_case,
            after_case=request.after_case,
            quiet_hours=(
                request.quiet_hours if request.quiet_hours is not None else self.policy.quiet_hours
            ),
            timezone=profile.timezone,
            caps=self.policy.caps,
            journey_held=(
                request.journey_id is not None
                and self.store.journeys.holds_sends(request.journey_id)
            ),
            now=self.clock(),
        )

    def _render(
        self, request: SendMessage, profile: CustomerProfile, message: OutboxMessage
    ) -> OutboxMessage:
        """The message with its content, or failed with the template's error."""
        context = {**request.context, "profile": profile.template_context()}
        if self.links is not None:
            context["unsubscribe_url"] = self.links.url(
                profile.customer_id, request.channel, self.clock()
            )
        try:
            parts = render_message(request.template, context, profile.locale)
        except ExpressionError as exc:
            return message.model_copy(update={"status": "failed", "detail": str(exc)})
        body_html = parts.html
        if body_html and request.channel == "email" and self.tracking is not None:
            body_html = self.tracking.instrument(
                body_html, profile.customer_id, request.idempotency_key, self.clock()
            )
        return message.model_copy(
            update={"subject": parts.subject, "body_text": parts.text, "body_html": body_html}
        )

    def _defer(self, request: SendMessage, decided: Eligibility) -> MessageOutcome:
        self._decided(request, "deferred", decided.reason, decided.until, rule=decided.rule)
        return MessageOutcome(
            idempotency_key=request.idempotency_key,
            status="deferred",
            detail=decided.reason,
            deferred_until=decided.until,
            resume_on=decided.resume_on,
        )

    def _settled_as(
        self, request: SendMessage | AbandonMessage, status: str
    ) -> tuple[str, str | None]:
        """The decision (and rule) a settled outbox row was recorded as: a skipped row may have
        been a suppression, which only the ledger's earlier decision knows."""
        if status != "skipped":
            return status, None
        earlier = self.store.ledger.decisions(
            customer_id=request.customer_id, idempotency_key=request.idempotency_key, limit=1000
        )
        held = next((d for d in earlier if d.decision in ("skipped", "suppressed")), None)
        return (held.decision, held.rule) if held is not None else (status, None)

    # --- delivery --------------------------------------------------------------------------

    async def _deliver(self, request: SendMessage, message: OutboxMessage) -> MessageOutcome:
        channel = self.channels.get(request.channel)
        if channel is None:
            return await self._finish(
                request, message, "failed", f"channel {request.channel} not configured"
            )
        rendered = RenderedMessage(
            idempotency_key=message.idempotency_key,
            channel=message.channel,
            category=request.category,
            customer_id=message.customer_id,
            recipient=message.recipient or "",
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
            unsubscribe_url=(
                self.links.url(message.customer_id, message.channel, self.clock())
                if self.links is not None and request.category == "marketing"
                else None
            ),
        )
        key = message.idempotency_key
        committed = False

        async def commit() -> None:
            # Committed before the content leaves: from here a retry must not send again.
            nonlocal committed
            if await asyncio.to_thread(outbox.transition, key, "pending", "sending") is None:
                raise TransientDeliveryError(f"another attempt is delivering {key}")
            committed = True

        outbox = self.store.outbox
        try:
            async with _heartbeating():
                if isinstance(channel, CommittingChannel):
                    provider_id = await channel.deliver_committing(rendered, commit)
                else:
                    provider_id = await channel.deliver(rendered)
        except PermanentDeliveryError as exc:
            return await self._finish(request, message, "failed", str(exc))
        except UncertainDeliveryError as exc:
            return await self._unconfirmed(request, message, str(exc))
        except TransientDeliveryError:
            if committed:  # the server answered "not now" to DATA: it has nothing, so retry
                await asyncio.to_thread(outbox.transition, key, "sending", "pending")
            raise
        activity.logger.info("message sent", extra={"key": message.idempotency_key})
        return await self._finish(request, message, "sent", "", provider_id)

    async def _finish(
        self,
        request: SendMessage,
        message: OutboxMessage,
        status: str,
        detail: str,
        provider_id: str | None = None,
    ) -> MessageOutcome:
        marked = await asyncio.to_thread(
            self.store.outbox.mark,
            message.idempotency_key,
            status,
            detail=detail,
            provider_message_id=provider_id,
            sent_at=self.clock() if status == "sent" else None,
        )
        if status != "sent":
            await asyncio.to_thread(self.store.ledger.release, message.idempotency_key)
        await asyncio.to_thread(self._decided, request, status, detail)
        return self._outcome(marked)

    async def _unconfirmed(
        self, request: SendMessage, message: OutboxMessage, why: str
    ) -> MessageOutcome:
        """The provider may have the message: record that, never send it again.

        The journey goes on as if it was sent (the customer most likely has it); the outbox,
        the decision and the `message_uncertain` event say it is unconfirmed and why.
        """
        key = message.idempotency_key
        moved = await asyncio.to_thread(
            self.store.outbox.transition, key, "sending", "uncertain", detail=why[:500]
        )
        if moved is None:  # another attempt settled it first
            settled = await asyncio.to_thread(self.store.outbox.get, key)
            return self._outcome(settled or message, duplicate=True)
        activity.logger.warning("message outcome uncertain", extra={"key": key, "why": why})
        await asyncio.to_thread(self._decided, request, "uncertain", why)
        return self._outcome(moved)

    # --- the record ------------------------------------------------------------------------

    def _decided(
        self,
        request: SendMessage | AbandonMessage,
        decision: str,
        reason: str,
        until: datetime | None = None,
        *,
        rule: str | None = None,
        known: bool = True,
    ) -> None:
        """Record the decision and, for a known customer, the customer event; once each."""
        now = self.clock()
        self.store.ledger.record(
            SendDecision(
                idempotency_key=request.idempotency_key,
                customer_id=request.customer_id,
                journey_id=request.journey_id,
                step_id=request.step_id,
                channel=request.channel,
                category=request.category,
                decision=decision,
                rule=rule,
                reason=reason or decision,
                until=until,
                at=now,
            )
        )
        if not known:
            return
        marker = f"{request.idempotency_key}|{decision}|{until.isoformat() if until else ''}"
        properties: dict[str, str | int | float | bool | None] = {
            "message_key": request.idempotency_key[:200],
            "journey_id": request.journey_id,
            "step_id": request.step_id,
            "channel": request.channel,
            "reason": reason[:500],
        }
        if until is not None:
            properties["until"] = until.isoformat()
        self.store.events.append(
            CustomerEvent(
                event_id=f"msg.{decision}.{hashlib.sha256(marker.encode()).hexdigest()[:40]}",
                customer_id=request.customer_id,
                type=EVENT_OF[decision],
                occurred_at=now,
                properties=properties,
            ),
            now,
        )

    @staticmethod
    def _outcome(message: OutboxMessage, *, duplicate: bool = False) -> MessageOutcome:
        status, detail = message.status, message.detail
        if status == "uncertain":  # the journey treats it as sent; the detail says otherwise
            status, detail = "sent", f"unconfirmed: {detail}"
        return MessageOutcome(
            idempotency_key=message.idempotency_key,
            status=status,
            detail=detail,
            recipient=message.recipient,
            duplicate=duplicate,
        )


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while the provider works, so a worker that dies mid-send is noticed soon."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
