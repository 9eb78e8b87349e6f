"""Consent, unsubscribe links, provider feedback and previews: what the CLI and API share.

Every change is an event in the customer's log too (consent_changed, message_bounced,
message_complained, and message_opened / message_clicked from the tracking pixel and links),
appended through the journey service so running journeys hear of it.
A repeated request has one effect: unsubscribing twice with one link, or the same bounce
reported twice, appends one event and changes nothing more.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from app.journeys import JourneyService
from domain.customers import Consent, CustomerProfile, CustomerUpsert, Phone
from domain.eligibility import (
    RECIPIENT_RULES,
    Rule,
    SendFacts,
    Suppressed,
    Verdict,
    cap_window,
    decide_send,
)
from domain.events import CustomerEvent
from domain.expressions import ExpressionError
from domain.journey import JourneyDefinition, SendStep
from domain.messages import Channel, OutboxMessage, recipient_of
from domain.rendering import RenderedParts, render_message
from domain.send_policy import SendPolicy, load_policy_file
from domain.template_check import sample_context
from domain.tokens import TokenError
from domain.tracking import TrackingLinks, clicked_event, opened_event
from domain.unsubscribe import UnsubscribeLinks
from store.customers import lock_customers
from store.errors import UnknownCustomer, UnknownJourney
from store.send_ledger import SendDecision
from store.suppression import SCOPE_OF, Scope, Suppression
from store.unit_of_work import append_once, unit_of_work
from workers.logging_setup import log
from workers.settings import get_settings


class ConsentChange(BaseModel):
    """Channels to subscribe (true) or unsubscribe (false); channels left out keep their state."""

    model_config = ConfigDict(extra="forbid")

    email: bool | None = None
    sms: bool | None = None
    webhook: bool | None = None


class Feedback(BaseModel):
    """What a provider reports after the fact: a hard bounce or a spam complaint."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["bounce", "complaint"]
    bounce: Literal["hard", "soft"] = Field(
        default="hard",
        description="A hard bounce (no such mailbox) suppresses the address; a soft one (full "
        "mailbox, a temporary refusal) is only recorded.",
    )
    channel: Channel = "email"
    recipient: str = Field(min_length=3, max_length=320)
    message_key: str | None = Field(default=None, max_length=512)
    detail: str = Field(default="", max_length=1000)


class FeedbackOutcome(BaseModel):
    """What a report did: the suppression it made or found (none for a soft bounce)."""

    channel: str
    address: str
    reason: str
    scope: Scope | None = None
    suppressed: bool
    bounce: Literal["hard", "soft"] | None = None
    message_key: str | None = None
    created_at: datetime | None = None
    detail: str = ""


class Preview(BaseModel):
    """A send step rendered for a customer, and what the send activity would decide now."""

    journey_id: str
    step_id: str
    customer_id: str
    channel: str
    category: Literal["transactional", "marketing"] = Field(
        default="marketing", description="The category the message goes out under."
    )
    locale: str
    recipient: str | None
    timezone: str | None = Field(default=None, description="The customer's timezone.")
    would_send: bool
    verdict: Verdict | Literal["fail"] = Field(
        default="send", description="send, defer, skip, suppress; fail: the template breaks."
    )
    rule: Rule | None = Field(default=None, description="The eligibility rule that decided.")
    until: datetime | None = Field(default=None, description="With defer: until when.")
    reason: str = ""
    subject: str = ""
    text: str = ""
    html: str | None = None


_EMAIL = TypeAdapter(EmailStr)
_PHONE = TypeAdapter(Phone)


def check_address(channel: str, recipient: str) -> str:
    """The address in canonical form; ValueError with a clear reason when it is not one."""
    if channel == "email":
        try:
            return str(_EMAIL.validate_python(recipient)).lower()
        except ValueError as exc:
            raise ValueError(f"{recipient!r} is not an email address") from exc
    if channel == "sms":
        try:
            return str(_PHONE.validate_python(recipient))
        except ValueError as exc:
            raise ValueError(f"{recipient!r} is not an E.164 phone number") from exc
    return recipient


