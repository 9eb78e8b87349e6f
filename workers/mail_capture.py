"""The dev stack's SMTP capture: a real SMTP server (aiosmtpd) that keeps every message it gets.

Each accepted message is written to `<directory>/<n>-<message-id>.eml` and kept in memory, so
the CLI, tests and benchmarks can read what was "sent" without a real mail relay. `n` goes on
from the highest number already in the directory (the dev stack keeps it across restarts), so
names never collide and sort in the order the messages arrived.

For failure tests it can be told, like the provider sink, to answer the next commands at a
stage (`RCPT` or `DATA`) with an error code, to stall before answering a stage, or to keep a
message it received and hold back the final reply to DATA (`hold`, until `release`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from dataclasses import dataclass, field
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
        return str(self.message[IDEMPOTENCY_HEADER] or "").strip()  # a long header is folded

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def highest_number(directory: Path) -> int:
    """The highest `<n>-` prefix of the .eml files in `directory`; 0 when there are none."""
    numbers = [
        int(match.group(1))
        for path in directory.glob("*.eml")
        if (match := re.match(r"(\d+)-", path.name))
    ]
    return max(numbers, default=0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Faults:
    """What the capture does wrong, on purpose; changed from any thread."""

    fail_stage: str = ""
    fail_reply: str = ""
    fail_times: int = 0
    stall_stage: str = ""
    stall_seconds: float = 0.0
    stall_times: int = 0
    hold_seconds: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)
    commands: dict[str, int] = field(default_factory=dict)

    def injected(self, stage: str) -> str | None:
        if self.fail_times > 0 and self.fail_stage == stage:
            self.fail_times -= 1
            return self.fail_reply
        return None


class _Handler:
    def __init__(self, capture: MailCapture) -> None:
        self._capture = capture

    async def _stall(self, stage: str) -> None:
        faults = self._capture.faults
        faults.commands[stage] = faults.commands.get(stage, 0) + 1
        if faults.stall_stage == stage and faults.stall_times > 0:
            faults.stall_times -= 1
            await asyncio.sleep(faults.stall_seconds)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self._stall("RCPT")
        refused = self._capture.faults.injected("RCPT")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        faults = self._capture.faults
        await self._stall("DATA")
        refused = faults.injected("DATA")
        if refused:
            return refused
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        self._capture._keep(str(envelope.mail_from), tuple(envelope.rcpt_tos), content)
        if faults.hold_seconds:  # taken, but the reply is late (or never comes)
            await asyncio.to_thread(faults.released.wait, faults.hold_seconds)
        return "250 Message accepted for delivery"


class MailCapture:
    """An SMTP server on `host:port` (a free port when 0) that stores what it receives."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or free_port(host)
        self._lock = threading.Lock()
        self._mails: list[CapturedMail] = []
        self._next = 1
        self._controller: Controller | None = None
        self.faults = Faults()

    def fail(self, stage: str, reply: str, times: int = 1) -> None:
        """Answer the next `times` commands of `stage` (RCPT, DATA) with `reply` ("451 ...")."""
        if stage not in ("RCPT", "DATA"):
            raise ValueError(f"stage {stage!r} is not RCPT or DATA")
        self.faults.fail_stage, self.faults.fail_reply = stage, reply
        self.faults.fail_times = times

    def stall(self, stage: str, seconds: float, times: int = 1) -> None:
        """Wait `seconds` before answering each of the next `times` commands of `stage`."""
        self.faults.stall_stage, self.faults.stall_seconds = stage, seconds
        self.faults.stall_times = times

    def hold(self, seconds: float) -> None:
        """Keep each message at the end of DATA but hold the reply for `seconds`."""
        self.faults.released.clear()
        self.faults.hold_seconds = seconds

    def release(self) -> None:
        """End every hold at once and stop holding."""
        self.faults.hold_seconds = 0.0
        self.faults.released.set()

    def commands(self, stage: str) -> int:
        """How many `stage` commands arrived (refused ones too)."""
        return self.faults.commands.get(stage, 0)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._next = max(self._next, highest_number(self.directory) + 1)
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
        token = re.sub(r"[^A-Za-z0-9]+", "", str(message["Message-ID"] or ""))[:40]
        with self._lock:
            while True:  # "x": a file of another capture (or an earlier run) is never replaced
                path = self.directory / f"{self._next:06d}-{token or 'message'}.eml"
                self._next += 1
                try:
                    with path.open("xb") as out:
                        out.write(content)
                    break
                except FileExistsError:
                    continue
            self._mails.append(CapturedMail(path, sender, recipients, message))

    def mails(self) -> list[CapturedMail]:
        with self._lock:
            return list(self._mails)

    def count(self) -> int:
        with self._lock:
            return len(self._mails)

    def to(self, address: str) -> list[CapturedMail]:
        return [mail for mail in self.mails() if address in mail.recipients]
