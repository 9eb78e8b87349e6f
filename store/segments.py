"""Segments evaluated by the database: a checked segment compiled to one SQL condition.

The condition runs over customers LEFT JOIN customer_metrics, with event tests as correlated
subqueries on the event log, so membership, counts and pages are computed by SQLite or
PostgreSQL alike without loading customers into Python. JSON differs between the two
(json_extract/json_type/json_each against ->, jsonb_typeof, @> and ?|); that is all here.

A missing value never satisfies a test, except `ne`, `not_in` and `exists: false`, and `not`
turns "unknown" into "no" first, so negation splits the base into two exact halves.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, array

from domain.projections import cutoff
from domain.segments import (
    ATTRIBUTE_PREFIX,
    AllOf,
    AnniversaryCondition,
    AnyOf,
    Condition,
    EventCondition,
    FieldCondition,
    NotOf,
    Segment,
    field_spec,
    instant,
)
from store.db import reading
from store.projections import ProjectionOutOfDate, built_as_of, no_customers
from store.schema import customer_events, customer_metrics, customers

_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}
_SQL_OPERATOR = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# JSON types per kind of value: SQLite's json_type names, then PostgreSQL's jsonb_typeof.
_SQLITE_TYPES = {"number": ("integer", "real"), "string": ("text",), "boolean": ("true", "false")}


class SegmentMember(BaseModel):
    """A member as a preview shows it: contact point and the projection's headline fields."""

    customer_id: str
    email: str | None
    timezone: str
    tier: str | None
    stage: str | None
    order_count: int | None
    revenue: float | None
    recency_days: int | None
    churn_risk: bool | None


def _source() -> FromClause:
    return customers.outerjoin(
        customer_metrics, customer_metrics.c.customer_id == customers.c.customer_id
    )


class SegmentRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def members(
        self,
        segment: Segment,
        as_of: date,
        limit: int = 1000,
        after_customer_id: str | None = None,
    ) -> list[str]:
        """Up to `limit` member ids in id order, after `after_customer_id` (keyset paging)."""
        with reading(self._engine) as conn:
            return list(
                conn.scalars(segment_page_query(conn, segment, as_of, limit, after_customer_id))
            )

    def count(self, segment: Segment, as_of: date) -> int:
        with reading(self._engine) as conn:
            condition = self._condition(conn, segment, as_of)
            query = select(func.count()).select_from(_source()).where(condition)
            return int(conn.scalar(query) or 0)

    def sample(
        self, segment: Segment, n: int = 10, as_of: date | None = None
    ) -> list[SegmentMember]:
        """Up to `n` members picked at random (as of the projection's date by default)."""
        with reading(self._engine) as conn:
            if as_of is None:
                as_of = built_as_of(conn)
                if as_of is None:
                    raise ProjectionOutOfDate(None, None)
            condition = self._condition(conn, segment, as_of)
            m = customer_metrics.c
            query = (
                select(
                    customers.c.customer_id,
                    customers.c.email,
                    customers.c.timezone,
                    m.tier,
                    m.stage,
                    m.order_count,
                    m.revenue,
                    m.recency_days,
                    m.churn_risk,
                )
                .select_from(_source())
                .where(condition)
                .order_by(func.random())
                .limit(n)
            )
            rows = conn.execute(query).all()
        members = [SegmentMember.model_validate(dict(row._mapping)) for row in rows]
        return sorted(members, key=lambda member: member.customer_id)

    def _condition(self, conn: Connection, segment: Segment, as_of: date) -> ColumnElement[bool]:
        return segment_condition(conn, segment, as_of)


def segment_condition(conn: Connection, segment: Segment, as_of: date) -> ColumnElement[bool]:
    """The segment's SQL condition; refuses a projection built for another date."""
    if segment.uses_projection():
        built = built_as_of(conn)
        if built != as_of and not (built is None and no_customers(conn)):
            raise ProjectionOutOfDate(as_of, built)
    return compile_condition(segment.where, as_of, conn.dialect.name)


def segment_page_query(
    conn: Connection,
    segment: Segment,
    as_of: date,
    limit: int,
    after_customer_id: str | None,
    *columns: ColumnElement[Any],
) -> Select[Any]:
    """Member ids in id order after `after_customer_id` (keyset paging), with `columns`."""
    condition = segment_condition(conn, segment, as_of)
    query = select(customers.c.customer_id, *columns).select_from(_source()).where(condition)
    if after_customer_id is not None:
        query = query.where(customers.c.customer_id > after_customer_id)
    return query.order_by(customers.c.customer_id).limit(limit)


