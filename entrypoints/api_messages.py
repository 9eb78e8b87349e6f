"""HTTP: messages and send decisions, consent, the suppression list, provider feedback, and
the public unsubscribe page (a signed link; GET shows a button, POST unsubscribes, which is
also what mail clients' one-click unsubscribe sends, RFC 8058), and the public open pixel and
click-through links of tracked email (domain/tracking.py). The public pages speak the
customer's language, else the browser's (entrypoints/public_texts.py)."""

from __future__ import annotations

import html
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ConfigDict, WithJsonSchema, field_validator, model_validator

from app.messaging import (
    ConsentChange,
    Feedback,
    FeedbackOutcome,
    MessagingService,
    Preview,
)
from domain.customers import CustomerProfile
from domain.events import ConflictingEvent
from domain.messages import OutboxMessage
from domain.tokens import TokenError
from domain.tracking import PIXEL_GIF
from entrypoints.api_common import (
    CONFLICT,
    NOT_FOUND,
    TEMPORAL,
    invalid,
    protected_router,
    requires,
)
from entrypoints.public_texts import channel_name, page_locale, refusal, texts
from store.send_ledger import SendDecision
from store.suppression import Suppression

router = protected_router()
public = APIRouter()
Limit = Annotated[int, Query(ge=1, le=1000)]
log = logging.getLogger(__name__)
# Public pages are never shown inside another site's frame (clickjacking an unsubscribe).
NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


# Sent, a channel is true or false (null and 0 are no answer); left out, it keeps its state.
ChannelChoice = Annotated[bool | None, WithJsonSchema({"type": "boolean"})]


