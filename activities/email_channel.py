"""Email over SMTP (aiosmtplib): multipart text and HTML, a Message-ID from the idempotency key.

To a real relay: STARTTLS or implicit TLS with the certificate always verified, SMTP AUTH, and
a timeout on every step. A relay the settings do not fit (a refused login, an untrusted
certificate, a port that does not speak the configured TLS) fails the message for good with
the cause and the setting to fix: it happens before anything is handed over, and retrying
cannot heal it, so the outbox says "failed" and why instead of retrying in silence.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import ssl
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Literal, get_args

import aiosmtplib

from activities.channels import (
    Commit,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    UncertainDeliveryError,
)

IDEMPOTENCY_HEADER = "X-Journeys-Idempotency-Key"

SmtpTls = Literal["off", "starttls", "tls"]

log = logging.getLogger(__name__)


class SmtpConfigurationError(PermanentDeliveryError):
    """The relay and the settings disagree (login, certificate, TLS mode or port): a person
    has to change a setting, so the send fails with the cause instead of being retried."""


def message_id(idempotency_key: str, domain: str) -> str:
    """The same key always yields the same Message-ID, so receivers can drop a duplicate."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class SmtpEmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        timeout: float = 30.0,
        tls: SmtpTls = "off",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | str | None = None,
    ) -> None:
        """ValueError, naming the setting, for a combination that can never work."""
        if tls not in get_args(SmtpTls):
            raise ValueError(f"JOURNEYS_SMTP_TLS={tls!r}: expected starttls, tls or off")
        if bool(username) != bool(password):
            raise ValueError(
                "JOURNEYS_SMTP_USERNAME and JOURNEYS_SMTP_PASSWORD go together: set both or neither"
            )
        if username and tls == "off":
            raise ValueError(
                "JOURNEYS_SMTP_USERNAME is set but JOURNEYS_SMTP_TLS=off: the password would "
                "cross the network in clear text; set JOURNEYS_SMTP_TLS=starttls (port 587) or "
                "tls (port 465)"
            )
        if ca_file and tls == "off":
            raise ValueError("JOURNEYS_SMTP_CA_FILE is set but JOURNEYS_SMTP_TLS=off")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.tls: SmtpTls = tls
        self.username = username or None
        self.password = password or None
        self.tls_context = tls_context(ca_file) if tls != "off" else None

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
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.tls == "tls",
            start_tls=False,  # upgraded by hand in _open, so a relay without it is an error
            tls_context=self.tls_context,
        )
        try:
            try:
                await self._open(smtp)
                options, cte = _mail_options(smtp, self.sender, message.recipient)
                await smtp.mail(self.sender, options=options)
                await smtp.rcpt(message.recipient)
                content = flatten(email, utf8="SMTPUTF8" in options, cte_type=cte)
            except aiosmtplib.SMTPResponseException as exc:
                raise _refusal(exc, "before DATA") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise TransientDeliveryError(
                    f"SMTP failed before DATA: {exc!r}{self._silence_hint(exc)}"
                ) from exc
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

    @property
    def relay(self) -> str:
        return f"{self.host}:{self.port}"

    async def _open(self, smtp: aiosmtplib.SMTP) -> None:
        """Connect, greet, secure and log in; SmtpConfigurationError when the relay cannot
        work with these settings, anything else (refused, timed out) as it came."""
        try:
            await smtp.connect()
            await smtp.ehlo()
            if self.tls == "starttls":
                if not smtp.supports_extension("starttls"):
                    raise self._misconfigured(
                        f"the relay {self.relay} does not offer STARTTLS "
                        "(JOURNEYS_SMTP_TLS=starttls); if the port expects TLS from the start "
                        "(usually 465) set JOURNEYS_SMTP_TLS=tls"
                    )
                await smtp.starttls()
                await smtp.ehlo()
            if self.username and self.password:
                if not smtp.supports_extension("auth"):
                    raise self._misconfigured(
                        f"the relay {self.relay} offers no SMTP AUTH after "
                        f"JOURNEYS_SMTP_TLS={self.tls}, so JOURNEYS_SMTP_USERNAME cannot log in"
                    )
                await smtp.login(self.username, self.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:  # 454: the relay's own trouble, worth retrying
                raise TransientDeliveryError(
                    f"SMTP login to {self.relay} deferred: {exc.code} {exc.message}"
                ) from exc
            raise self._misconfigured(
                f"the relay {self.relay} refused the login as {self.username!r}: "
                f"{exc.code} {exc.message}; check JOURNEYS_SMTP_USERNAME and "
                "JOURNEYS_SMTP_PASSWORD"
            ) from exc
        except aiosmtplib.SMTPResponseException:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            cause = self._tls_failure(exc)
            if cause is None:
                raise
            raise self._misconfigured(cause) from exc

    def _tls_failure(self, exc: BaseException) -> str | None:
        """What went wrong in TLS, naming the setting to fix; None when it was not TLS."""
        failure = _ssl_error(exc)
        if isinstance(failure, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate verification failed for the relay {self.relay}: "
                f"{failure.verify_message or failure.reason}; if the relay uses a private CA, "
                "set JOURNEYS_SMTP_CA_FILE to its certificate (PEM), and check that "
                "JOURNEYS_SMTP_HOST is the name in the relay's certificate"
            )
        if failure is not None:
            hint = (
                "JOURNEYS_SMTP_TLS=tls needs a port that speaks TLS from the start (usually "
                "465); for a port that starts in plain text (587) set JOURNEYS_SMTP_TLS=starttls"
                if self.tls == "tls"
                else "check JOURNEYS_SMTP_PORT and JOURNEYS_SMTP_TLS"
            )
            return (
                f"TLS handshake with the relay {self.relay} failed "
                f"({failure.reason or failure}): {hint}"
            )
        return None

    def _silence_hint(self, exc: BaseException) -> str:
        """A relay that never greets may be waiting for a TLS handshake we do not start."""
        if isinstance(exc, TimeoutError) and self.tls != "tls":
            return (
                f" (with JOURNEYS_SMTP_TLS={self.tls}; a port that expects TLS from the start, "
                "usually 465, stays silent: set JOURNEYS_SMTP_TLS=tls there)"
            )
        return ""

    def _misconfigured(self, text: str) -> SmtpConfigurationError:
        log.error("email not sent, SMTP relay misconfigured: %s", text)
        return SmtpConfigurationError(f"SMTP relay misconfigured: {text}")


def tls_context(ca_file: Path | str | None = None) -> ssl.SSLContext:
    """A client context that verifies the relay's certificate and name: against the system's
    CAs, or only against `ca_file` (a private CA, PEM) when one is given."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"JOURNEYS_SMTP_CA_FILE={ca_file}: cannot load it ({exc})") from exc


def _ssl_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS error behind `exc` (aiosmtplib wraps it in its own connect error)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


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
