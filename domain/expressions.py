"""The one sandboxed expression language of journeys: Jinja2's SandboxedEnvironment.

Conditions (`survey.csat <= 2`) and templates (`Hello {{ profile.first_name }}`) both go
through here; nothing is ever `eval`-ed, and attribute tricks such as `().__class__` are refused.
Besides Jinja's own filters there is `category_name(locale)`, which shows a case category in
the customer's language (`{{ trigger.category | category_name('zh-CN') }}` reads "配送").

Every render and evaluation also runs under a budget (domain/limits.py): loop iterations and
calls, the size of every string or list an operator, filter or method makes, the size of the
output (captured blocks and macros too) and the size of integers. Jinja folds constant
expressions while compiling, so the costly operators are intercepted (never folded) and the
costly filters check their arguments before they work; a template that would take minutes or
gigabytes fails at once with BudgetError. The counts are deterministic (no clocks), so a workflow
that replays a render fails or succeeds the same way.
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from domain.cases import category_name
from domain.limits import (
    MAX_INT_BITS,
    MAX_OPERATIONS,
    MAX_OUTPUT_SIZE,
    MAX_RANGE,
    MAX_TEMPLATE_SIZE,
    MAX_VALUE_SIZE,
    MAX_WORK,
)


class ExpressionError(ValueError):
    """An expression or template that does not parse, or that failed when evaluated."""


class BudgetError(ExpressionError):
    """A template or condition that would take too long or too much memory."""


class _Budget:
    def __init__(self) -> None:
        self.operations = 0
        self.output = 0
        self.work = 0

    def step(self, count: int = 1) -> None:
        self.operations += count
        if self.operations > MAX_OPERATIONS:
            raise BudgetError(f"more than {MAX_OPERATIONS} loop iterations and calls")

    def made(self, size: int) -> None:
        self.work += size
        if self.work > MAX_WORK:
            raise BudgetError(f"makes more than {MAX_WORK} characters in all")

    def wrote(self, size: int) -> None:
        self.output += size
        if self.output > MAX_OUTPUT_SIZE:
            raise BudgetError(f"writes more than {MAX_OUTPUT_SIZE} characters")


_budget: ContextVar[_Budget | None] = ContextVar("expression_budget", default=None)


def _charge(size: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.made(size)


def _sized(value: Any) -> Any:
    """`value`, unless it is a string or collection larger than MAX_VALUE_SIZE."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        if len(value) > MAX_VALUE_SIZE:
            raise BudgetError(f"makes a value of more than {MAX_VALUE_SIZE} characters or items")
        _charge(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int(value)
    return value


def _check_int(value: int) -> None:
    if value.bit_length() > MAX_INT_BITS:
        raise BudgetError(f"makes a number larger than 2**{MAX_INT_BITS}")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _bits(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value.bit_length()


_WIDE_FORMAT = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|[0-9]{5,}|[0-9]*\.(\*|[0-9]{5,}))")


def _check_percent_format(template: str) -> None:
    if _WIDE_FORMAT.search(template):
        raise BudgetError("a %-format with a width or precision of 10000 or more (or *)")


def _check_brace_format(template: str) -> None:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises its own error
    for _, _, spec, _ in fields:
        if spec and ("{" in spec or re.search(r"[0-9]{5,}", spec)):
            raise BudgetError("a format spec with a width or precision of 10000 or more")


def _check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse before computing what would be too large to compute."""
    if op == "*":
        for seq, count in ((left, right), (right, left)):
            size = _length(seq)
            if size is not None and isinstance(count, int) and size * count > MAX_VALUE_SIZE:
                raise BudgetError(f"repeats a value past {MAX_VALUE_SIZE} characters or items")
        if _bits(left) + _bits(right) > MAX_INT_BITS + 1:
            raise BudgetError(f"makes a number larger than 2**{MAX_INT_BITS}")
    elif op == "**":
        if (
            isinstance(right, int)
            and not isinstance(right, bool)
            and _bits(left) > 1
            and (right > MAX_INT_BITS or (_bits(left) - 1) * right > MAX_INT_BITS)
        ):
            raise BudgetError(f"makes a number larger than 2**{MAX_INT_BITS}")
    elif op == "+":
        sizes = (_length(left), _length(right))
        if None not in sizes and sum(s or 0 for s in sizes) > MAX_VALUE_SIZE:
            raise BudgetError(f"makes a value of more than {MAX_VALUE_SIZE} characters or items")
    elif op == "%" and isinstance(left, str):
        _check_percent_format(left)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def _width_arg(position: int, keyword: str) -> Callable[[tuple[Any, ...], dict[str, Any]], None]:
    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        value = kwargs.get(keyword, args[position] if len(args) > position else None)
        if isinstance(value, int) and value > MAX_VALUE_SIZE:
            raise BudgetError(f"{keyword} {value} is more than {MAX_VALUE_SIZE}")
        if isinstance(value, str) and len(value) * 1000 > MAX_VALUE_SIZE:
            raise BudgetError(f"{keyword} is too long")

    return check


def _join_check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    items, sep = args[0], kwargs.get("d", args[1] if len(args) > 1 else "")
    count = len(items) if isinstance(items, list | tuple | str) else 0
    if isinstance(sep, str) and len(sep) * count > MAX_VALUE_SIZE:
        raise BudgetError(f"joins past {MAX_VALUE_SIZE} characters")


def _format_check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args and isinstance(args[0], str):
        _check_percent_format(args[0])


def _replace_check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    value = args[0] if args else ""
    old = kwargs.get("old", args[1] if len(args) > 1 else "")
    new = kwargs.get("new", args[2] if len(args) > 2 else "")
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        grows = value.count(old) * (len(new) - len(old))
        if len(value) + grows > MAX_VALUE_SIZE:
            raise BudgetError(f"replaces past {MAX_VALUE_SIZE} characters")


# Filters whose arguments decide how much they make: checked before they run.
_FILTER_CHECKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _width_arg(1, "width"),
    "indent": _width_arg(1, "width"),
    "wordwrap": _width_arg(1, "width"),
    "truncate": _width_arg(1, "length"),
    "batch": _width_arg(1, "linecount"),
    "slice": _width_arg(1, "slices"),
    "join": _join_check,
    "format": _format_check,
    "replace": _replace_check,
}

# String methods likewise: (method name, check of its arguments, the string itself first).
_METHOD_CHECKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _width_arg(1, "width"),
    "ljust": _width_arg(1, "width"),
    "rjust": _width_arg(1, "width"),
    "zfill": _width_arg(1, "width"),
    "expandtabs": _width_arg(1, "tabsize"),
    "replace": _replace_check,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS.get(name)

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        # The value filtered comes after an environment or context argument, if any.
        first = next((i for i, a in enumerate(args) if not _is_jinja_internal(a)), None)
        if first is not None and name == "join" and not isinstance(args[first], list | tuple):
            args = (*args[:first], list(_Counted(args[first])), *args[first + 1 :])
        values = list(args[first:]) if first is not None else []
        if values:
            _sized(values[0])
        if check is not None:
            check(tuple(values), kwargs)
        budget = _budget.get()
        if budget is not None:
            budget.step()
        return _sized(func(*args, **kwargs))

    return bounded


def _is_jinja_internal(value: Any) -> bool:
    return isinstance(value, SandboxedEnvironment | EvalContext | Context)


class _Counted:
    """An iterable that charges one operation per item to the render's budget."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        budget = _budget.get()
        for item in self._iterable:
            if budget is not None:
                budget.step()
            yield item

    def __len__(self) -> int:
        return len(self._iterable)  # type: ignore[arg-type]


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetError(f"range of {len(numbers)} items (at most {MAX_RANGE})")
    return numbers


def _count_loops(iterable: Any) -> Any:
    if isinstance(iterable, Undefined):
        return iterable
    return _Counted(iterable)


def _category_name(value: Any, locale: str) -> Any:
    """`{{ trigger.category | category_name('zh-CN') }}`: a case category as a reader of
    `locale` reads it ("delivery": "配送"); an unknown category, or a value that is no string
    (a missing one stays missing, so a strict render still names it), is left as it is."""
    if isinstance(value, str) and isinstance(locale, str):
        return category_name(value, locale)
    return value


def _literal(text: str) -> Markup:
    return Markup(text)


def _finalize(value: Any) -> Any:
    budget = _budget.get()
    if budget is not None and not isinstance(value, Undefined):
        budget.wrote(len(value) if isinstance(value, str) else len(str(value)))
    return value


class _Bounded(NodeTransformer):
    """Loops count their iterations, `~` checks what it makes, literal text counts as output."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.Name("__count_loops", "load"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.Name("__sized", "load"), [node], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        # Calls are never folded while compiling, so every piece of output, literal text and
        # constants too, is written (and counted) at render time.
        self.generic_visit(node)
        node.nodes = [
            nodes.Call(
                nodes.Name(
                    "__literal" if isinstance(child, nodes.TemplateData) else "__sized", "load"
                ),
                [nodes.Const(child.data) if isinstance(child, nodes.TemplateData) else child],
                [],
                None,
                None,
                lineno=child.lineno,
            )
            for child in node.nodes
        ]
        return node


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with every costly operator, filter, method and loop under the budget."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.filters["category_name"] = _category_name
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = _safe_range
        self.globals.pop("lipsum", None)  # lipsum(n=10**6) writes a million paragraphs
        self.globals["__count_loops"] = _count_loops
        self.globals["__sized"] = _sized
        self.globals["__literal"] = _literal

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _sized(_BINOPS[operator](left, right))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Refuse at once, rather than an Undefined a lenient condition would read as false.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        if budget is not None:
            budget.step()
        # The sandbox hands str.format out wrapped; look through the wrapper.
        inner = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(inner, "__self__", None)
        name = getattr(inner, "__name__", "")
        if isinstance(owner, str):
            _sized(owner)
            if name in _METHOD_CHECKS:
                _METHOD_CHECKS[name]((owner, *args), kwargs)
            elif name in ("format", "format_map"):
                _check_brace_format(owner)
            elif name == "join" and args:
                items = list(_Counted(args[0]))
                _join_check((items, owner), {})
                args = (items, *args[1:])
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def parse_bounded(self, source: str) -> nodes.Template:
        if len(source) > MAX_TEMPLATE_SIZE:
            raise BudgetError(f"longer than {MAX_TEMPLATE_SIZE} characters")
        tree = self.parse(source)
        return _Bounded().visit(tree)

    def template(self, source: str) -> Template:
        return self.from_string(self.parse_bounded(source))

    def expression(self, source: str) -> TemplateExpression:
        if len(source) > MAX_TEMPLATE_SIZE:
            raise BudgetError(f"longer than {MAX_TEMPLATE_SIZE} characters")
        parser = Parser(self, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError(
                "chunk after expression", parser.stream.current.lineno, None, None
            )
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        tree = _Bounded().visit(nodes.Template(body, lineno=1))
        tree.set_environment(self)
        return TemplateExpression(self.from_string(tree), undefined_to_none=True)


_lenient = BoundedEnvironment(undefined=Undefined, autoescape=False)
_strict = BoundedEnvironment(undefined=StrictUndefined, autoescape=False)
_strict_html = BoundedEnvironment(undefined=StrictUndefined, autoescape=True)


def syntax_error(source: str, *, expression: bool) -> str | None:
    """Why `source` does not parse (or compile within the budget), or None when it does."""
    try:
        if expression:
            _compiled_condition(source)
        else:
            _compiled_template(source, False)
    except TemplateSyntaxError as exc:
        return f"{exc.message} (line {exc.lineno})"
    except (BudgetError, RecursionError, MemoryError) as exc:
        return str(exc) if isinstance(exc, BudgetError) else f"{type(exc).__name__}: {exc}"
    return None


@lru_cache(maxsize=512)
def _compiled_condition(source: str) -> Any:
    return _lenient.expression(source)


@lru_cache(maxsize=512)
def _compiled_template(source: str, html: bool) -> Template:
    return (_strict_html if html else _strict).template(source)


def describe(exc: BaseException) -> str:
    """Why an expression failed, in words: Jinja's own message, else the error's kind too."""
    if isinstance(exc, (TemplateSyntaxError, SecurityError, UndefinedError, BudgetError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def evaluate_condition(source: str, context: dict[str, Any]) -> bool:
    """True when the condition holds; a missing value compares as None (so `x <= 2` is an error)."""
    token = _budget.set(_Budget())
    try:
        return bool(_compiled_condition(source)(**context))
    except Exception as exc:  # the sandbox lets arithmetic and range errors escape as they are
        error = BudgetError if _is_budget(exc) else ExpressionError
        raise error(f"condition {source[:60]!r} failed: {describe(exc)}") from exc
    finally:
        _budget.reset(token)


def render(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render a template strictly: a missing variable is an error, never an empty string.

    Any failure of the template itself (`{{ 1/0 }}`, `{{ range(10**9)|list }}`, a template
    over its budget) becomes ExpressionError, so callers see one kind.
    """
    token = _budget.set(_Budget())
    try:
        parts: list[str] = []
        size = 0
        for chunk in _compiled_template(source, html).generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT_SIZE:
                raise BudgetError(f"writes more than {MAX_OUTPUT_SIZE} characters")
            parts.append(chunk)
        return "".join(parts)
    except Exception as exc:
        error = BudgetError if _is_budget(exc) else ExpressionError
        raise error(f"template {source[:60]!r} failed: {describe(exc)}") from exc
    finally:
        _budget.reset(token)


def _is_budget(exc: BaseException) -> bool:
    return isinstance(exc, BudgetError | RecursionError | MemoryError | OverflowError)


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render a string value as a template; other values (numbers, booleans) are literal."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return render(value, context)
    return value
