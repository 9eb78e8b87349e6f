"""What a customer gets by email, in real runs: consent, complaints, multipart, locales.

The real send activity and SMTP channel deliver to the capture (aiosmtpd over TCP) on the
time-skipping server; each test reads what the capture received and what the store recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from domain.customers import Consent
from domain.loader import load_journey_text
from domain.tokens import verify
from domain.unsubscribe import UnsubscribeLinks
from store.suppression import Suppression
from tests.messaging.test_email_delivery import Mail, mail

__all__ = ["mail"]

LINKS = UnsubscribeLinks("content-test-secret", "http://shop.example")
NEWSLETTER = load_journey_text(
    """
id: newsletter
name: Newsletter
category: marketing
trigger: {event: signed_up}
quiet_hours: []
templates:
  news:
    subject: "News for {{ profile.first_name | default('you') }}"
    text: "Plain news. Leave: {{ unsubscribe_url }}"
    html: "<p>HTML news</p><a href='{{ unsubscribe_url }}'>leave</a>"
    locales:
      zh-CN: {subject: "新闻", text: "纯文本新闻 {{ unsubscribe_url }}"}
steps:
  - {id: news, send: {channel: email, template: news}}
  - {id: mark, update: {add_tags: [receipt_done]}}
"""
)
UNSUBSCRIBED = Consent(email=False)


async def test_a_marketing_send_skips_an_unsubscribed_channel_and_says_why(mail: Mail) -> None:
    mail.service.publish_definition(NEWSLETTER)
    message = await mail.run(journey="newsletter", consent=UNSUBSCRIBED, links=LINKS)
    assert mail.capture.count() == 0 and mail.capture.commands("RCPT") == 0
    assert message.status == "skipped" and message.detail == "unsubscribed from email"
    assert mail.events() == [("message_suppressed", "unsubscribed from email")]
    [decision] = mail.store.ledger.decisions(customer_id="ada")
    assert (decision.decision, decision.reason) == ("suppressed", "unsubscribed from email")


async def test_a_transactional_send_still_reaches_an_unsubscribed_customer(mail: Mail) -> None:
    message = await mail.run(consent=UNSUBSCRIBED)
    assert message.status == "sent"
    [received] = mail.capture.to("ada@example.com")
    assert received.subject == "Your receipt" and "List-Unsubscribe" not in received.message


async def test_a_spam_complaint_blocks_marketing_but_not_transactional(mail: Mail) -> None:
    mail.service.publish_definition(NEWSLETTER)
    mail.store.suppressions.add(
        Suppression(
            channel="email",
            address="ADA@example.com",
            reason="complaint",
            scope="marketing",
            detail="marked as spam",
            created_at=datetime.now(UTC),
        )
    )
    news = await mail.run(journey="newsletter", links=LINKS)
    assert news.status == "skipped" and news.detail.startswith("suppressed: complaint")
    assert mail.capture.count() == 0
    receipt = await mail.run("bo", email="ada@example.com")
    assert receipt.status == "sent" and len(mail.capture.to("ada@example.com")) == 1


async def test_marketing_email_is_multipart_with_one_click_unsubscribe_headers(
    mail: Mail,
) -> None:
    mail.service.publish_definition(NEWSLETTER)
    message = await mail.run(journey="newsletter", links=LINKS, attributes={"first_name": "Ada"})
    assert message.status == "sent"
    [received] = mail.capture.to("ada@example.com")
    email = received.message
    assert email.get_content_type() == "multipart/alternative"
    plain, html = email.get_body(("plain",)), email.get_body(("html",))
    assert plain is not None and html is not None
    assert "Plain news." in plain.get_content() and "<p>HTML news</p>" in html.get_content()
    assert received.subject == "News for Ada"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(email["List-Unsubscribe"])
    assert header.startswith("<http://shop.example/unsubscribe?token=") and header.endswith(">")
    token = parse_qs(urlparse(header[1:-1]).query)["token"][0]
    claims = verify(LINKS.secret, "unsubscribe", token, datetime.now(UTC))
    assert claims == {"c": "ada", "ch": "email"}
    assert email["Message-ID"] and email["Message-ID"].endswith("@example.com>")


async def test_zh_gets_the_zh_cn_wording_and_an_unknown_locale_the_default(mail: Mail) -> None:
    mail.service.publish_definition(NEWSLETTER)
    zh = await mail.run("mei", journey="newsletter", links=LINKS, locale="zh")
    fr = await mail.run("jean", journey="newsletter", links=LINKS, locale="fr-FR")
    assert zh.status == fr.status == "sent"
    [mei] = mail.capture.to("mei@example.com")
    [jean] = mail.capture.to("jean@example.com")
    assert mei.subject == "新闻" and "纯文本新闻" in mei.text()
    assert jean.subject == "News for you" and "Plain news." in jean.text()
