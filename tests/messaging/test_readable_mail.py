"""Captured mail as a developer reads it: file names that never collide across restarts of
the capture (the dev stack keeps its mail directory), and text parts readable with `cat`
(8bit or quoted-printable, never base64)."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from activities.channels import RenderedMessage
from activities.email_channel import SmtpEmailChannel, flatten
from workers.mail_capture import MailCapture

ZH_TEXT = (
    "林您好，\n\n感谢您的反馈。您的工单 case-7（配送）已创建，我们会在 1 天内回复您。"
    "如有任何问题，请随时回复这封邮件，我们的客服团队会尽快与您联系。\n"
)


def message(n: int = 1, **changes: str) -> RenderedMessage:
    values = {
        "idempotency_key": f"case/case-7/acknowledgement/{n}",
        "channel": "email",
        "recipient": "lin@example.com",
        "subject": "我们已收到您的反馈：工单 case-7",
        "text": ZH_TEXT,
        "html": "<p>感谢您的反馈。您的工单 case-7（配送）已创建，我们会在 1 天内回复您。</p>",
    }
    return RenderedMessage.model_validate(values | changes)


def parts(raw: bytes) -> dict[str, EmailMessage]:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    found = {}
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            assert isinstance(part, EmailMessage)
            found[part.get_content_subtype()] = part
    return found


async def send(directory: Path, *numbers: int) -> list[str]:
    with MailCapture(directory) as capture:
        channel = SmtpEmailChannel(capture.host, capture.port, "support@shop.example")
        for n in numbers:
            await channel.deliver(message(n))
        return [mail.path.name for mail in capture.mails()]


def test_file_names_go_on_from_the_last_run_and_never_collide(tmp_path: Path) -> None:
    first = asyncio.run(send(tmp_path, 1, 2))
    second = asyncio.run(send(tmp_path, 3))  # the dev stack restarted on the same directory
    assert [name[:7] for name in first + second] == ["000001-", "000002-", "000003-"]
    names = sorted(path.name for path in tmp_path.glob("*.eml"))
    assert names == first + second  # nothing overwritten, and sorted = in arrival order


def test_a_file_already_there_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "000007-kept.eml").write_bytes(b"earlier")
    [name] = asyncio.run(send(tmp_path, 1))
    assert name.startswith("000008-")
    assert (tmp_path / "000007-kept.eml").read_bytes() == b"earlier"


async def test_a_chinese_message_is_readable_as_it_is_in_the_captured_file(
    tmp_path: Path,
) -> None:
    with MailCapture(tmp_path) as capture:
        channel = SmtpEmailChannel(capture.host, capture.port, "support@shop.example")
        await channel.deliver(message())
        [received] = capture.mails()
    raw = received.path.read_bytes()
    assert b"base64" not in raw.lower()
    assert "我们会在 1 天内回复您".encode() in raw  # UTF-8 as it is: `cat` shows it
    text, html = parts(raw)["plain"], parts(raw)["html"]
    assert (
        text["Content-Transfer-Encoding"] == "8bit" and html["Content-Transfer-Encoding"] == "8bit"
    )
    assert received.text().replace("\r\n", "\n") == ZH_TEXT


def test_without_8bitmime_text_parts_go_quoted_printable_not_base64() -> None:
    email = SmtpEmailChannel("localhost", 25, "support@shop.example").build(message())
    raw = flatten(email, utf8=False, cte_type="7bit")
    assert raw.isascii() and b"base64" not in raw.lower()
    found = parts(raw)
    assert {p["Content-Transfer-Encoding"] for p in found.values()} == {"quoted-printable"}
    assert found["plain"].get_content().replace("\r\n", "\n") == ZH_TEXT


def test_a_line_longer_than_smtp_allows_is_quoted_printable() -> None:
    long_line = "很长" * 200 + "\n"  # 1200 bytes in UTF-8
    email = SmtpEmailChannel("localhost", 25, "support@shop.example").build(message(text=long_line))
    raw = flatten(email, utf8=False, cte_type="8bit")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    found = parts(raw)
    assert found["plain"]["Content-Transfer-Encoding"] == "quoted-printable"
    assert found["plain"].get_content().replace("\r\n", "\n") == long_line


def test_ascii_text_stays_7bit() -> None:
    email = SmtpEmailChannel("localhost", 25, "support@shop.example").build(
        message(text="Plain news.\n", html="<p>Plain news.</p>")
    )
    found = parts(flatten(email, utf8=False, cte_type="8bit"))
    assert {p["Content-Transfer-Encoding"] for p in found.values()} == {"7bit"}
