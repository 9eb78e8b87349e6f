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


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (bad address, 4xx/5xx that retrying won't fix)."""


class Channel(Protocol):
    """Delivers one message; raises PermanentDeliveryError for good, anything else to retry."""

    name: str

    async def deliver(self, message: RenderedMessage) -> str:
        """Hand the message over and return the provider's message id."""
        ...
