"""Signed links: genuine ones verify, altered, foreign-purpose and expired ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.tokens import TokenError, sign, verify

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_a_genuine_token_gives_back_its_claims() -> None:
    token = sign(
        "s3cret", "unsubscribe", {"customer": "ada", "channel": "email"}, NOW + timedelta(days=1)
    )
    assert verify("s3cret", "unsubscribe", token, NOW) == {"customer": "ada", "channel": "email"}


@pytest.mark.parametrize(
    ("secret", "purpose", "mangle", "reason"),
    [
        ("other", "unsubscribe", lambda t: t, "forged"),
        ("s3cret", "survey", lambda t: t, "forged"),
        ("s3cret", "unsubscribe", lambda t: "x" + t, "forged"),
        ("s3cret", "unsubscribe", lambda t: t.split(".")[0], "malformed"),
    ],
)
def test_altered_or_foreign_tokens_are_refused(secret, purpose, mangle, reason) -> None:  # type: ignore[no-untyped-def]
    token = sign("s3cret", "unsubscribe", {"customer": "ada"}, NOW + timedelta(days=1))
    with pytest.raises(TokenError) as caught:
        verify(secret, purpose, mangle(token), NOW)
    assert caught.value.reason == reason


def test_an_expired_token_is_refused_with_when() -> None:
    token = sign("s3cret", "survey", {"survey": "s1"}, NOW)
    verify("s3cret", "survey", token, NOW)
    with pytest.raises(TokenError, match="expired at 2026-11-25T09:00:00") as caught:
        verify("s3cret", "survey", token, NOW + timedelta(seconds=1))
    assert caught.value.reason == "expired"
