"""The dev stack's SMTP capture: a real SMTP server (aiosmtpd) that keeps every message it gets.

Each accepted message is written to `<directory>/<n>-<message-id>.eml` and kept in memory, so
the CLI, tests and benchmarks can read what was "sent" without a real mail relay.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.email_channel import IDEMPOTENCY_HEADER


@dataclass(frozen=True)
class CapturedMail:
    path: Path
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def idempotency_key(self) -> str:
        return str(self.message[IDEMPOTENCY_HEADER] or "")

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, capture: MailCapture) -> None:
        self._capture = capture

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        self._capture._keep(str(envelope.mail_from), tuple(envelope.rcpt_tos), content)
        return "250 Message accepted for delivery"


class MailCapture:
    """An SMTP server on `host:port` (a free port when 0) that stores what it receives."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or free_port(host)
        self._lock = threading.Lock()
        self._mails: list[CapturedMail] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCapture:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _keep(self, sender: str, recipients: tuple[str, ...], content: bytes) -> None:
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            number = len(self._mails) + 1
            token = re.sub(r"[^A-Za-z0-9]+", "", str(message["Message-ID"] or ""))[:40]
            path = self.directory / f"{number:06d}-{token or 'message'}.eml"
            path.write_bytes(content)
            self._mails.append(CapturedMail(path, sender, recipients, message))

    def mails(self) -> list[CapturedMail]:
        with self._lock:
            return list(self._mails)

    def count(self) -> int:
        with self._lock:
            return len(self._mails)

    def to(self, address: str) -> list[CapturedMail]:
        return [mail for mail in self.mails() if address in mail.recipients]
