"""The case acknowledgement a customer reads, in each locale: nothing left in English or in
the `1d` spelling for a zh-CN reader; the default (English) wording as it always was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.cases import ACKNOWLEDGEMENT, SLA, category_name, duration_words
from domain.durations import format_duration
from domain.rendering import render_message

ZH_WITHIN = {"urgent": "1 小时", "high": "4 小时", "normal": "1 天", "low": "3 天"}
EN_WITHIN = {"urgent": "1h", "high": "4h", "normal": "1d", "low": "3d"}


def context(severity: str, category: str = "delivery") -> dict[str, Any]:
    """What the case workflow gives the template (workflows/case.py `_acknowledge`)."""
    first_response = format_duration(SLA[severity][0])
    return {
        "case": {
            "case_id": "case-7",
            "category": category,
            "first_response_within": first_response,
        },
        "profile": {"first_name": "Lin"},
    }


@pytest.mark.parametrize("severity", list(SLA))
def test_zh_cn_names_the_category_and_the_first_response_time_in_chinese(severity: str) -> None:
    parts = render_message(ACKNOWLEDGEMENT, context(severity), "zh-CN")
    assert parts.locale == "zh-CN"
    assert "（配送）" in parts.text
    assert f"我们会在 {ZH_WITHIN[severity]}内回复您" in parts.text
    assert "delivery" not in parts.text and EN_WITHIN[severity] not in parts.text
    assert "case-7" in parts.subject and "case-7" in parts.text


@pytest.mark.parametrize("severity", list(SLA))
def test_english_stays_as_it_was(severity: str) -> None:
    parts = render_message(ACKNOWLEDGEMENT, context(severity), "en")
    assert parts.locale == "default"
    assert parts.text == (
        "Hi Lin,\n\nThank you for telling us. Your case case-7 (delivery) is open and a person "
        f"will answer within {EN_WITHIN[severity]}."
    )


def test_a_category_without_a_chinese_name_is_shown_as_it_is() -> None:
    parts = render_message(ACKNOWLEDGEMENT, context("normal", "warehouse_7"), "zh-CN")
    assert "（warehouse_7）" in parts.text


def test_category_and_duration_words() -> None:
    assert category_name("billing", "zh-CN") == "账单"
    assert category_name("billing", "en") == "billing"
    assert duration_words(timedelta(hours=36), "zh-CN") == "1 天 12 小时"
    assert duration_words(timedelta(minutes=90), "zh-CN") == "1 小时 30 分钟"
    assert duration_words(timedelta(0), "zh-CN") == "0 秒"
    assert duration_words(timedelta(hours=36), "en") == "1d12h"
