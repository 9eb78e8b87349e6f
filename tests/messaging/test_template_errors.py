"""Templates that fail inside the sandbox: a publish problem, or a permanent send failure.

Jinja's sandbox lets some errors out as they are (`range(10**9)` is refused by the render budget,
`1/0` raises ZeroDivisionError); they must read as a problem naming the file, the template,
the locale and the step, and at send time as a failed message, not thirty retries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.loader import load_journey_file, load_journey_text
from domain.problems import JourneyError
from tests.messaging.test_email_delivery import Mail, mail

__all__ = ["mail"]

JOURNEY = """
id: bad_templates
name: Bad templates
category: transactional
trigger: {{event: order_paid}}
templates:
  receipt:
    text: "{text}"
    locales:
      zh-CN: {{text: "{zh}"}}
steps:
  - {{id: thanks, send: {{channel: email, template: receipt}}}}
  - {{id: mark, update: {{add_tags: [receipt_done]}}}}
"""


@pytest.mark.parametrize(
    ("text", "zh", "locale", "error"),
    [
        ("{{ range(10**9)|list }}", "ok", "default", "range of 1000000000 items"),
        ("ok", "{{ 1/0 }}", "zh-CN", "ZeroDivisionError: division by zero"),
    ],
)
def test_a_template_that_raises_in_the_sandbox_is_a_publish_problem(
    tmp_path: Path, text: str, zh: str, locale: str, error: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(JOURNEY.format(text=text, zh=zh))
    with pytest.raises(JourneyError) as caught:
        load_journey_file(path)
    [problem] = [str(p) for p in caught.value.problems]
    field = "templates.receipt" + ("" if locale == "default" else f".locales.{locale}")
    assert problem.startswith(f"{path}: {field}: does not render for a sample customer")
    assert f"({locale} locale)" in problem and error in problem
    assert "sent by step 'thanks'" in problem


async def test_a_template_failing_at_send_time_is_a_permanent_failure(mail: Mail) -> None:
    # The sample customer renders (divisor 1); this customer's divisor is 0.
    mail.service.publish_definition(
        load_journey_text(
            """
id: per_item
name: Per item
category: transactional
trigger: {event: order_paid}
sample: {profile: {pieces: 1}}
templates:
  receipt: {subject: "Receipt", text: "{{ 100 // profile.pieces }} per item"}
steps:
  - {id: thanks, send: {channel: email, template: receipt}}
  - {id: mark, update: {add_tags: [receipt_done]}}
"""
        )
    )
    message = await mail.run(journey="per_item", attributes={"pieces": 0})
    assert mail.capture.commands("RCPT") == 0 and mail.capture.count() == 0
    assert message.status == "failed" and "ZeroDivisionError" in message.detail
    [(kind, reason)] = mail.events()
    assert kind == "message_failed" and "ZeroDivisionError: integer division" in reason
    [decision] = mail.store.ledger.decisions(customer_id="ada")
    assert decision.decision == "failed"
