"""The channel interface every message provider implements."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel


class RenderedMessage(BaseModel):
    """A message ready to hand to a provider."""

    idempotency_key: str
    channel: str
    recipient: str
    subject: str = ""
    text: str = ""
    html: str | None = None
    category: str = "marketing"
    customer_id: str = ""
    unsubscribe_url: str | None = None  # marketing email carries List-Unsubscribe headers


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (bad address, a 4xx that retrying won't fix)."""


class TransientDeliveryError(Exception):
    """The provider failed in a way worth retrying (5xx, 429, a timeout); Temporal retries."""


class Channel(Protocol):
    """Delivers one message; raises PermanentDeliveryError for good, anything else to retry."""

    name: str

    async def deliver(self, message: RenderedMessage) -> str:
        """Hand the message over and return the provider's message id."""
        ...
