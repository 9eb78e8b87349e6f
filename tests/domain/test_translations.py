"""Every message a built-in journey sends reads in zh-CN: each template has a zh-CN wording
that names the same variables as the default one, and case categories are translated too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.expressions import BudgetError, render
from domain.journey import TemplateVariant
from domain.limits import MAX_VALUE_SIZE
from domain.loader import load_journey_file
from domain.rendering import render_message
from domain.template_check import sample_context

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "journeys"
BUILT_IN = sorted(JOURNEYS_DIR.glob("*.yaml"))
TEMPLATES = [(path.stem, name) for path in BUILT_IN for name in load_journey_file(path).templates]
EXPRESSION = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
VARIABLE = re.compile(r"\b(?:profile|trigger|survey|steps|journey|case|unsubscribe_url)(?:\.\w+)*")
CJK = re.compile(r"[\u4e00-\u9fff]")


def variables(variant: TemplateVariant) -> set[str]:
    """The variables a wording names (`profile.first_name`), whatever it says around them."""
    found: set[str] = set()
    for part in (variant.subject, variant.text, variant.html or ""):
        for match in EXPRESSION.finditer(part):
            code = QUOTED.sub("", match.group(1) or match.group(2))
            found.update(VARIABLE.findall(code))
    return found


def test_every_built_in_journey_is_checked() -> None:
    assert len(BUILT_IN) >= 9 and len(TEMPLATES) >= 25


@pytest.mark.parametrize(("journey_id", "name"), TEMPLATES)
def test_every_template_has_a_zh_cn_wording_with_the_same_variables(
    journey_id: str, name: str
) -> None:
    template = load_journey_file(JOURNEYS_DIR / f"{journey_id}.yaml").templates[name]
    assert "zh-CN" in template.locales, f"{journey_id}.{name} has no zh-CN wording"
    zh = template.locales["zh-CN"]
    assert variables(zh) == variables(template)
    assert bool(zh.subject) == bool(template.subject)
    assert (zh.html is None) == (template.html is None), "an HTML part in one wording only"


@pytest.mark.parametrize(("journey_id", "name"), TEMPLATES)
def test_a_zh_cn_customer_reads_chinese(journey_id: str, name: str) -> None:
    journey = load_journey_file(JOURNEYS_DIR / f"{journey_id}.yaml")
    parts = render_message(journey.templates[name], sample_context(journey), "zh-CN")
    assert parts.locale == "zh-CN"
    for part in (parts.subject, parts.text, parts.html or "我"):
        assert CJK.search(part), part


def test_the_complaint_survey_names_the_case_category_in_chinese() -> None:
    journey = load_journey_file(JOURNEYS_DIR / "complaint_recovery.yaml")
    context = sample_context(journey)
    context["trigger"] = {**context["trigger"], "category": "delivery"}
    zh = render_message(journey.templates["csat_ask"], context, "zh-CN")
    assert "（配送）" in zh.text and "delivery" not in zh.text
    english = render_message(journey.templates["csat_ask"], context, None)
    assert "(delivery)" in english.text


@pytest.mark.parametrize(
    ("category", "locale", "expected"),
    [
        ("delivery", "zh-CN", "配送"),
        ("billing", "zh-CN", "账单"),
        ("technical", "zh-CN", "技术问题"),
        ("our-own-category", "zh-CN", "our-own-category"),
        ("delivery", "en", "delivery"),
        ("delivery", "fr", "delivery"),
    ],
)
def test_the_category_name_filter_reads_a_category_for_a_locale(
    category: str, locale: str, expected: str
) -> None:
    source = "{{ trigger.category | category_name(locale) }}"
    assert render(source, {"trigger": {"category": category}, "locale": locale}) == expected


def test_the_category_name_filter_leaves_a_number_as_it_is_and_a_missing_value_missing() -> None:
    assert render("{{ 7 | category_name('zh-CN') }}", {}) == "7"
    with pytest.raises(ValueError, match="has no attribute 'category'"):
        render("{{ trigger.category | category_name('zh-CN') }}", {"trigger": {}})


def test_the_category_name_filter_runs_under_the_render_budget() -> None:
    loops = "{% for i in range(10000) %}{% for j in range(10000) %}{{ c | category_name('zh-CN') }}"
    with pytest.raises(BudgetError):
        render(loops + "{% endfor %}{% endfor %}", {"c": "delivery"})
    with pytest.raises(BudgetError):
        render("{{ c | category_name('zh-CN') }}", {"c": "x" * (MAX_VALUE_SIZE + 1)})
