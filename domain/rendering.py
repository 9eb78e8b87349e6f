"""Render a journey template for one customer: subject, text and HTML, strictly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from domain.expressions import render
from domain.journey import Template, TemplateVariant


class RenderedParts(BaseModel):
    subject: str
    text: str
    html: str | None
    locale: str = "default"


def render_message(
    template: Template, context: dict[str, Any], locale: str | None
) -> RenderedParts:
    """The customer's locale variant (or the fallback) rendered strictly."""
    chosen, variant = template.variant(locale)
    return render_template(variant, context).model_copy(update={"locale": chosen})


def render_template(template: TemplateVariant, context: dict[str, Any]) -> RenderedParts:
    """Raises ExpressionError naming the variable when the context lacks one."""
    return RenderedParts(
        subject=render(template.subject, context).strip(),
        text=render(template.text, context),
        html=render(template.html, context, html=True) if template.html else None,
    )
