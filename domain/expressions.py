"""The one sandboxed expression language of journeys: Jinja2's SandboxedEnvironment.

Conditions (`survey.csat <= 2`) and templates (`Hello {{ profile.first_name }}`) both go
through here; nothing is ever `eval`-ed, and attribute tricks such as `().__class__` are refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

_lenient = SandboxedEnvironment(undefined=Undefined, autoescape=False)
_strict = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_strict_html = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


class ExpressionError(ValueError):
    """An expression or template that does not parse, or that failed when evaluated."""


def syntax_error(source: str, *, expression: bool) -> str | None:
    """Why `source` does not parse, or None when it does."""
    try:
        if expression:
            _lenient.compile_expression(source)
        else:
            _lenient.parse(source)
    except TemplateSyntaxError as exc:
        return f"{exc.message} (line {exc.lineno})"
    return None


@lru_cache(maxsize=512)
def _compiled_condition(source: str) -> Any:
    return _lenient.compile_expression(source, undefined_to_none=True)


def describe(exc: BaseException) -> str:
    """Why an expression failed, in words: Jinja's own message, else the error's kind too."""
    if isinstance(exc, (TemplateSyntaxError, SecurityError, UndefinedError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def evaluate_condition(source: str, context: dict[str, Any]) -> bool:
    """True when the condition holds; a missing value compares as None (so `x <= 2` is an error)."""
    try:
        return bool(_compiled_condition(source)(**context))
    except Exception as exc:  # the sandbox lets arithmetic and range errors escape as they are
        raise ExpressionError(f"condition {source!r} failed: {describe(exc)}") from exc


def render(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render a template strictly: a missing variable is an error, never an empty string.

    Any failure of the template itself (`{{ 1/0 }}`, `{{ range(10**9)|list }}`, which the
    sandbox refuses with OverflowError) becomes ExpressionError, so callers see one kind.
    """
    env = _strict_html if html else _strict
    try:
        return env.from_string(source).render(**context)
    except Exception as exc:
        raise ExpressionError(f"template {source[:60]!r} failed: {describe(exc)}") from exc


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render a string value as a template; other values (numbers, booleans) are literal."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return render(value, context)
    return value