def _event_id(prefix: str, *parts: str) -> str:
    return f"{prefix}.{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}"


def _decision(report: Feedback, soft: bool) -> Literal["bounced", "soft_bounced", "complained"]:
    """The send-ledger decision a provider's report makes of its message."""
    if report.type == "complaint":
        return "complained"
    return "soft_bounced" if soft else "bounced"


def _feedback_event(
    report: Feedback, message: OutboxMessage, address: str, decision: str, now: datetime
) -> CustomerEvent:
    """message_bounced or message_complained: one per message and decision."""
    properties: dict[str, str | int | float | bool | None] = {
        "message_key": message.idempotency_key[:200],
        "journey_id": message.journey_id,
        "step_id": message.step_id,
        "channel": report.channel,
        "recipient": address,
        "reason": report.detail[:500],
    }
    if report.type == "bounce":
        properties["bounce"] = report.bounce
    return CustomerEvent(
        event_id=_event_id("feedback", decision, message.idempotency_key),
        customer_id=message.customer_id,
        type="message_bounced" if report.type == "bounce" else "message_complained",
        occurred_at=now,
        properties=properties,
    )


class MessagingService:
    def __init__(
        self,
        journeys: JourneyService,
        links: UnsubscribeLinks | None,
        policy: SendPolicy | None = None,
    ) -> None:
        self.journeys = journeys
        self.store = journeys.store
        self.links = links
        # Tracked links are signed by the workers with the unsubscribe links' secret.
        self.tracking = (
            TrackingLinks(links.secret, links.public_url, links.previous) if links else None
        )
        self._policy = policy

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def policy(self) -> SendPolicy:
        """The workspace send policy previews apply: the one given, else the workers' file."""
        if self._policy is None:
            self._policy = load_policy_file(get_settings().policy_file)
        return self._policy

    async def set_consent(
        self, customer_id: str, change: ConsentChange, source: str, request_id: str
    ) -> CustomerProfile:
        """Change consent and log consent_changed in one transaction, then deliver the event.

        The event id derives from `request_id`: a retried request whose change is already in
        place writes nothing new and delivers the logged event (a request id reused for another
        change is refused with ConflictingEvent, and nothing changes).
        """
        profile, event = await asyncio.to_thread(
            self._set_consent, customer_id, change, source, request_id, self.now()
        )
        await self.journeys.ingest([event])
        return profile

    def _set_consent(
        self,
        customer_id: str,
        change: ConsentChange,
        source: str,
        request_id: str,
        now: datetime,
    ) -> tuple[CustomerProfile, CustomerEvent]:
        with unit_of_work(self.store.engine) as conn:
            if lock_customers(conn, [customer_id]):
                raise UnknownCustomer(customer_id)
            profile = self.store.customers.get(customer_id, conn)
            assert profile is not None
            wanted = {k: v for k, v in change.model_dump().items() if v is not None}
            if not wanted:
                raise ValueError("say which channel to change: email, sms or webhook")
            consent = Consent.model_validate({**profile.consent.model_dump(), **wanted})
            if consent != profile.consent:
                profile = self.store.customers.upsert(
                    CustomerUpsert(customer_id=customer_id, consent=consent), now, conn
                )
            event = CustomerEvent(
                event_id=_event_id("consent", customer_id, request_id),
                customer_id=customer_id,
                type="consent_changed",
                occurred_at=now,
                properties={"source": source, **{k: bool(v) for k, v in wanted.items()}},
            )
            event = append_once(conn, self.store.events, event, now)
            self.journeys.auditor.record(
                None, "consent.change", customer_id, {"source": source, **wanted}, conn=conn
            )
        return profile, event

    async def unsubscribe(self, token: str) -> tuple[str, str]:
        """Unsubscribe the link's customer from its channel; TokenError for a bad link."""
        if self.links is None:
            raise RuntimeError("unsubscribe links are not configured (JOURNEYS_SECRET_KEY)")
        request = self.links.read(token, self.now())
        change = ConsentChange.model_validate({request.channel: False})
        digest = hashlib.sha256(token.encode()).hexdigest()
        await self.set_consent(request.customer_id, change, "unsubscribe link", digest)
        return request.customer_id, request.channel

    async def feedback(self, report: Feedback) -> FeedbackOutcome:
        """Suppress the address (not for a soft bounce); record the outcome of the message.

        With a known `message_key` the customer's log gets message_bounced or
        message_complained (in the suppression's transaction, then delivered, so running
        journeys waiting for it hear it) and the send ledger a `bounced` / `soft_bounced` /
        `complained` decision for funnels. A repeated report changes nothing more: the first
        suppression and the first event logged for the message stand, and are delivered again.
        """
        address = check_address(report.channel, report.recipient)
        soft = report.type == "bounce" and report.bounce == "soft"
        message = self.store.outbox.get(report.message_key) if report.message_key else None
        now = self.now()
        suppression, event = await asyncio.to_thread(
            self._record_feedback, report, message, address, soft, now
        )
        if message is not None:
            # The ledger keeps its own transaction; a decision is kept once per key, so a
            # retried report completes one a crash left out.
            decision = _decision(report, soft)
            self.store.ledger.record(
                SendDecision.on(message, decision, report.detail or decision, now)
            )
        if event is not None:
            await self.journeys.ingest([event])
        bounce = report.bounce if report.type == "bounce" else None
        if suppression is None:
            return FeedbackOutcome(
                channel=report.channel,
                address=address,
                reason=report.type,
                suppressed=False,
                bounce=bounce,
                message_key=message.idempotency_key if message else None,
                detail=report.detail,
            )
        return FeedbackOutcome(
            **suppression.model_dump(),
            suppressed=True,
            bounce=bounce,
            message_key=message.idempotency_key if message else None,
        )

    def _record_feedback(
        self,
        report: Feedback,
        message: OutboxMessage | None,
        address: str,
        soft: bool,
        now: datetime,
    ) -> tuple[Suppression | None, CustomerEvent | None]:
        """The suppression and the message's event, in one transaction."""
        with unit_of_work(self.store.engine) as conn:
            suppression: Suppression | None = None
            if not soft:
                entry = Suppression(
                    channel=report.channel,
                    address=address,
                    reason=report.type,
                    scope=SCOPE_OF[report.type],
                    detail=report.detail,
                    created_at=now,
                )
                self.store.suppressions.add(entry, conn)
                suppression = self.store.suppressions.get(report.channel, address, conn) or entry
            if message is None:
                return suppression, None
            event = append_once(
                conn,
                self.store.events,
                _feedback_event(report, message, address, _decision(report, soft), now),
                now,
                first_wins=True,
            )
        return suppression, event

    async def track_open(self, token: str) -> bool:
        """Record `message_opened` for a genuine pixel token (once per message); False when the
        token is bad, forged or expired, or names no customer we know, and nothing is kept."""
        if self.tracking is None:
            return False
        try:
            opened = self.tracking.read_open(token, self.now())
        except TokenError:
            return False
        properties = self._tracked_message(opened.message_key, opened.customer_id)
        if properties is None:
            return False
        await self._ingest_tracked(opened_event(opened, self.now(), properties))
        return True

    async def track_click(self, token: str) -> str:
        """The signed target of a genuine link token, after recording `message_clicked` (once
        per message and link); TokenError for a bad, forged or expired one (nothing kept)."""
        if self.tracking is None:
            raise TokenError("forged", "tracked links are not configured (JOURNEYS_SECRET_KEY)")
        clicked = self.tracking.read_click(token, self.now())
        properties = self._tracked_message(clicked.message_key, clicked.customer_id)
        if properties is not None:
            await self._ingest_tracked(clicked_event(clicked, self.now(), properties))
        return clicked.url

    def _tracked_message(self, key: str, customer_id: str) -> dict[str, str | None] | None:
        """What the event says about its message; None when the customer is unknown (deleted)."""
        if self.store.customers.get(customer_id) is None:
            return None
        message = self.store.outbox.get(key)
        if message is None or message.customer_id != customer_id:
            return {"journey_id": None, "step_id": None, "channel": "email"}
        return {
            "journey_id": message.journey_id,
            "step_id": message.step_id,
            "channel": message.channel,
        }

    async def _ingest_tracked(self, event: CustomerEvent) -> None:
        # Logged first, or found logged (the first open or click stands: a client fetching
        # again builds it at a later time); a failure to reach running runs must not break
        # the customer's click or show a broken image, and a later fetch delivers it again.
        try:
            event = await asyncio.to_thread(self._log_tracked, event)
            await self.journeys.ingest([event])
        except UnknownCustomer:
            return
        except Exception:
            log().exception("tracking event not delivered", event_id=event.event_id)

    def _log_tracked(self, event: CustomerEvent) -> CustomerEvent:
        now = self.now()
        with unit_of_work(self.store.engine) as conn:
            return append_once(conn, self.store.events, event, now, first_wins=True)

    def preview(
        self, journey_id: str, step_id: str, customer_id: str, locale: str | None = None
    ) -> Preview:
        """What this customer would get from this send step now, and whether it would go.

        The eligibility rule decides as the send activity would for a message asked for now:
        consent, suppression, an open case, quiet hours and the frequency caps (counted, not
        taken)."""
        journey = self.journeys.journey(journey_id)
        step = next((s for s in journey.steps if s.id == step_id), None)
        if not isinstance(step, SendStep):
            sends = ", ".join(s.id for s in journey.steps if isinstance(s, SendStep))
            raise UnknownJourney(f"{journey_id} has no send step {step_id!r} (send steps: {sends})")
        profile = self.store.customers.get(customer_id)
        if profile is None:
            raise UnknownCustomer(customer_id)
        channel = step.send.channel
        recipient = recipient_of(profile, channel)
        context = sample_context(journey) | {"profile": profile.template_context()}
        if self.links is not None:
            context["unsubscribe_url"] = self.links.url(customer_id, channel, self.now())
        category = journey.category_of(step_id)
        decided = decide_send(self._send_facts(journey, category, channel, profile, recipient))
        verdict: Verdict | Literal["fail"] = decided.verdict
        rule, reason = decided.rule, decided.reason
        try:
            parts = render_message(
                journey.template(step.send.template), context, locale or profile.locale
            )
        except ExpressionError as exc:
            parts = RenderedParts(subject="", text="", html=None)
            # As in the send activity: the recipient rules win over a broken template.
            if rule not in RECIPIENT_RULES:
                verdict, rule, reason = "fail", None, str(exc)
        return Preview(
            journey_id=journey_id,
            step_id=step_id,
            customer_id=customer_id,
            channel=channel,
            category=category,
            locale=parts.locale,
            recipient=recipient,
            timezone=profile.timezone,
            would_send=verdict == "send",
            verdict=verdict,
            rule=rule,
            until=decided.until if verdict == "defer" else None,
            reason=reason,
            subject=parts.subject,
            text=parts.text,
            html=parts.html,
        )

    def _send_facts(
        self,
        journey: JourneyDefinition,
        category: str,
        channel: str,
        profile: CustomerProfile,
        recipient: str | None,
    ) -> SendFacts:
        """The facts the send activity would gather for a new message of this journey now."""
        now = self.now()
        entry = self.store.suppressions.get(channel, recipient) if recipient else None
        window = cap_window(self.policy.caps, channel, category)
        return SendFacts(
            channel=channel,
            category=category,
            recipient=recipient,
            consented=bool(getattr(profile.consent, channel)),
            suppression=(
                None
                if entry is None
                else Suppressed(reason=entry.reason, scope=entry.scope, detail=entry.detail)
            ),
            open_cases=self.store.cases.open_for(profile.customer_id),
            after_case=journey.after_case,
            quiet_hours=(
                journey.quiet_hours if journey.quiet_hours is not None else self.policy.quiet_hours
            ),
            timezone=profile.timezone,
            caps=self.policy.caps,
            recent=[]
            if window is None
            else self.store.ledger.recent(profile.customer_id, now - window),
            now=now,
        )
