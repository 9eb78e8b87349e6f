"""Customer events: the append-only history every projection and journey reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from domain.customers import CustomerId, check_json_tree
from domain.limits import MAX_EVENT_ID

EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")
]
EventId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=MAX_EVENT_ID, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
    ),
]

MAX_PROPERTIES_BYTES = 16 * 1024


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str))
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties are {size} bytes; at most {MAX_PROPERTIES_BYTES} allowed")
    return value


# An event's properties: any JSON object of at most MAX_PROPERTIES_BYTES, nested at most
# MAX_NESTING_DEPTH deep, of valid text.
EventProperties = Annotated[
    dict[str, Any],
    BeforeValidator(lambda value: check_json_tree(value, "properties")),
    AfterValidator(_bounded),
]


def _timestamp_text(value: Any) -> Any:
    # Strict: a number is no timestamp (0 would be 1970-01-01), only ISO 8601 text is.
    if not isinstance(value, str | datetime):
        raise ValueError("occurred_at must be an ISO 8601 string with a timezone")
    return value


def _in_range(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 is a valid literal but no instant in UTC: the log keeps UTC.
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(
            f"occurred_at {value.isoformat()} is outside the years 1-9999 once in UTC"
        ) from exc
    return value


# When an event happened: ISO 8601 with a timezone, representable in UTC.
OccurredAt = Annotated[AwareDatetime, BeforeValidator(_timestamp_text), AfterValidator(_in_range)]


class CustomerEvent(BaseModel):
    """One thing that happened to one customer.

    `event_id` is the caller's key: sending the same event twice has one effect.
    `occurred_at` must carry a timezone; naive timestamps are refused, never guessed.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    customer_id: CustomerId
    type: EventType
    occurred_at: OccurredAt
    properties: EventProperties = Field(default_factory=dict)

    def template_context(self) -> dict[str, Any]:
        """The event as templates and conditions see it (`trigger.order_id`)."""
        return {
            **self.properties,
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
        }


def differing_field(first: CustomerEvent, second: CustomerEvent) -> str | None:
    """The first field in which two events sent under one event id differ, or None.

    What an event means is its customer, type and properties (compared as JSON, as the log
    keeps them). `occurred_at` is not compared: producers that stamp the time when they send
    give a retry a later time, and the log keeps the first.
    """
    if first.customer_id != second.customer_id:
        return "customer_id"
    if first.type != second.type:
        return "type"
    ours = json.loads(json.dumps(first.properties, default=str, sort_keys=True))
    theirs = json.loads(json.dumps(second.properties, default=str, sort_keys=True))
    if ours != theirs:
        differing = sorted(
            key for key in {*ours, *theirs} if ours.get(key, ...) != theirs.get(key, ...)
        )
        return f"properties.{differing[0]}" if differing else "properties"
    return None


class ConflictingEvent(ValueError):
    """An event id the log already holds (or the batch repeats) with a different body."""

    def __init__(self, event_id: str, field: str) -> None:
        super().__init__(
            f"event {event_id!r} was already sent with a different {field}: an event id "
            f"names one event; send a new id for a new event"
        )
        self.event_id = event_id
        self.field = field


class LoggedEvent(BaseModel):
    """An event with its position in the log, as deliveries and catch-up reads carry it."""

    seq: int
    event: CustomerEvent


class StoredEvent(CustomerEvent):
    """An event as the log holds it, with its position and arrival time."""

    seq: int
    received_at: datetime


class AppendResult(BaseModel):
    """What appending an event did: stored it, or recognised a duplicate event id."""

    event_id: str
    duplicate: bool
    seq: int | None = None  # its position in the log