class StrictConsentChange(ConsentChange):
    """Channels to subscribe (true) or unsubscribe (false), at least one; channels left out
    keep their state. Only true and false are answers: `0` is not taken for false."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    email: ChannelChoice = None
    sms: ChannelChoice = None
    webhook: ChannelChoice = None

    @field_validator("email", "sms", "webhook", mode="before")
    @classmethod
    def _sent_means_chosen(cls, value: object) -> object:
        if value is None:
            raise ValueError("true or false; leave a channel out to keep its state")
        return value

    @model_validator(mode="after")
    def _one_channel_at_least(self) -> StrictConsentChange:
        if self.email is None and self.sms is None and self.webhook is None:
            raise ValueError("say which channel to change: email, sms or webhook")
        return self


def get_messaging(request: Request) -> MessagingService:
    messaging: MessagingService = request.app.state.messaging
    return messaging


Messaging = Annotated[MessagingService, Depends(get_messaging)]


@router.get(
    "/messages",
    dependencies=[requires("messages:read")],
    tags=["messages"],
    response_model=list[OutboxMessage],
)
def list_messages(
    messaging: Messaging,
    customer_id: str | None = None,
    journey_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: Limit = 100,
) -> list[OutboxMessage]:
    """Messages, newest first: what was sent, skipped or failed, and why."""
    return messaging.store.outbox.list(
        limit, status, customer_id=customer_id, journey_id=journey_id, channel=channel
    )


@router.get(
    "/decisions",
    dependencies=[requires("messages:read")],
    tags=["messages"],
    response_model=list[SendDecision],
)
def list_decisions(
    messaging: Messaging,
    customer_id: str | None = None,
    journey_id: str | None = None,
    decision: str | None = None,
    limit: Limit = 100,
) -> list[SendDecision]:
    """Every send decision with its reason: sent, deferred (until when), skipped, suppressed."""
    return messaging.store.ledger.decisions(customer_id, journey_id, decision, limit)


@router.put(
    "/customers/{customer_id}/consent",
    dependencies=[requires("consent:write")],
    tags=["customers"],
    response_model=CustomerProfile,
    responses={**NOT_FOUND, **CONFLICT, **TEMPORAL},
)
async def put_consent(
    customer_id: str,
    change: StrictConsentChange,
    messaging: Messaging,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> CustomerProfile:
    """Subscribe or unsubscribe channels; marketing journeys skip unsubscribed channels.

    At least one channel must be sent, as true or false (422 otherwise)."""
    return await messaging.set_consent(
        customer_id, change, "api", idempotency_key or uuid.uuid4().hex
    )


@router.get(
    "/journeys/{journey_id}/steps/{step_id}/preview",
    dependencies=[requires("messages:read")],
    tags=["journeys"],
    response_model=Preview,
    responses=NOT_FOUND,
)
def preview(
    journey_id: str,
    step_id: str,
    customer_id: str,
    messaging: Messaging,
    locale: str | None = None,
) -> Preview:
    """What this customer would get from this send step, and whether it would go out."""
    return messaging.preview(journey_id, step_id, customer_id, locale)


@router.get(
    "/suppressions",
    dependencies=[requires("messages:read")],
    tags=["messages"],
    response_model=list[Suppression],
)
def list_suppressions(
    messaging: Messaging, channel: str | None = None, limit: Limit = 100
) -> list[Suppression]:
    return messaging.store.suppressions.list(channel, limit)


@router.post(
    "/providers/feedback",
    dependencies=[requires("messages:write")],
    tags=["messages"],
    response_model=FeedbackOutcome,
    responses={**CONFLICT, **TEMPORAL},
)
async def provider_feedback(report: Feedback, messaging: Messaging) -> FeedbackOutcome:
    """A provider's bounce or complaint: the address suppressed (not for a soft bounce) and,
    for a known `message_key`, message_bounced / message_complained in the customer's log.

    `recipient` must be an address of `channel` (an email address, an E.164 number; 422)."""
    try:
        return await messaging.feedback(report)
    except ConflictingEvent:
        raise
    except ValueError as exc:
        raise invalid(("body", "recipient"), str(exc), report.recipient) from exc


@router.delete(
    "/suppressions/{channel}/{address}",
    dependencies=[requires("consent:write")],
    tags=["messages"],
    status_code=204,
    responses=NOT_FOUND,
)
def delete_suppression(channel: str, address: str, messaging: Messaging) -> None:
    if not messaging.store.suppressions.remove(channel, address):
        raise HTTPException(404, f"{address} is not suppressed on {channel}")
    messaging.journeys.auditor.record(None, "suppression.remove", f"{channel}/{address}")


# --- the public unsubscribe page ---------------------------------------------------------------


AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]


def _page(locale: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='{html.escape(locale)}'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers=NO_FRAMING,
    )


def _refused(exc: TokenError, locale: str) -> HTMLResponse:
    status = 410 if exc.reason == "expired" else 400
    why = refusal(exc.reason, str(exc), locale)
    return _page(locale, texts(locale)["bad"], f"<p>{html.escape(why)}</p>", status)


def _locale(messaging: MessagingService, customer_id: str | None, accept: str | None) -> str:
    """The customer's language when the link names one, else the browser's."""
    profile = messaging.store.customers.get(customer_id) if customer_id else None
    return page_locale(profile.locale if profile else None, accept)


@public.get("/unsubscribe", include_in_schema=False)
def unsubscribe_page(
    token: str, messaging: Messaging, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    if messaging.links is None:
        locale = page_locale(None, accept_language)
        return _page(locale, texts(locale)["unsubscribe.unavailable"], "", 503)
    try:
        request = messaging.links.read(token, messaging.now())
    except TokenError as exc:
        return _refused(exc, page_locale(None, accept_language))
    locale = _locale(messaging, request.customer_id, accept_language)
    words = texts(locale)
    question = words["unsubscribe.question"].format(channel=channel_name(request.channel, locale))
    form = (
        f"<p>{html.escape(question)}</p>"
        f"<form method='post' action='/unsubscribe?token={html.escape(token)}'>"
        f"<button type='submit'>{html.escape(words['unsubscribe.button'])}</button></form>"
    )
    return _page(locale, words["unsubscribe.title"], form)


@public.post("/unsubscribe", include_in_schema=False)
async def unsubscribe(
    token: str, messaging: Messaging, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    if messaging.links is None:
        locale = page_locale(None, accept_language)
        return _page(locale, texts(locale)["unsubscribe.unavailable"], "", 503)
    try:
        customer_id, channel = await messaging.unsubscribe(token)
    except TokenError as exc:
        return _refused(exc, page_locale(None, accept_language))
    locale = _locale(messaging, customer_id, accept_language)
    words = texts(locale)
    done = words["unsubscribe.done_body"].format(channel=channel_name(channel, locale))
    return _page(locale, words["unsubscribe.done"], f"<p>{html.escape(done)}</p>")


# --- open and click tracking -------------------------------------------------------------------

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


@public.get("/t/o/{token}.gif", include_in_schema=False)
async def open_pixel(token: str, messaging: Messaging) -> Response:
    """Always the 1x1 GIF, so a mail client never shows a broken image; only a genuine token
    records `message_opened` (once per message)."""
    try:
        await messaging.track_open(token)
    except Exception:
        # A mail client shows whatever this answers: never a broken image, whatever failed.
        log.exception("recording an open failed")
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)


@public.get("/t/c/{token}", include_in_schema=False, response_model=None)
async def click_through(
    token: str, messaging: Messaging, accept_language: AcceptLanguage = None
) -> Response:
    """302 to the URL inside the signature (never one from the request) after recording
    `message_clicked`; a forged link gets 400, an expired one 410, and nothing is recorded."""
    try:
        url = await messaging.track_click(token)
    except TokenError as exc:
        return _refused(exc, page_locale(None, accept_language))
    return RedirectResponse(url, status_code=302, headers=NO_STORE)
