"""The public pages a customer opens from a message (unsubscribe, the survey answer page, a
refused link) speak the customer's language when the link names a customer, else the
browser's (Accept-Language), else English; every English text has a zh-CN one."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from domain.surveys import PURPOSE, CreateSurvey
from domain.tokens import sign
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import create_app
from entrypoints.public_texts import TEXTS, page_locale
from tests.api.conftest import API_KEY, SURVEY_LINKS, Stack, new_customer
from tests.support.follow_up import FORM

LINKS = UnsubscribeLinks("public-pages-link-secret", "http://api")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}


@pytest_asyncio.fixture
async def site(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack.service, API_KEY, links=LINKS, survey_links=SURVEY_LINKS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"X-API-Key": API_KEY},  # for making customers; the pages need none
    ) as client:
        yield client


@pytest_asyncio.fixture
async def bare(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no signing secret: no unsubscribe or survey links."""
    app = create_app(stack.service, API_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client


def title(page: httpx.Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page.text)
    assert found is not None, page.text
    return found.group(1)


def survey_path(stack: Stack, customer: str, kind: str = "csat") -> str:
    now = datetime.now(UTC)
    survey_id = f"sv-{uuid.uuid4().hex[:12]}"
    stack.store.surveys.create(
        CreateSurvey(
            survey_id=survey_id,
            kind=kind,
            customer_id=customer,
            journey_id="public_pages",
            workflow_id=f"journey/public_pages/{customer}",
            step_id="ask",
            expires_at=now + timedelta(days=7),
            created_at=now,
        )
    )
    return SURVEY_LINKS.url(survey_id, customer, now + timedelta(days=7)).removeprefix("http://api")


# --- choosing the language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "header", "expected"),
    [
        ("zh-CN", None, "zh-CN"),
        ("zh", "en", "zh-CN"),
        ("en", "zh-CN", "en"),  # the customer's own locale wins over the browser's
        ("fr", "zh-CN,en;q=0.5", "zh-CN"),  # no wording in French: the browser's next
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-Hans-CN", "zh-CN"),
        (None, "zh-TW", "zh-CN"),
        (None, "en-US,zh;q=0.5", "en"),
        (None, "fr, zh;q=0.2, en;q=0.1", "zh-CN"),
        (None, "zh;q=0, en", "en"),
        (None, "de, *;q=0.5, zh;q=0.1", "en"),
        (None, "zh;q=nan, zh;q=abc", "en"),
        (None, "", "en"),
        (None, None, "en"),
        (None, "x" * 100_000, "en"),
        (None, ",;;=q," * 10_000 + "zh", "en"),  # past what is read
    ],
)
def test_a_page_speaks_the_customers_language_else_the_browsers_else_english(
    profile: str | None, header: str | None, expected: str
) -> None:
    assert page_locale(profile, header) == expected


def test_every_english_text_of_the_public_pages_has_a_zh_cn_one() -> None:
    assert set(TEXTS["en"]) <= set(TEXTS["zh-CN"])
    for key, english in TEXTS["en"].items():
        fields = set(re.findall(r"\{\w+\}", english))
        assert set(re.findall(r"\{\w+\}", TEXTS["zh-CN"][key])) == fields, key


# --- the unsubscribe page ------------------------------------------------------------------------


async def test_a_zh_cn_customer_unsubscribes_in_chinese(site: httpx.AsyncClient) -> None:
    customer = await new_customer(site, locale="zh-CN")
    token = LINKS.token(customer, "email", datetime.now(UTC))
    page = await site.get("/unsubscribe", params={"token": token}, headers=EN)
    assert page.status_code == 200 and "<html lang='zh-CN'>" in page.text
    assert title(page) == "退订" and "不再接收关于优惠和新闻的邮件吗？" in page.text
    assert "<button type='submit'>退订</button>" in page.text and "Unsubscribe" not in page.text
    done = await site.post("/unsubscribe", params={"token": token})
    assert done.status_code == 200 and title(done) == "您已成功退订"
    assert "我们不会再给您发送营销邮件。" in done.text and "unsubscribed" not in done.text


