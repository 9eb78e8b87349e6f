"""Segments: named, declarative audiences over profiles, projections and recent events.

A segment file (YAML) holds a list of segments::

    segments:
      - name: at_risk_buyers
        description: Buyers slipping away
        where:
          all:
            - {field: stage, in: [at_risk, lapsed]}
            - {field: order_count, gte: 2}
            - not: {event: case_opened, within: 30d}

A condition is one of

* a field test ``{field: NAME, OP: VALUE}`` (several operators in one mapping must all hold);
  operators ``eq ne lt lte gt gte`` (or ``== != < <= > >=``), ``in``, ``not_in``, ``exists``
  (true/false), and for tags ``contains`` / ``contains_any``;
* an event test ``{event: TYPE, within: 30d, count: ">= 1"}``: how many events of that type
  the customer has in the window ending at the evaluation date (``within`` left out: ever;
  ``count`` left out: at least one; a bare number means exactly that many);
* an anniversary test ``{anniversary: FIELD}``: the evaluation date is the day and month of
  that date in a later year (a birthday in ``attributes.birthday`` as ISO text, the sign-up
  date ``created_at``); 29 February is celebrated on 28 February in other years;
* ``{all: [...]}``, ``{any: [...]}``, ``{not: CONDITION}``.

Fields are the profile (`PROFILE_FIELDS`, plus ``attributes.<key>``) and the customer_metrics
projection (`PROJECTION_FIELDS`). A missing value (no email, no such attribute, no projection
row yet) satisfies no test except ``ne``, ``not_in`` and ``exists: false``.

Everything is checked when a segment is loaded: a problem names the file, the segment, the
condition's path (``where.all[1]``) and the field, and an unknown field lists the known ones.
The store compiles a checked segment to SQL (store/segments.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from domain.durations import Duration, parse_duration
from domain.projections import STAGES, TIERS
from domain.yaml_reading import read_yaml

FieldKind = Literal["string", "integer", "number", "boolean", "datetime", "tags", "json"]
Operator = Literal[
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists", "contains", "contains_any"
]
CountOperator = Literal["eq", "ne", "lt", "lte", "gt", "gte"]


@dataclass(frozen=True)
class FieldSpec:
    kind: FieldKind
    source: Literal["profile", "projection"]
    choices: tuple[str, ...] = ()


PROFILE_FIELDS: dict[str, FieldSpec] = {
    "customer_id": FieldSpec("string", "profile"),
    "email": FieldSpec("string", "profile"),
    "phone": FieldSpec("string", "profile"),
    "timezone": FieldSpec("string", "profile"),
    "locale": FieldSpec("string", "profile"),
    "tags": FieldSpec("tags", "profile"),
    "created_at": FieldSpec("datetime", "profile"),
}
PROJECTION_FIELDS: dict[str, FieldSpec] = {
    "order_count": FieldSpec("integer", "projection"),
    "revenue": FieldSpec("number", "projection"),
    "items": FieldSpec("integer", "projection"),
    "recency_days": FieldSpec("integer", "projection"),
    "mean_interval_days": FieldSpec("number", "projection"),
    "first_order_at": FieldSpec("datetime", "projection"),
    "last_order_at": FieldSpec("datetime", "projection"),
    "r_score": FieldSpec("integer", "projection"),
    "f_score": FieldSpec("integer", "projection"),
    "m_score": FieldSpec("integer", "projection"),
    "rfm_total": FieldSpec("integer", "projection"),
    "tier": FieldSpec("string", "projection", TIERS),
    "stage": FieldSpec("string", "projection", STAGES),
    "churn_risk": FieldSpec("boolean", "projection"),
}
ATTRIBUTE_PREFIX = "attributes."
# Used with fullmatch (`$` alone lets a trailing newline through) and ASCII digits only.
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_COUNT = re.compile(r" *(==|!=|<=|>=|<|>)? *([0-9]{1,9}) *")

OPERATOR_SPELLINGS: dict[str, Operator] = {
    "eq": "eq",
    "==": "eq",
    "ne": "ne",
    "!=": "ne",
    "lt": "lt",
    "<": "lt",
    "lte": "lte",
    "<=": "lte",
    "gt": "gt",
    "gte": "gte",
    ">": "gt",
    ">=": "gte",
    "in": "in",
    "not_in": "not_in",
    "exists": "exists",
    "contains": "contains",
    "contains_any": "contains_any",
}
_COUNT_OPERATORS: dict[str, CountOperator] = {
    "==": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
}
_SYMBOL: dict[str, str] = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_OPERATORS_FOR: dict[FieldKind, tuple[Operator, ...]] = {
    "string": ("eq", "ne", "in", "not_in", "exists"),
    "integer": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists"),
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "exists"),
    "boolean": ("eq", "ne", "exists"),
    "datetime": ("lt", "lte", "gt", "gte", "exists"),
    "tags": ("contains", "contains_any"),
    "json": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists"),
}


def known_fields() -> list[str]:
    return sorted([*PROFILE_FIELDS, *PROJECTION_FIELDS, f"{ATTRIBUTE_PREFIX}<key>"])


def field_spec(name: str) -> FieldSpec | None:
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name.removeprefix(ATTRIBUTE_PREFIX)
        return FieldSpec("json", "profile") if _ATTRIBUTE_KEY.fullmatch(key) else None
    return PROFILE_FIELDS.get(name) or PROJECTION_FIELDS.get(name)


# --- the checked model (what the store compiles; round-trips through pydantic) ----------------


class FieldCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Operator
    value: Any = None


class EventCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str
    within: Duration | None = None
    count_op: CountOperator = "gte"
    count: int = 1


class AnniversaryCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    anniversary: str


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition]


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    any: list[Condition]


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    not_: Condition = Field(alias="not")


Condition = FieldCondition | EventCondition | AnniversaryCondition | AllOf | AnyOf | NotOf
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    where: Condition

    def fields(self) -> set[str]:
        """Every field the segment tests."""
        return set(_fields(self.where))

    def uses_projection(self) -> bool:
        return any(
            (spec := field_spec(name)) is not None and spec.source == "projection"
            for name in self.fields()
        )


def _fields(condition: Condition) -> list[str]:
    match condition:
        case FieldCondition(field=name) | AnniversaryCondition(anniversary=name):
            return [name]
        case EventCondition():
            return []
        case AllOf(all=parts) | AnyOf(any=parts):
            return [name for part in parts for name in _fields(part)]
        case NotOf(not_=inner):
            return _fields(inner)
    raise AssertionError(f"unknown condition {condition!r}")


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentProblem:
    message: str
    segment: str | None = None
    path: str = ""
    field: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = [self.file or "<segments>"]
        if self.segment:
            where.append(f"segment {self.segment!r}")
        if self.path:
            where.append(self.path)
        if self.field:
            where.append(f"field {self.field!r}")
        return ": ".join([*where, self.message])


class SegmentError(ValueError):
    """Segments that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[SegmentProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- parsing ---------------------------------------------------------------------------------


class _Problems(list[SegmentProblem]):
    def add(self, path: str, message: str, field: str | None = None) -> None:
        self.append(SegmentProblem(message=message, path=path, field=field))


def load_segments_file(path: str | Path) -> dict[str, Segment]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SegmentError(
            [SegmentProblem(file=str(path), message=f"cannot read: {exc.strerror}")]
        ) from exc
    return load_segments_text(text, source=str(path))


def load_segments_text(text: str, *, source: str = "<segments>") -> dict[str, Segment]:
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise SegmentError(
            [SegmentProblem(file=source, message=f"invalid YAML{where}: {reason}")]
        ) from exc
    return parse_segments(raw, source=source)


def parse_segments(raw: Any, *, source: str = "<segments>") -> dict[str, Segment]:
    """Every segment in `raw` (`{segments: [...]}` or a list), by name; all checked."""
    items = raw.get("segments") if isinstance(raw, dict) and set(raw) == {"segments"} else raw
    if not isinstance(items, list):
        raise SegmentError(
            [SegmentProblem(file=source, message="expected `segments:` with a list of segments")]
        )
    segments: dict[str, Segment] = {}
    problems: list[SegmentProblem] = []
    for index, item in enumerate(items):
        try:
            segment = parse_segment(item, position=index + 1)
        except SegmentError as exc:
            problems += [replace(p, file=source) for p in exc.problems]
            continue
        if segment.name in segments:
            problems.append(
                SegmentProblem(file=source, segment=segment.name, message="defined twice")
            )
        segments[segment.name] = segment
    if problems:
        raise SegmentError(problems)
    return segments


def parse_segment(raw: Any, *, position: int | None = None) -> Segment:
    """One segment from its mapping (`name`, optional `description`, `where`)."""
    label = f"#{position}" if position else None
    if not isinstance(raw, dict):
        raise SegmentError(
            [SegmentProblem(segment=label, message="a segment must be a mapping with name, where")]
        )
    name = raw.get("name")
    problems = _Problems()
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.add("name", f"{name!r} is not a segment name (lower case, digits, _)")
        name = None
    unknown = sorted(set(map(str, raw)) - {"name", "description", "where"})
    if unknown:
        problems.add("", f"unknown key(s) {', '.join(unknown)} (expected name, description, where)")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add("description", "must be text")
        description = ""
    condition: Condition | None = None
    if "where" not in raw:
        problems.add("where", "missing: say which customers belong to the segment")
    else:
        condition = _condition(raw["where"], "where", problems)
    if problems or condition is None:
        segment_name = name or label
        raise SegmentError([replace(p, segment=segment_name) for p in problems])
    assert name is not None
    return Segment(name=name, description=description, where=condition)


def _condition(raw: Any, path: str, problems: _Problems) -> Condition | None:
    if not isinstance(raw, dict) or not raw:
        problems.add(
            path,
            "a condition must be a mapping: {field: ...}, {event: ...}, {anniversary: ...}, "
            "{all: [...]}, {any: [...]} or {not: ...}",
        )
        return None
    keys = set(map(str, raw))
    for combinator in ("all", "any"):
        if combinator in keys:
            if keys != {combinator}:
                problems.add(
                    path,
                    f"`{combinator}` stands alone; found also "
                    f"{', '.join(sorted(keys - {combinator}))}",
                )
                return None
            parts = raw[combinator]
            if not isinstance(parts, list) or not parts:
                problems.add(f"{path}.{combinator}", "must be a non-empty list of conditions")
                return None
            checked = [
                _condition(p, f"{path}.{combinator}[{i}]", problems) for i, p in enumerate(parts)
            ]
            if any(c is None for c in checked):
                return None
            conditions = [c for c in checked if c is not None]
            return AllOf(all=conditions) if combinator == "all" else AnyOf(any=conditions)
    if "not" in keys:
        if keys != {"not"}:
            others = ", ".join(sorted(keys - {"not"}))
            problems.add(path, f"`not` stands alone; found also {others}")
            return None
        inner = _condition(raw["not"], f"{path}.not", problems)
        return None if inner is None else NotOf(not_=inner)
    if "event" in keys:
        return _event_condition(raw, path, problems)
    if "field" in keys:
        return _field_condition(raw, path, problems)
    if "anniversary" in keys:
        return _anniversary_condition(raw, path, problems)
    problems.add(
        path,
        f"unknown condition keys {', '.join(sorted(keys))}; "
        "expected field, event, anniversary, all, any or not",
    )
    return None


def _anniversary_condition(raw: dict[str, Any], path: str, problems: _Problems) -> Condition | None:
    name = raw["anniversary"]
    if set(map(str, raw)) != {"anniversary"}:
        others = ", ".join(sorted(set(map(str, raw)) - {"anniversary"}))
        problems.add(path, f"`anniversary` stands alone; found also {others}")
        return None
    spec = field_spec(name) if isinstance(name, str) else None
    if spec is None or spec.kind not in ("datetime", "json"):
        dates = [
            n for n, s in {**PROFILE_FIELDS, **PROJECTION_FIELDS}.items() if s.kind == "datetime"
        ]
        problems.add(
            f"{path}.anniversary",
            f"{name!r} is not a date field; use one of {', '.join(dates)} "
            f"or {ATTRIBUTE_PREFIX}<key> holding an ISO date",
            field=name if isinstance(name, str) else None,
        )
        return None
    return AnniversaryCondition(anniversary=name)


def _event_condition(raw: dict[str, Any], path: str, problems: _Problems) -> Condition | None:
    before = len(problems)
    unknown = sorted(set(map(str, raw)) - {"event", "within", "count"})
    if unknown:
        problems.add(
            path,
            f"unknown key(s) {', '.join(unknown)} in an event condition "
            "(expected event, within, count)",
        )
    event = raw.get("event")
    if not isinstance(event, str) or not _EVENT_TYPE.fullmatch(event):
        problems.add(f"{path}.event", f"{event!r} is not an event type such as order_completed")
    within: timedelta | None = None
    if raw.get("within") is not None:
        try:
            within = parse_duration(raw["within"])
        except ValueError as exc:
            problems.add(f"{path}.within", str(exc))
    count_op: CountOperator = "gte"
    count = 1
    if "count" in raw:
        parsed = _count(raw["count"])
        if parsed is None:
            problems.add(
                f"{path}.count", f"{raw['count']!r} is not a count such as '>= 1', '== 0' or 3"
            )
        else:
            count_op, count = parsed
    if len(problems) > before:
        return None
    return EventCondition(event=event, within=within, count_op=count_op, count=count)


def _count(raw: Any) -> tuple[CountOperator, int] | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return ("eq", raw) if raw >= 0 else None
    if not isinstance(raw, str) or not (match := _COUNT.fullmatch(raw)):
        return None
    return _COUNT_OPERATORS[match.group(1) or "=="], int(match.group(2))


def _field_condition(raw: dict[str, Any], path: str, problems: _Problems) -> Condition | None:
    name = raw["field"]
    if not isinstance(name, str):
        problems.add(f"{path}.field", f"{name!r} is not a field name")
        return None
    spec = field_spec(name)
    if spec is None:
        hint = (
            "attribute keys are letters, digits, _ and -"
            if name.startswith(ATTRIBUTE_PREFIX)
            else f"known fields: {', '.join(known_fields())}"
        )
        problems.add(path, f"unknown field; {hint}", field=name)
        return None
    allowed = _OPERATORS_FOR[spec.kind]
    if len(raw) == 1:
        spelled = ", ".join(_SYMBOL.get(o, o) for o in allowed)
        problems.add(path, f"no test given: add an operator ({spelled})", field=name)
        return None
    tests: list[FieldCondition] = []
    for key, value in raw.items():
        if key == "field":
            continue
        op = OPERATOR_SPELLINGS.get(str(key))
        if op is None or op not in allowed:
            what = "unknown operator" if op is None else "operator not usable on this field"
            spelled = ", ".join(_SYMBOL.get(o, o) for o in allowed)
            problems.add(path, f"{what} {key!r}; use one of {spelled}", field=name)
            continue
        try:
            checked = _value(spec, op, value)
        except ValueError as exc:
            problems.add(f"{path}.{key}", str(exc), field=name)
            continue
        tests.append(FieldCondition(field=name, op=op, value=checked))
    if len(tests) != len(raw) - 1:
        return None
    return tests[0] if len(tests) == 1 else AllOf(all=list(tests))


def _value(spec: FieldSpec, op: Operator, value: Any) -> Any:
    if op == "exists":
        if not isinstance(value, bool):
            raise ValueError(f"exists takes true or false, not {value!r}")
        return value
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{op} takes a non-empty list, not {value!r}")
        return [_scalar(spec, op, item) for item in value]
    return _scalar(spec, op, value)


def _scalar(spec: FieldSpec, op: Operator, value: Any) -> Any:
    kind = spec.kind
    if kind == "tags":
        if not isinstance(value, str) or not value:
            raise ValueError(f"tags are text, not {value!r}")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected text, not {value!r}")
        if spec.choices and value not in spec.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(spec.choices)}")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, not {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, not {value!r}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, not {value!r}")
        return value
    if kind == "datetime":
        # Kept as ISO text so a segment stays plain JSON (workflow inputs carry segments).
        return _instant(value).isoformat()
    # json attributes: any JSON scalar; ordering only between numbers or between texts
    if value is None or isinstance(value, list | dict):
        raise ValueError(f"compare attributes with a text, number or true/false, not {value!r}")
    if isinstance(value, date | datetime):
        return value.isoformat()
    if op in ("lt", "lte", "gt", "gte") and isinstance(value, bool):
        raise ValueError("true/false cannot be ordered; use eq or ne")
    return value


def instant(value: Any) -> datetime:
    """A datetime field's value as an aware UTC datetime (dates are midnight UTC)."""
    return _instant(value)


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO date such as 2024-01-31") from exc
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
                return value.replace(tzinfo=UTC)
            raise ValueError(f"{value.isoformat()} has no timezone: add one (e.g. +00:00)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, tzinfo=UTC))
    raise ValueError(f"expected a date such as 2024-01-31, not {value!r}")
