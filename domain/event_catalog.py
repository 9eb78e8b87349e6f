"""The event catalog: which customer events exist, who records them, and who listens for them.

Three sources, one table:
- the events the product itself appends to a customer's log (a case resolved, a message
  opened, a survey answered, ...): `PRODUCT_EVENTS`, the single home of that list (a test
  compares it with every event type the code appends, so it cannot drift silently);
- the business events the built-in journeys expect the customer's own systems (producers) to
  send (`signed_up`, `order_completed`, ...): `BUSINESS_EVENTS`;
- the events the published journeys listen for (their triggers, `wait_for` steps and goals),
  passed in by the caller, so this module stays pure.

`event_name_warnings` is the rule `journeys validate` applies: a trigger, `wait_for` or goal
naming an event no one records or sends is a warning (the journey would never fire or never
see it), with the closest known name as a suggestion. It is a warning, not a problem: the
producer that will send a new event may not exist yet.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from domain.callbacks import CALLBACK_COMPLETED
from domain.importing import ORDER_COMPLETED
from domain.journey import JourneyDefinition, WaitForStep
from domain.listening import CASE_RESOLVED, listened_event_types
from domain.problems import Problem
from domain.surveys import SURVEY_ANSWERED

RecordedBy = Literal["product", "producers"]


@dataclass(frozen=True)
class KnownEvent:
    """An event type the catalog describes: what it means and the properties it carries."""

    type: str
    description: str
    properties: tuple[str, ...] = ()


_MESSAGE = ("message_key", "journey_id", "step_id", "channel", "reason")
_CASE = ("case_id", "category", "severity", "status", "queue")

# Every event type the product appends to a customer's log, and the properties it writes.
PRODUCT_EVENTS: tuple[KnownEvent, ...] = (
    KnownEvent(
        "journey_enrolled",
        "A customer was put into a journey by hand (`journeys enroll`, the API), by the "
        "journey's audience or by another journey's `start` step (then started_by_journey, "
        "started_by_run and started_by_step name it); carries the enrollment's own "
        "properties too.",
        ("journey_id",),
    ),
    KnownEvent("message_sent", "A journey's message was handed to the provider.", _MESSAGE),
    KnownEvent(
        "message_uncertain",
        "A send stopped midway; the journey treats the message as sent.",
        _MESSAGE,
    ),
    KnownEvent(
        "message_deferred",
        "A message waits (quiet hours, a frequency cap, an open case) until `until`.",
        (*_MESSAGE, "until"),
    ),
    KnownEvent(
        "message_suppressed",
        "A message was not sent: no consent, a suppressed or missing address, a holdout.",
        _MESSAGE,
    ),
    KnownEvent("message_failed", "A message failed for good.", _MESSAGE),
    KnownEvent(
        "message_bounced",
        "The provider reported a bounce (`bounce`: hard or soft).",
        ("message_key", "journey_id", "step_id", "channel", "recipient", "reason", "bounce"),
    ),
    KnownEvent(
        "message_complained",
        "The recipient marked the message as spam.",
        ("message_key", "journey_id", "step_id", "channel", "recipient", "reason"),
    ),
    KnownEvent(
        "message_opened",
        "The tracking pixel of an email was loaded (once per message).",
        ("message_key", "journey_id", "step_id", "channel"),
    ),
    KnownEvent(
        "message_clicked",
        "A tracked link in a message was followed (once per message and link).",
        ("message_key", "url", "journey_id", "step_id", "channel"),
    ),
    KnownEvent(
        "consent_changed",
        'Consent changed; an unsubscribe link gives `source` "unsubscribe link" and the '
        "channel false.",
        ("source", "email", "sms", "webhook"),
    ),
    KnownEvent("case_opened", "A complaint case was opened.", _CASE),
    KnownEvent("case_escalated", "A case breached its SLA and moved to supervisors.", _CASE),
    KnownEvent(CASE_RESOLVED, "A case was resolved.", _CASE),
    KnownEvent("case_reopened", "A resolved case was reopened.", _CASE),
    KnownEvent("case_closed", "A resolved case was not reopened in time and closed.", _CASE),
    KnownEvent(
        CALLBACK_COMPLETED,
        "An agent recorded a callback's outcome (reached, no_answer, call_back_later, "
        "do_not_contact).",
        ("task_id", "outcome", "notes", "agent", "journey_id", "call_back_at", "next_task_id"),
    ),
    KnownEvent(
        SURVEY_ANSWERED,
        "A customer answered an NPS or CSAT survey (`kind`, `score`).",
        ("survey_id", "kind", "score", "comment", "journey_id"),
    ),
)

# The business events the built-in journeys (journeys/*.yaml) expect producers to send; the
# properties are those the journeys and the projections read.
BUSINESS_EVENTS: tuple[KnownEvent, ...] = (
    KnownEvent("signed_up", "A customer created an account."),
    KnownEvent("lead_created", "A prospect left their details.", ("source",)),
    KnownEvent(
        ORDER_COMPLETED,
        "A customer placed an order; RFM, tiers and churn read `amount` and `items` "
        "(`journeys import cdnow` records these too).",
        ("order_id", "amount", "items", "currency"),
    ),
    KnownEvent("order_delivered", "An order arrived.", ("order_id",)),
    KnownEvent("order_refunded", "An order was refunded.", ("order_id",)),
    KnownEvent("profile_completed", "A customer completed their profile."),
    KnownEvent("onboarding_completed", "A customer finished onboarding on their own."),
    KnownEvent(
        "birthday_reached", "A customer's birthday; the birthday_today segment enrolls too."
    ),
    KnownEvent(
        "signup_anniversary_reached",
        "A sign-up anniversary; the signup_anniversary segment enrolls too.",
    ),
    KnownEvent("vip_reached", "A customer became a VIP; the vip segment enrolls too."),
    KnownEvent(
        "customer_lapsed", "A buyer stopped buying; the at_risk_buyers segment enrolls too."
    ),
)

LISTENED_ONLY = "Sent by producers, as a published journey expects; no built-in journey uses it."


class EventTypeInfo(BaseModel):
    """One row of the catalog."""

    type: str
    recorded_by: RecordedBy = Field(
        description="`product`: the engine appends it; `producers`: your systems send it."
    )
    description: str
    journeys: list[str] = Field(
        description="Published journeys it triggers or that listen for it (wait_for, goals, "
        "surveys, callbacks)."
    )
    properties: list[str] = Field(
        description="Properties it carries, and those the published journeys match on."
    )


class EventCatalog(BaseModel):
    """Every event type the product records, the built-in journeys expect, or a published
    journey listens for: product events first, then producers' events, each by name."""

    events: list[EventTypeInfo]


