"""Who may enter a journey: trigger matching, run keys, and the re-entry policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.limits import MAX_CORRELATION_VALUE
from domain.runs import Enrollment


class EntryDecision(BaseModel):
    """Whether a customer starts a new run, and if not, why."""

    enter: bool
    reason: str


class KeyTooLong(ValueError):
    """A correlation value too long to key a run (its workflow id would not fit)."""

    def __init__(self, journey_id: str, key: str, length: int) -> None:
        super().__init__(
            f"journey {journey_id!r} correlates on {key!r}: the value has {length} characters, "
            f"at most {MAX_CORRELATION_VALUE} can key a run"
        )
        self.key = key


def correlation_key(journey: JourneyDefinition, event: CustomerEvent) -> str | None:
    """The value that keys this run, when the trigger correlates on an event property."""
    key = journey.trigger.correlate_on
    if key is None:
        return None
    value = event.properties.get(key)
    if value is None or value == "":
        raise ValueError(
            f"journey {journey.id!r} correlates on {key!r} but event {event.event_id!r} "
            f"has no such property"
        )
    text = str(value)
    if len(text) > MAX_CORRELATION_VALUE:
        raise KeyTooLong(journey.id, key, len(text))
    return text


def key_problem(journeys: list[JourneyDefinition], event: CustomerEvent) -> KeyTooLong | None:
    """Why `event` cannot key a run of a journey it triggers, if it cannot: checked before the
    event is accepted, so it is refused whole rather than logged and then parked."""
    for journey in journeys:
        if journey.trigger.correlate_on is None:
            continue
        if not journey.trigger.matches(event.type, event.properties):
            continue
        try:
            correlation_key(journey, event)
        except KeyTooLong as exc:
            return exc
        except ValueError:
            continue  # no value: the delivery skips that journey and says why
    return None


def workflow_id(journey_id: str, customer_id: str, correlation: str | None = None) -> str:
    """The deterministic id of a customer's run: journey/{journey}/{customer}[/{key}]."""
    base = f"journey/{journey_id}/{customer_id}"
    return f"{base}/{correlation}" if correlation is not None else base


def shifted(at: datetime, by: timedelta) -> datetime:
    """`at + by`, held at the ends of the calendar instead of overflowing (a cooldown longer
    than the calendar then simply never reopens)."""
    try:
        return at + by
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=UTC)
            if by > timedelta(0)
            else datetime.min.replace(tzinfo=UTC)
        )


def decide_entry(
    journey: JourneyDefinition, history: list[Enrollment], now: datetime
) -> EntryDecision:
    """Apply the trigger's re-entry policy to the customer's earlier runs (oldest first)."""
    if any(run.status == "running" for run in history):
        return EntryDecision(enter=False, reason="already in this journey")
    if not history:
        return EntryDecision(enter=True, reason="first entry")
    policy = journey.trigger.re_entry
    last = history[-1]
    if policy == "once":
        return EntryDecision(
            enter=False, reason=f"re_entry once: entered already on {last.entered_at:%Y-%m-%d}"
        )
    if policy == "cooldown" and journey.trigger.cooldown is not None:
        reopens = shifted(last.entered_at, journey.trigger.cooldown)
        if now < reopens:
            return EntryDecision(
                enter=False, reason=f"re_entry cooldown: may enter again from {reopens.isoformat()}"
            )
    return EntryDecision(enter=True, reason=f"re-entry allowed ({policy})")