async def test_an_english_customer_unsubscribes_in_english_whatever_the_browser(
    site: httpx.AsyncClient,
) -> None:
    customer = await new_customer(site)
    token = LINKS.token(customer, "sms", datetime.now(UTC))
    page = await site.get("/unsubscribe", params={"token": token}, headers=ZH)
    assert "<html lang='en'>" in page.text and title(page) == "Unsubscribe"
    assert "Stop sms messages about offers and news?" in page.text
    done = await site.post("/unsubscribe", params={"token": token}, headers=ZH)
    assert title(done) == "You are unsubscribed"
    assert "You will get no more marketing sms messages from us." in done.text


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_refused_unsubscribe_link_speaks_the_browsers_language(
    site: httpx.AsyncClient, method: str
) -> None:
    customer = await new_customer(site, locale="zh-CN")
    forged = LINKS.token(customer, "email", datetime.now(UTC))[:-2] + "xx"
    zh = await site.request(method, "/unsubscribe", params={"token": forged}, headers=ZH)
    assert zh.status_code == 400 and title(zh) == "此链接无法使用"
    assert "链接已被改动，或不是我们发出的链接。" in zh.text and "signature" not in zh.text
    en = await site.request(method, "/unsubscribe", params={"token": forged})
    assert en.status_code == 400 and title(en) == "This link cannot be used"
    assert "does not match" in en.text
    past = datetime.now(UTC) - timedelta(days=1)
    expired = sign(LINKS.secret, "unsubscribe", {"c": customer, "ch": "email"}, past)
    gone = await site.request(method, "/unsubscribe", params={"token": expired}, headers=ZH)
    assert gone.status_code == 410 and "链接已过期。" in gone.text
    malformed = await site.request(method, "/unsubscribe?token=a.%C3%A9", headers=ZH)
    assert malformed.status_code == 400 and "链接不完整或格式有误" in malformed.text


async def test_a_refused_tracked_link_speaks_the_browsers_language(
    site: httpx.AsyncClient,
) -> None:
    zh = await site.get("/t/c/not-a-token", headers=ZH)
    assert zh.status_code == 400 and title(zh) == "此链接无法使用"
    assert title(await site.get("/t/c/not-a-token")) == "This link cannot be used"


async def test_without_a_secret_the_unavailable_pages_speak_the_browsers_language(
    bare: httpx.AsyncClient,
) -> None:
    for method in ("GET", "POST"):
        zh = await bare.request(method, "/unsubscribe?token=x.y", headers=ZH)
        assert zh.status_code == 503 and title(zh) == "暂时无法退订"
        en = await bare.request(method, "/unsubscribe?token=x.y")
        assert en.status_code == 503 and title(en) == "Unsubscribe is not available"
        survey = await bare.request(method, "/s/x.y", headers=ZH, content="score=5")
        assert survey.status_code == 503 and title(survey) == "问卷暂时无法使用"
        english = await bare.request(method, "/s/x.y", content="score=5")
        assert title(english) == "Surveys are not available"


# --- the survey page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "zh_title", "en_title"),
    [
        ("csat", "您对我们满意吗？", "How did we do?"),
        ("nps", "您会推荐我们吗？", "Would you recommend us?"),
    ],
)
async def test_the_survey_page_is_titled_in_the_customers_language(
    site: httpx.AsyncClient, stack: Stack, kind: str, zh_title: str, en_title: str
) -> None:
    zh_customer = await new_customer(site, locale="zh-CN")
    zh = await site.get(survey_path(stack, zh_customer, kind), headers=EN)
    assert zh.status_code == 200 and "<html lang='zh-CN'>" in zh.text
    assert title(zh) == zh_title and "<button type='submit'>提交</button>" in zh.text
    en_customer = await new_customer(site)
    en = await site.get(survey_path(stack, en_customer, kind), headers=ZH)
    assert title(en) == en_title and kind.upper() not in en.text


async def test_a_zh_cn_customer_answers_in_chinese(site: httpx.AsyncClient, stack: Stack) -> None:
    customer = await new_customer(site, locale="zh-CN")
    path = survey_path(stack, customer)
    wrong = await site.post(path, content="score=9", headers=FORM)
    assert wrong.status_code == 422 and title(wrong) == "您对我们满意吗？"
    assert "请选择一个分数。" in wrong.text
    answered = await site.post(path, content="score=4", headers=FORM)
    assert answered.status_code == 200 and title(answered) == "感谢您的回答！"
    again = await site.get(path)
    assert again.status_code == 409 and title(again) == "您已经回答过这份问卷，谢谢！"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_refused_survey_link_speaks_the_customers_or_the_browsers_language(
    site: httpx.AsyncClient, stack: Stack, method: str
) -> None:
    customer = await new_customer(site, locale="zh-CN")
    path = survey_path(stack, customer)
    forged = await site.request(method, path[:-4] + "abcd", content="score=5", headers=FORM | ZH)
    assert forged.status_code == 400 and title(forged) == "此链接无法使用"
    assert "链接已被改动" in forged.text
    english = await site.request(method, path[:-4] + "abcd", content="score=5", headers=EN)
    assert title(english) == "This link cannot be used" and "does not match" in english.text
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = sign(SURVEY_LINKS.secret, PURPOSE, {"s": "sv-x", "c": customer}, past)
    gone = await site.request(method, f"/s/{expired}", content="score=5", headers=FORM | ZH)
    assert gone.status_code == 410 and "链接已过期。" in gone.text
    # A genuine link to a survey that is not there names its customer: their language.
    unknown = SURVEY_LINKS.url("sv-none", customer, datetime.now(UTC) + timedelta(days=1))
    missing = await site.request(method, unknown.removeprefix("http://api"), content="score=5")
    assert missing.status_code == 400 and "找不到这份问卷。" in missing.text
