"""Email over SMTP (aiosmtplib): multipart text and HTML, a Message-ID from the idempotency key."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from activities.channels import (
    Commit,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    UncertainDeliveryError,
)

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
        """The message; PermanentDeliveryError when a header value would carry a line break
        (header injection: a retry cannot heal it)."""
        email = EmailMessage()
        headers = {
            "From": self.sender,
            "To": message.recipient,
            "Subject": message.subject,
            "Date": formatdate(localtime=False),
            "Message-ID": message_id(message.idempotency_key, self.sender.split("@")[-1]),
            IDEMPOTENCY_HEADER: message.idempotency_key,
        }
        if message.unsubscribe_url:
            # RFC 2369 and RFC 8058: mail clients offer an unsubscribe button that POSTs here.
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise PermanentDeliveryError(
                    f"the {name} header would contain a line break (CR/LF): refused, "
                    "since it could inject headers; fix the template or the profile value"
                )
            email[name] = value
        email.set_content(message.text, cte=body_encoding(message.text))
        if message.html:
            email.add_alternative(message.html, subtype="html", cte=body_encoding(message.html))
        return email

    async def deliver(self, message: RenderedMessage) -> str:
        return await self.deliver_committing(message, _no_commit)

    async def deliver_committing(self, message: RenderedMessage, commit: Commit) -> str:
        """Drive the SMTP dialogue step by step; `commit` runs right before DATA.

        Up to RCPT nothing has been handed over, so any failure is a plain retry or refusal.
        From DATA on, an explicit reply (4xx, 5xx) still means "not taken", but a timeout or a
        dropped connection leaves the server's decision unknown: UncertainDeliveryError.
        """
        email = self.build(message)
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False
        )
        try:
            try:
                await smtp.connect()
                await smtp.ehlo()
                options, cte = _mail_options(smtp, self.sender, message.recipient)
                await smtp.mail(self.sender, options=options)
                await smtp.rcpt(message.recipient)
                content = flatten(email, utf8="SMTPUTF8" in options, cte_type=cte)
            except aiosmtplib.SMTPResponseException as exc:
                raise _refusal(exc, "before DATA") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise TransientDeliveryError(f"SMTP failed before DATA: {exc!r}") from exc
            await commit()
            try:
                await smtp.data(content)
            except aiosmtplib.SMTPResponseException as exc:
                raise _refusal(exc, "at DATA") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise UncertainDeliveryError(f"SMTP cut off during DATA: {exc!r}") from exc
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await smtp.quit()  # the message is taken; a failed goodbye changes nothing
        finally:
            smtp.close()
        return str(email["Message-ID"])


def body_encoding(text: str) -> str:
    """The transfer encoding of a text part, chosen so the part stays readable as it is
    (`cat` a captured .eml): 7bit for ASCII, 8bit (UTF-8 as it is) for any other text, and
    quoted-printable only when a line is longer than SMTP allows (998 bytes). The stdlib's own
    choice for UTF-8 was base64 as soon as a line passed 78 bytes: one sentence in Chinese."""
    lines = text.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) > MAX_LINE_BYTES:
        return "quoted-printable"
    return "7bit" if text.isascii() else "8bit"


MAX_LINE_BYTES = 998  # RFC 5321 and 5322: a line without its CR LF


def flatten(email: EmailMessage, *, utf8: bool, cte_type: str) -> bytes:
    """The message as SMTP sends it. Lines may be up to 998 characters (RFC 5322), so a long
    List-Unsubscribe URL stays one plain ASCII line: folded at 78 it would be RFC 2047-encoded,
    which mail clients cannot parse as a URL (RFC 8058 one-click breaks).

    To a server without 8BITMIME (`cte_type` 7bit) 8bit parts go as quoted-printable, which
    keeps ASCII text readable (the stdlib would pick base64 for UTF-8)."""
    base = policy.SMTPUTF8 if utf8 else policy.SMTP
    chosen = base.clone(max_line_length=MAX_LINE_BYTES)
    if cte_type != "8bit":
        chosen = chosen.clone(cte_type=cte_type)
        email = _quoted_printable(email)
    with io.BytesIO() as out:
        BytesGenerator(out, policy=chosen).flatten(email)
        return out.getvalue()


def _quoted_printable(email: EmailMessage) -> EmailMessage:
    """A copy of `email` whose 8bit text parts are quoted-printable."""
    email = copy.deepcopy(email)
    for part in email.walk():
        if part.get_content_maintype() == "text" and part["Content-Transfer-Encoding"] == "8bit":
            assert isinstance(part, EmailMessage)
            part.set_content(
                part.get_content(), subtype=part.get_content_subtype(), cte="quoted-printable"
            )
    return email


def _mail_options(smtp: aiosmtplib.SMTP, *addresses: str) -> tuple[list[str], str]:
    """MAIL FROM options and the transfer encoding the server's extensions allow."""
    options: list[str] = []
    if not "".join(addresses).isascii():
        if not smtp.supports_extension("smtputf8"):
            raise PermanentDeliveryError("a non-ASCII address, and the server lacks SMTPUTF8")
        options.append("SMTPUTF8")
    if smtp.supports_extension("8BITMIME"):
        return [*options, "BODY=8BITMIME"], "8bit"
    return options, "7bit"


async def _no_commit() -> None:
    return None


def _refusal(exc: aiosmtplib.SMTPResponseException, stage: str) -> Exception:
    """5xx is a refusal for good; 4xx (a full mailbox, greylisting) is worth retrying."""
    what = "recipient refused" if isinstance(exc, aiosmtplib.SMTPRecipientRefused) else "SMTP"
    text = f"{what} {stage}: {exc.code} {exc.message}"
    if 500 <= exc.code < 600:
        return PermanentDeliveryError(text)
    return TransientDeliveryError(text)
