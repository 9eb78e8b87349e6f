"""`journeys preview`, `messages`, `consent` and `suppressions` against a SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import JOURNEYS, journeys, store_in
from workers.settings import get_settings

__all__ = ["store_in"]  # the CLI tests' store in a temporary data dir, for every test here


def use_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """The workspace send policy `preview` applies (the built-in one holds email at night)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    monkeypatch.setenv("JOURNEYS_POLICY_FILE", str(policy))
    get_settings.cache_clear()


def test_preview_shows_the_customers_locale_and_whether_it_would_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_policy(tmp_path, monkeypatch, "{}\n")
    assert journeys("publish", str(JOURNEYS / "onboarding.yaml"))[0] == 0
    journeys("customers", "upsert", "mei", "--email", "mei@example.com", "--locale", "zh-CN")
    code, out = journeys("preview", "onboarding", "welcome", "--customer", "mei")
    assert code == 0, out
    assert "transactional, zh-CN locale" in out and "感谢注册" in out
    assert "Now: would be sent at once." in out
    code, out = journeys("preview", "onboarding", "welcome", "--customer", "mei", "--locale", "en")
    assert "Welcome aboard, there" in out
    # Consent by CLI: the marketing guide would now be dropped, and say why; the welcome,
    # transactional, still goes.
    code, out = journeys("consent", "set", "mei", "--channel", "email", "--unsubscribed")
    assert code == 0 and "mei: email unsubscribed" in out
    code, out = journeys("preview", "onboarding", "getting_started", "--customer", "mei")
    assert "marketing" in out
    assert "Now: would NOT be sent (consent: unsubscribed from email)." in out
    code, out = journeys("preview", "onboarding", "welcome", "--customer", "mei")
    assert "Now: would be sent at once." in out
    code, out = journeys("preview", "onboarding", "welcome", "--customer", "ghost")
    assert code == 1 and "ghost" in out


def test_preview_says_quiet_hours_would_hold_the_message_until_they_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_policy(tmp_path, monkeypatch, 'quiet_hours: [{start: "00:00", end: "23:59"}]\n')
    assert journeys("publish", str(JOURNEYS / "onboarding.yaml"))[0] == 0
    journeys(
        "customers", "upsert", "mei", "--email", "mei@example.com", "--timezone", "Asia/Shanghai"
    )
    code, out = journeys("preview", "onboarding", "getting_started", "--customer", "mei")
    assert code == 0, out
    assert "Now: would wait until " in out and " CST (quiet_hours: quiet hours" in out
    assert "then be sent." in out
    # The welcome is transactional: quiet hours do not hold it.
    code, out = journeys("preview", "onboarding", "welcome", "--customer", "mei")
    assert "Now: would be sent at once." in out


def test_suppressions_refuse_bad_addresses_and_list_good_ones() -> None:
    code, out = journeys("suppressions", "add", "not-mail", "--reason", "bounce")
    assert code == 1 and "is not an email address" in out
    code, out = journeys("suppressions", "add", "+49151", "--reason", "bounce", "--channel", "sms")
    assert code == 1 and "is not an E.164 phone number" in out
    code, out = journeys("suppressions", "add", "Bo@Example.com", "--reason", "complaint")
    assert code == 0 and "bo@example.com suppressed (complaint, marketing)" in out
    code, out = journeys("suppressions", "list")
    assert "bo@example.com" in out and "complaint" in out
    assert journeys("suppressions", "remove", "bo@example.com")[0] == 0
    assert journeys("suppressions", "remove", "bo@example.com")[0] == 1


def test_consent_refuses_an_unknown_channel_and_customer() -> None:
    code, out = journeys("consent", "set", "x", "--channel", "fax", "--unsubscribed")
    assert code == 1 and "unknown channel 'fax'" in out
    code, out = journeys("consent", "set", "nobody", "--channel", "sms", "--unsubscribed")
    assert code == 1 and "nobody" in out


def test_messages_and_decisions_lists_run_on_an_empty_store() -> None:
    code, out = journeys("messages", "list")
    assert code == 0 and "status" in out
    code, out = journeys("messages", "decisions", "--decision", "deferred")
    assert code == 0 and "reason" in out
