"""Customer events: the append-only history every projection and journey reads."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from domain.customers import CustomerId

EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")
]
EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]

MAX_PROPERTIES_BYTES = 16 * 1024


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str))
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties are {size} bytes; at most {MAX_PROPERTIES_BYTES} allowed")
    return value


# An event's properties: any JSON object of at most MAX_PROPERTIES_BYTES.
EventProperties = Annotated[dict[str, Any], AfterValidator(_bounded)]


class CustomerEvent(BaseModel):
    """One thing that happened to one customer.

    `event_id` is the caller's key: sending the same event twice has one effect.
    `occurred_at` must carry a timezone; naive timestamps are refused, never guessed.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    customer_id: CustomerId
    type: EventType
    occurred_at: AwareDatetime
    properties: EventProperties = Field(default_factory=dict)

    def template_context(self) -> dict[str, Any]:
        """The event as templates and conditions see it (`trigger.order_id`)."""
        return {
            **self.properties,
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
        }


class StoredEvent(CustomerEvent):
    """An event as the log holds it, with its position and arrival time."""

    seq: int
    received_at: datetime


class AppendResult(BaseModel):
    """What appending an event did: stored it, or recognised a duplicate event id."""

    event_id: str
    duplicate: bool
