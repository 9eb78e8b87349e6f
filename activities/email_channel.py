"""Email over SMTP (aiosmtplib): multipart text and HTML, a Message-ID from the idempotency key."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from activities.channels import PermanentDeliveryError, RenderedMessage

IDEMPOTENCY_HEADER = "X-Journeys-Idempotency-Key"


def message_id(idempotency_key: str, domain: str) -> str:
    """The same key always yields the same Message-ID, so receivers can drop a duplicate."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class SmtpEmailChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    def build(self, message: RenderedMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message_id(message.idempotency_key, self.sender.split("@")[-1])
        email[IDEMPOTENCY_HEADER] = message.idempotency_key
        if message.unsubscribe_url:
            # RFC 2369 and RFC 8058: mail clients offer an unsubscribe button that POSTs here.
            email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    async def deliver(self, message: RenderedMessage) -> str:
        email = self.build(message)
        try:
            await aiosmtplib.send(
                email, hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipient refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise
        return str(email["Message-ID"])
