"""The sandboxed expression language of conditions and templates."""

from __future__ import annotations

import pytest

from domain.expressions import (
    ExpressionError,
    evaluate_condition,
    render,
    render_value,
    syntax_error,
)
from domain.journey import Template
from domain.rendering import render_template

CONTEXT = {
    "profile": {"first_name": "Ada", "tier": "high", "orders": 3, "tags": ["vip"]},
    "trigger": {"order_id": "o-1", "total": 120.5},
    "steps": {"delivered": {"received": True}},
    "journey": {"id": "post_purchase", "version": 2, "name": "Post-purchase"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("profile.tier == 'high'", True),
        ("profile.orders >= 3 and 'vip' in profile.tags", True),
        ("trigger.total > 200", False),
        ("steps.delivered.received", True),
        ("not steps.delivered.received", False),
        ("profile.missing == 'x'", False),
        ("profile.missing is not defined", True),
    ],
)
def test_conditions_see_profile_trigger_and_steps(source: str, expected: bool) -> None:
    assert evaluate_condition(source, CONTEXT) is expected


def test_a_missing_value_in_a_comparison_is_an_error_not_false() -> None:
    with pytest.raises(ExpressionError, match=r"profile\.score <= 2"):
        evaluate_condition("profile.score <= 2", CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__base__.__subclasses__()",
        "().__class__.__mro__",
        "profile.__class__.__init__.__globals__",
        "trigger.__class__.__bases__",
    ],
)
def test_the_sandbox_refuses_attribute_tricks_in_conditions(source: str) -> None:
    with pytest.raises(ExpressionError, match="unsafe"):
        evaluate_condition(source, CONTEXT)


def test_the_sandbox_never_hands_out_a_class() -> None:
    # Refused outright: an undefined value would make the condition silently false.
    with pytest.raises(ExpressionError, match="unsafe"):
        evaluate_condition("().__class__", CONTEXT)


@pytest.mark.parametrize(
    "source",
    ["{{ ().__class__ }}", "{{ ().__class__.__base__.__subclasses__() }}", "{{ ''.__class__ }}"],
)
def test_the_sandbox_refuses_attribute_tricks_in_templates(source: str) -> None:
    with pytest.raises(ExpressionError, match="unsafe"):
        render(source, CONTEXT)


def test_templates_render_the_context() -> None:
    text = render("Hi {{ profile.first_name }}, order {{ trigger.order_id }}", CONTEXT)
    assert text == "Hi Ada, order o-1"


def test_a_strict_template_fails_on_a_missing_variable() -> None:
    with pytest.raises(ExpressionError, match="last_name"):
        render("Dear {{ profile.last_name }}", CONTEXT)


def test_a_strict_template_fails_on_a_missing_namespace() -> None:
    with pytest.raises(ExpressionError, match="survey"):
        render("{{ survey.csat }}", CONTEXT)


def test_a_default_fills_a_missing_variable() -> None:
    assert render("Hi {{ profile.nickname | default('there') }}", CONTEXT) == "Hi there"


def test_html_templates_escape_values() -> None:
    context = {**CONTEXT, "profile": {"first_name": "<b>Ada</b>"}}
    assert render("<p>{{ profile.first_name }}</p>", context, html=True) == (
        "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"
    )
    assert render("{{ profile.first_name }}", context) == "<b>Ada</b>"


def test_render_value_renders_templates_and_keeps_other_values() -> None:
    assert render_value("{{ trigger.order_id }}", CONTEXT) == "o-1"
    assert render_value("plain", CONTEXT) == "plain"
    assert render_value(42, CONTEXT) == 42
    assert render_value(True, CONTEXT) is True


def test_syntax_errors_are_described_and_good_sources_pass() -> None:
    assert syntax_error("profile.tier ==", expression=True) is not None
    assert syntax_error("Hi {{ profile.first_name", expression=False) is not None
    assert syntax_error("profile.tier == 'high'", expression=True) is None
    assert syntax_error("{% if x %}y{% endif %}", expression=False) is None


def test_a_whole_template_renders_its_parts_and_strips_the_subject() -> None:
    template = Template(
        subject="  Order {{ trigger.order_id }}\n",
        text="Hi {{ profile.first_name }}",
        html="<p>{{ profile.first_name }}</p>",
    )
    parts = render_template(template, CONTEXT)
    assert (parts.subject, parts.text, parts.html) == ("Order o-1", "Hi Ada", "<p>Ada</p>")
