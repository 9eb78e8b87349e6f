"""Rotating JOURNEYS_SECRET_KEY: links signed with the previous key keep working.

New links are signed with the current key only; the previous key (JOURNEYS_SECRET_KEY_PREVIOUS)
is accepted for verification; a link signed with any other key is forged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.bootstrap import previous_secret_keys, survey_links, unsubscribe_links
from app.messaging import MessagingService
from domain.survey_links import SurveyLinks
from domain.tokens import TokenError, sign, verify
from domain.tracking import TrackingLinks
from domain.unsubscribe import UnsubscribeLinks
from workers.settings import Settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD, NEW, OTHER = "old-key-" + "o" * 24, "new-key-" + "n" * 24, "unknown-" + "u" * 24
URL = "https://links.example.com"


def test_a_token_signed_with_the_previous_key_still_verifies() -> None:
    token = sign(OLD, "survey", {"s": "1"}, NOW + timedelta(days=1))
    assert verify(NEW, "survey", token, NOW, previous=(OLD,)) == {"s": "1"}
    with pytest.raises(TokenError) as refused:
        verify(NEW, "survey", token, NOW)
    assert refused.value.reason == "forged"


def test_a_token_signed_with_an_unknown_key_is_forged_whatever_the_previous_keys() -> None:
    token = sign(OTHER, "survey", {"s": "1"}, NOW + timedelta(days=1))
    with pytest.raises(TokenError) as refused:
        verify(NEW, "survey", token, NOW, previous=(OLD,))
    assert refused.value.reason == "forged"


def test_an_expired_token_of_the_previous_key_is_still_expired() -> None:
    token = sign(OLD, "survey", {"s": "1"}, NOW - timedelta(seconds=1))
    with pytest.raises(TokenError) as refused:
        verify(NEW, "survey", token, NOW, previous=(OLD,))
    assert refused.value.reason == "expired"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1].removeprefix("unsubscribe?token=").removesuffix(".gif")


def test_survey_unsubscribe_and_tracking_links_accept_the_previous_key() -> None:
    before = (SurveyLinks(OLD, URL), UnsubscribeLinks(OLD, URL), TrackingLinks(OLD, URL))
    after = (
        SurveyLinks(NEW, URL, (OLD,)),
        UnsubscribeLinks(NEW, URL, (OLD,)),
        TrackingLinks(NEW, URL, (OLD,)),
    )
    stranger = (SurveyLinks(OTHER, URL), UnsubscribeLinks(OTHER, URL), TrackingLinks(OTHER, URL))
    expires = NOW + timedelta(days=7)

    def readings(survey: SurveyLinks, unsub: UnsubscribeLinks, track: TrackingLinks) -> Any:
        return (
            survey.url("srv_1", "ada", expires),
            unsub.url("ada", "email", NOW),
            track.open_url("ada", "msg-1", NOW),
            track.click_url("ada", "msg-1", "https://shop.example.com/", NOW),
        )

    def read_all(links: tuple[SurveyLinks, UnsubscribeLinks, TrackingLinks], urls: Any) -> Any:
        survey, unsub, track = links
        return (
            survey.read(_token(urls[0]), NOW),
            unsub.read(_token(urls[1]).replace("%3D", "="), NOW).customer_id,
            track.read_open(_token(urls[2]), NOW).message_key,
            track.read_click(_token(urls[3]), NOW).url,
        )

    expected = (("srv_1", "ada"), "ada", "msg-1", "https://shop.example.com/")
    assert read_all(after, readings(*before)) == expected  # in flight across the rotation
    assert read_all(after, readings(*after)) == expected
    for links in (before, after):
        survey, unsub, track = links
        urls = readings(*stranger)
        with pytest.raises(TokenError):
            survey.read(_token(urls[0]), NOW)
        with pytest.raises(TokenError):
            unsub.read(_token(urls[1]), NOW)
        with pytest.raises(TokenError):
            track.read_open(_token(urls[2]), NOW)
        with pytest.raises(TokenError):
            track.read_click(_token(urls[3]), NOW)


def test_new_links_are_signed_with_the_current_key_only() -> None:
    survey = SurveyLinks(NEW, URL, (OLD,))
    token = _token(survey.url("srv_1", "ada", NOW + timedelta(days=1)))
    assert SurveyLinks(NEW, URL).read(token, NOW) == ("srv_1", "ada")
    with pytest.raises(TokenError):
        SurveyLinks(OLD, URL).read(token, NOW)


def test_the_settings_carry_the_previous_key_to_every_kind_of_link(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=NEW, secret_key_previous=OLD)
    assert previous_secret_keys(settings) == (OLD,)
    assert survey_links(settings).previous == (OLD,)
    links = unsubscribe_links(settings)
    assert links.secret == NEW and links.previous == (OLD,)
    # The API verifies tracked links with the unsubscribe links' keys.
    service = MessagingService(cast(Any, SimpleNamespace(store=None)), links)
    assert service.tracking is not None
    old_open = TrackingLinks(OLD, URL).open_url("ada", "msg-1", NOW)
    assert service.tracking.read_open(_token(old_open), NOW).customer_id == "ada"
    same = Settings(data_dir=tmp_path, secret_key=NEW, secret_key_previous=NEW)
    assert previous_secret_keys(same) == ()
