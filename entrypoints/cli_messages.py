"""`journeys messages`, `journeys consent`, `journeys suppressions` and `journeys preview`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, get_args
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from app.bootstrap import unsubscribe_links
from app.messaging import ConsentChange, Feedback, MessagingService, Preview
from domain.messages import Channel, MessageStatus
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.errors import StoreError
from workers.settings import get_settings

messages_app = typer.Typer(help="What was sent, and every send decision.", no_args_is_help=True)
consent_app = typer.Typer(help="Per-channel subscription state.", no_args_is_help=True)
suppressions_app = typer.Typer(help="Addresses never to send to.", no_args_is_help=True)


def messaging() -> MessagingService:
    return MessagingService(service(), unsubscribe_links(get_settings()))


@messages_app.command("list")
def list_messages(
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    journey: Annotated[str | None, typer.Option(help="Only this journey.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, uncertain, skipped or failed")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="email, sms or webhook")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    wide: Wide = False,
) -> None:
    """Messages, newest first, with their outcome and why."""
    for name, value, allowed in (
        ("status", status, get_args(MessageStatus)),
        ("channel", channel, get_args(Channel)),
    ):
        if value is not None and value not in allowed:
            raise fail(f"unknown {name} {value!r}: one of {', '.join(allowed)}")
    rows = messaging().store.outbox.list(
        limit, status, customer_id=customer, journey_id=journey, channel=channel
    )
    grid = table(
        "requested (UTC)",
        "customer",
        "journey/step",
        "channel",
        "to",
        "status",
        "detail",
        wide=wide,
        optional=("to", "channel"),
    )
    for m in rows:
        grid.add_row(
            f"{m.requested_at:%Y-%m-%d %H:%M}",
            m.customer_id,
            f"{m.journey_id}/{m.step_id}",
            m.channel,
            m.recipient or "-",
            m.status,
            m.detail or m.subject,
        )
    print_tables(grid)


@messages_app.command("decisions")
def decisions(
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    journey: Annotated[str | None, typer.Option(help="Only this journey.")] = None,
    decision: Annotated[
        str | None, typer.Option(help="sent, deferred, skipped, suppressed or failed")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    wide: Wide = False,
) -> None:
    """Every send decision with its reason: quiet hours, caps, consent, suppression."""
    rows = messaging().store.ledger.decisions(customer, journey, decision, limit)
    grid = table(
        "at (UTC)",
        "customer",
        "journey/step",
        "channel",
        "decision",
        "until (UTC)",
        "reason",
        wide=wide,
        optional=("channel",),
    )
    for d in rows:
        grid.add_row(
            f"{d.at:%Y-%m-%d %H:%M}",
            d.customer_id,
            f"{d.journey_id}/{d.step_id}",
            d.channel,
            d.decision,
            f"{d.until:%Y-%m-%d %H:%M}" if d.until else "",
            d.reason,
        )
    print_tables(grid)


@consent_app.command("set")
def set_consent(
    customer: str,
    channel: Annotated[str, typer.Option(help="email, sms or webhook")],
    subscribed: Annotated[bool, typer.Option("--subscribed/--unsubscribed", help="The new state.")],
) -> None:
    """Subscribe or unsubscribe one channel of a customer (marketing obeys it)."""
    if channel not in ("email", "sms", "webhook"):
        raise fail(f"unknown channel {channel!r}: use email, sms or webhook")
    change = ConsentChange.model_validate({channel: subscribed})
    try:
        profile = asyncio.run(messaging().set_consent(customer, change, "cli", uuid.uuid4().hex))
    except StoreError as exc:
        raise fail(str(exc)) from exc
    state = "subscribed" if getattr(profile.consent, channel) else "unsubscribed"
    console.print(f"{customer}: {channel} {state}")


@suppressions_app.command("list")
def list_suppressions(channel: str | None = None, wide: Wide = False) -> None:
    """Suppressed addresses: bounces (nothing goes), complaints (no marketing), by hand."""
    rows = messaging().store.suppressions.list(channel)
    grid = table("channel", "address", "reason", "scope", "since", "detail", wide=wide)
    for s in rows:
        grid.add_row(s.channel, s.address, s.reason, s.scope, f"{s.created_at:%Y-%m-%d}", s.detail)
    print_tables(grid)


@suppressions_app.command("add")
def add_suppression(
    address: str,
    reason: Annotated[str, typer.Option(help="bounce (all messages) or complaint (marketing)")],
    channel: str = "email",
    detail: str = "",
) -> None:
    """Suppress an address by hand, as a provider's bounce or complaint would."""
    try:
        report = Feedback.model_validate(
            {"type": reason, "channel": channel, "recipient": address, "detail": detail}
        )
        entry = asyncio.run(messaging().feedback(report))
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{entry.channel} {entry.address} suppressed ({entry.reason}, {entry.scope})")


@suppressions_app.command("remove")
def remove_suppression(address: str, channel: str = "email") -> None:
    if not messaging().store.suppressions.remove(channel, address):
        raise fail(f"{address} is not suppressed on {channel}")
    console.print(f"{channel} {address} may be sent to again")


def preview_verdict(shown: Preview) -> str:
    """Would it go now, and if not: why, and until when (in the customer's time)."""
    if shown.would_send:
        return "Now: would be sent at once."
    if shown.verdict == "defer" and shown.until is not None:
        local = shown.until.astimezone(ZoneInfo(shown.timezone)) if shown.timezone else shown.until
        return (
            f"Now: would wait until {local:%Y-%m-%d %H:%M} {local.tzname()} ({shown.rule}: "
            f"{shown.reason}), then be sent."
        )
    what = {"skip": "would be skipped", "suppress": "would NOT be sent", "fail": "would fail"}
    rule = f"{shown.rule}: " if shown.rule else ""
    return f"Now: {what.get(shown.verdict, 'would NOT be sent')} ({rule}{shown.reason})."


def preview(
    journey: str,
    step: str,
    customer: Annotated[str, typer.Option(help="The customer to render for.")],
    locale: Annotated[str | None, typer.Option(help="Another locale than the customer's.")] = None,
) -> None:
    """Render what a customer would get from a send step, and say whether it would go out."""
    try:
        shown = messaging().preview(journey, step, customer, locale)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"[bold]{escape(shown.journey_id)}/{escape(shown.step_id)}[/bold] to "
        f"{escape(shown.recipient or '-')} by {shown.channel}, {shown.category}, "
        f"{shown.locale} locale",
        highlight=False,
    )
    console.print(preview_verdict(shown), highlight=False, markup=False)
    if shown.subject:
        console.print(f"Subject: {shown.subject}", highlight=False)
    console.print(shown.text, highlight=False, markup=False)
    if shown.html:
        console.print("--- html ---")
        console.print(shown.html, highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(messages_app, name="messages")
    app.add_typer(consent_app, name="consent")
    app.add_typer(suppressions_app, name="suppressions")
    app.command("preview")(preview)