def compile_condition(condition: Condition, as_of: date, dialect: str) -> ColumnElement[bool]:
    """The SQL truth of `condition` for one row of customers LEFT JOIN customer_metrics."""
    match condition:
        case AllOf(all=parts):
            return and_(*(compile_condition(p, as_of, dialect) for p in parts))
        case AnyOf(any=parts):
            return or_(*(compile_condition(p, as_of, dialect) for p in parts))
        case NotOf(not_=inner):
            return _negated(compile_condition(inner, as_of, dialect))
        case EventCondition():
            return _event(condition, as_of)
        case FieldCondition():
            return _field(condition, dialect)
        case AnniversaryCondition():
            return _anniversary(condition.anniversary, as_of, dialect)
    raise AssertionError(f"unknown condition {condition!r}")


def _negated(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    # NOT of an unknown (NULL) is unknown; make it "no" first so not: flips exactly.
    return not_(func.coalesce(condition, false()))


def _event(condition: EventCondition, as_of: date) -> ColumnElement[bool]:
    ev = customer_events.alias("ev")
    end = cutoff(as_of)
    where = [
        ev.c.customer_id == customers.c.customer_id,
        ev.c.type == condition.event,
        ev.c.occurred_at < end,
    ]
    if condition.within is not None:
        where.append(ev.c.occurred_at >= end - condition.within)
    op, n = condition.count_op, condition.count
    if (op, n) in (("gte", 1), ("gt", 0), ("ne", 0)):
        return exists().where(*where)
    if (op, n) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return ~exists().where(*where)
    if (op, n) == ("gte", 0):
        return true()
    counted = select(func.count()).select_from(ev).where(*where).scalar_subquery()
    return _COMPARE[op](counted, n)


def _field(condition: FieldCondition, dialect: str) -> ColumnElement[bool]:
    spec = field_spec(condition.field)
    if spec is None:  # only reachable with a hand-built Segment
        raise ValueError(f"unknown field {condition.field!r}")
    op, value = condition.op, condition.value
    if spec.kind == "tags":
        return _tags(op, value, dialect)
    if spec.kind == "json":
        return _attribute(condition.field.split(".", 1)[1], op, value, dialect)
    column = _column(condition.field)
    if spec.kind == "datetime" and op != "exists":
        value = instant(value)
    if op == "exists":
        return column.is_not(None) if value else column.is_(None)
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return _negated(column.in_(value))
    if op == "ne":
        return _negated(column == value)
    return _COMPARE[op](column, value)


def _anniversary(name: str, as_of: date, dialect: str) -> ColumnElement[bool]:
    """The date in `name` (ISO text 'YYYY-MM-DD...') falls on as_of's day and month, earlier."""
    if name.startswith(ATTRIBUTE_PREFIX):
        text: Any = customers.c.attributes[name.removeprefix(ATTRIBUTE_PREFIX)].as_string()
    elif dialect == "postgresql":
        text = func.to_char(func.timezone("UTC", _column(name)), "YYYY-MM-DD")
    else:
        text = _column(name)  # SQLite keeps UTC datetimes as ISO text
    days = [as_of.strftime("%m-%d")]
    if (as_of.month, as_of.day) == (2, 28) and not calendar.isleap(as_of.year):
        days.append("02-29")
    return and_(
        func.substr(text, 6, 5).in_(days),
        func.substr(text, 1, 4) < f"{as_of.year:04d}",
    )


def _column(name: str) -> Any:
    m = customer_metrics.c
    if name == "rfm_total":
        return m.r_score + m.f_score + m.m_score
    if name in customers.c:
        return customers.c[name]
    return m[name]


def _tags(op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    wanted: list[str] = [value] if op == "contains" else list(value)
    tags = customers.c.tags
    if dialect == "postgresql":
        if len(wanted) == 1:
            return tags.op("@>")(literal(wanted, JSONB))
        return tags.op("?|")(array(wanted))
    item = func.json_each(tags).table_valued("value").alias("tag")
    return exists().select_from(item).where(item.c.value.in_(wanted))


def _attribute(key: str, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    attributes = customers.c.attributes
    if dialect == "postgresql":
        node = attributes[key]
        kind_of = func.jsonb_typeof(node)
    else:
        path = f'$."{key}"'
        node = func.json_extract(attributes, path)
        kind_of = func.json_type(attributes, path)
    if op == "exists":
        present = kind_of.not_in(["null"])
        return present if value else _negated(present)
    if op in ("ne", "not_in"):
        positive = "eq" if op == "ne" else "in"
        return _negated(_attribute(key, positive, value, dialect))
    if op == "in":
        return or_(*(_attribute(key, "eq", item, dialect) for item in value))
    kind = _json_kind(value)
    if dialect == "postgresql":
        # jsonb against jsonb: never a cast error, numbers compare as numbers.
        compared = node.op(_SQL_OPERATOR[op], is_comparison=True)(literal(value, JSONB))
        return and_(kind_of == kind, compared)
    stored = int(value) if isinstance(value, bool) else value
    return and_(kind_of.in_(_SQLITE_TYPES[kind]), _COMPARE[op](node, stored))


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, date | datetime):  # pragma: no cover - parse turns these into text
        return "string"
    raise ValueError(f"cannot compare an attribute with {value!r}")
