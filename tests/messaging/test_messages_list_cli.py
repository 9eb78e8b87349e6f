"""`journeys messages list` over a store that real runs sent messages from."""

from __future__ import annotations

import pytest

from domain.customers import Consent
from domain.loader import load_journey_text
from tests.cli.test_cli import journeys, store_in
from tests.messaging.test_email_delivery import Mail, mail
from workers.settings import get_settings

__all__ = ["mail", "store_in"]


async def test_messages_list_shows_sent_and_skipped_messages_with_filters(
    mail: Mail, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mail.run("ada")
    mail.service.publish_definition(
        load_journey_text(
            """
id: promo_mail
name: Promo
category: marketing
trigger: {event: promo}
quiet_hours: []
templates:
  promo: {subject: "Sale", text: "Sale now"}
steps:
  - {id: promo, send: {channel: email, template: promo}}
  - {id: mark, update: {add_tags: [receipt_done]}}
"""
        )
    )
    await mail.run("bo", journey="promo_mail", consent=Consent(email=False))
    url = mail.store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", url)
    get_settings.cache_clear()
    code, out = journeys("messages", "list")
    assert code == 0, out
    lines = [line for line in out.splitlines() if "mail_receipt/receipt" in line]
    assert len(lines) == 1 and "ada@example.com" in lines[0] and "sent" in lines[0]
    assert "Your receipt" in lines[0]
    [skipped] = [line for line in out.splitlines() if "promo_mail/promo" in line]
    assert "skipped" in skipped and "unsubscribed from email" in skipped
    code, out = journeys("messages", "list", "--status", "sent")
    assert code == 0 and "mail_receipt/receipt" in out and "promo_mail" not in out
    code, out = journeys("messages", "list", "--customer", "bo", "--channel", "email")
    assert code == 0 and "promo_mail/promo" in out and "mail_receipt" not in out
    code, out = journeys("messages", "list", "--status", "delivered")
    assert code == 1 and "unknown status 'delivered'" in out and "uncertain" in out
