"""The channel interface every message provider implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

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


class UncertainDeliveryError(Exception):
    """The provider may have taken the message: the transfer was cut off after it began.

    Sending again could make a second copy, so the message is recorded as uncertain instead.
    """


Commit = Callable[[], Awaitable[None]]


class Channel(Protocol):
    """Delivers one message; raises PermanentDeliveryError for good, anything else to retry."""

    name: str

    async def deliver(self, message: RenderedMessage) -> str:
        """Hand the message over and return the provider's message id."""
        ...


@runtime_checkable
class CommittingChannel(Protocol):
    """A channel without provider-side idempotency (SMTP): it names its point of no return.

    `commit` is awaited right before the message content is handed over (SMTP DATA); failures
    before it are safe to retry, and once it has run a retry must not send again.
    """

    name: str

    async def deliver(self, message: RenderedMessage) -> str: ...

    async def deliver_committing(self, message: RenderedMessage, commit: Commit) -> str: ...