def _add(found: dict[str, list[str]], event: str, keys: Iterable[str]) -> None:
    listed = found.setdefault(event, [])
    listed += [key for key in keys if key not in listed]


def journey_events(journey: JourneyDefinition) -> dict[str, list[str]]:
    """The event types `journey` reacts to, each with the property keys it matches or keys on.

    Its trigger and what its runs listen for. A send step listens for case_resolved only to
    resend a message an open case held back; that is the engine's business, not the journey's,
    so it counts only where the journey names case_resolved itself.
    """
    found: dict[str, list[str]] = {}
    trigger = journey.trigger
    keyed = [trigger.correlate_on] if trigger.correlate_on else []
    _add(found, trigger.event, [*trigger.match, *keyed])
    for goal in journey.exit_when:
        _add(found, goal.event, goal.match)
    for step in journey.steps:
        if isinstance(step, WaitForStep):
            _add(found, step.wait_for.event, step.wait_for.match)
    for event in sorted(listened_event_types(journey) - {CASE_RESOLVED}):
        _add(found, event, [])
    return found


def event_catalog(published: Iterable[JourneyDefinition]) -> EventCatalog:
    """The catalog, given the published journeys (newest version of each)."""
    listeners: dict[str, set[str]] = {}
    matched: dict[str, list[str]] = {}
    for journey in published:
        for event, keys in journey_events(journey).items():
            listeners.setdefault(event, set()).add(journey.id)
            _add(matched, event, keys)

    def row(known: KnownEvent, by: RecordedBy) -> EventTypeInfo:
        properties = list(known.properties)
        properties += [key for key in matched.get(known.type, []) if key not in properties]
        return EventTypeInfo(
            type=known.type,
            recorded_by=by,
            description=known.description,
            journeys=sorted(listeners.get(known.type, ())),
            properties=properties,
        )

    described = {known.type for known in (*PRODUCT_EVENTS, *BUSINESS_EVENTS)}
    others = [KnownEvent(event, LISTENED_ONLY) for event in listeners if event not in described]
    product = [row(known, "product") for known in PRODUCT_EVENTS]
    producers = [row(known, "producers") for known in (*BUSINESS_EVENTS, *others)]
    return EventCatalog(
        events=sorted(product, key=lambda r: r.type) + sorted(producers, key=lambda r: r.type)
    )


def known_event_types(
    published: Iterable[JourneyDefinition] = (), *, besides: str | None = None
) -> frozenset[str]:
    """Event types someone records or sends: the product's, the built-in journeys' business
    events, and those the published journeys other than `besides` react to."""
    known = {known.type for known in (*PRODUCT_EVENTS, *BUSINESS_EVENTS)}
    for journey in published:
        if journey.id != besides:
            known.update(journey_events(journey))
    return frozenset(known)


@dataclass(frozen=True)
class EventWarning:
    """A journey names an event no one records or sends; it names file, step and field."""

    event: str
    suggestion: str | None
    field: str
    step: str | None = None
    file: str | None = None

    @property
    def message(self) -> str:
        said = f'no one records or sends "{self.event}"'
        return f'{said}; did you mean "{self.suggestion}"?' if self.suggestion else said

    def __str__(self) -> str:
        return str(Problem(self.message, field=self.field, step=self.step, file=self.file))


def event_name_warnings(
    journey: JourneyDefinition,
    published: Iterable[JourneyDefinition] = (),
    file: str | None = None,
) -> list[EventWarning]:
    """Warnings for the trigger, `wait_for` steps and goals of `journey` that name an event
    no one records or sends, each with the closest known name when one is close.

    A journey with an audience is entered by its segment whatever its trigger event, so its
    trigger is not checked. A published journey counts as a sender of the events it reacts
    to (some producer must send them), except the journey being checked itself.
    """
    known = known_event_types(published, besides=journey.id)
    named: list[tuple[str | None, str, str]] = []
    if journey.audience is None:
        named.append((None, "trigger.event", journey.trigger.event))
    named += [(None, f"exit_when[{i}].event", g.event) for i, g in enumerate(journey.exit_when)]
    named += [
        (step.id, "wait_for.event", step.wait_for.event)
        for step in journey.steps
        if isinstance(step, WaitForStep)
    ]
    choices = sorted(known)
    return [
        EventWarning(
            event=event,
            suggestion=next(iter(difflib.get_close_matches(event, choices, n=1)), None),
            field=field,
            step=step,
            file=file,
        )
        for step, field, event in named
        if event not in known
    ]
