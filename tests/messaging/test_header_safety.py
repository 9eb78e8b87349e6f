"""Email headers as mail clients and relays read them: one-click unsubscribe in plain ASCII,
and a line break in any header value refused for good (no header injection, no retry loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.channels import PermanentDeliveryError, RenderedMessage
from activities.email_channel import SmtpEmailChannel
from workers.mail_capture import MailCapture

LONG_LINK = "https://shop.example/unsubscribe?token=" + "a" * 150 + "." + "b" * 43


def message(**changes: str) -> RenderedMessage:
    values = {
        "idempotency_key": "journey/news/c-1/e-1/news/1",
        "channel": "email",
        "recipient": "ada@example.com",
        "subject": "News for Ada",
        "text": "Plain news.",
        "unsubscribe_url": LONG_LINK,
    }
    return RenderedMessage.model_validate(values | changes)


async def test_list_unsubscribe_goes_out_as_one_plain_ascii_line(tmp_path: Path) -> None:
    with MailCapture(tmp_path / "mail") as capture:
        channel = SmtpEmailChannel(capture.host, capture.port, "news@shop.example")
        await channel.deliver(message())
        [received] = capture.to("ada@example.com")
    raw = received.path.read_bytes()
    assert f"List-Unsubscribe: <{LONG_LINK}>\r\n".encode() in raw or (
        f"List-Unsubscribe: <{LONG_LINK}>\n".encode() in raw
    )
    assert b"=?utf-8?" not in raw  # RFC 2047 words: clients cannot read the URL in them
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw


@pytest.mark.parametrize("value", ["Ada\r\nBcc: victim@evil.example", "Ada\nBcc: x@y.z"])
async def test_a_line_break_in_a_header_is_refused_for_good_before_anything_is_sent(
    tmp_path: Path, value: str
) -> None:
    with MailCapture(tmp_path / "mail") as capture:
        channel = SmtpEmailChannel(capture.host, capture.port, "news@shop.example")
        with pytest.raises(PermanentDeliveryError, match="Subject header would contain a line"):
            await channel.deliver(message(subject=f"Hello {value}"))
        assert capture.count() == 0
