"""The customer_metrics projection: rebuilt from the event log, as of a date, in one go.

Orders and engagement signals are aggregated by the database (GROUP BY over the event log,
reading the JSON `amount` and `items` of order events); the scoring, tier and stage rules are
the pure ones in domain/projections.py. A rebuild replaces every row in one transaction, so
readers see the old projection or the new one, never a mix, and rebuilding from the same log
as of the same date writes identical rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    delete,
    func,
    insert,
    select,
)

from domain.projections import (
    COMPLAINT_EVENTS,
    ORDER_EVENT,
    SIGNAL_EVENTS,
    CustomerMetrics,
    OrderStats,
    Signals,
    cutoff,
    project,
    signal_windows,
)
from store.db import reading, writing
from store.errors import StoreError
from store.schema import customer_events, customer_metrics, customers

# Rows per INSERT executemany; keeps every statement well under bind-parameter limits.
_CHUNK = 2000


class ProjectionOutOfDate(StoreError):
    """The projection was built as of another date (or never) than the caller asked for."""

    def __init__(self, wanted: date | None, built: date | None) -> None:
        self.wanted = wanted
        self.built = built
        state = f"were built as of {built.isoformat()}" if built else "were never built"
        day = wanted.isoformat() if wanted else "YYYY-MM-DD"
        super().__init__(
            f"customer projections {state}"
            + (f", not as of {day}" if wanted else "")
            + f": run `journeys segments summary --as-of {day}` (or rebuild) first"
        )


class ProjectionSummary(BaseModel):
    """The base by value tier and lifecycle stage; tier `none` holds the prospects."""

    as_of: date | None
    total: int
    churn_risk: int
    counts: dict[str, dict[str, int]]

    def count(self, tier: str, stage: str) -> int:
        return self.counts.get(tier, {}).get(stage, 0)


def json_number(column: Any, key: str, dialect: str) -> ColumnElement[Any]:
    """`column[key]` as a float when it is a JSON number, else NULL (never a cast error)."""
    if dialect == "postgresql":
        is_number = func.jsonb_typeof(column[key]) == "number"
    else:
        is_number = func.json_type(column, f'$."{key}"').in_(("integer", "real"))
    return case((is_number, column[key].as_float()), else_=None)


class ProjectionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def rebuild(self, as_of: date) -> int:
        """Recompute every customer's row as of the end of `as_of`; returns the row count."""
        with writing(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                # One rebuild at a time (readers still pass): a second one waits, then sees
                # the first one's rows and replaces them, instead of clashing on the keys.
                conn.exec_driver_sql("LOCK TABLE customer_metrics IN EXCLUSIVE MODE")
            ids = list(conn.scalars(select(customers.c.customer_id)))
            rows = project(ids, _order_stats(conn, as_of), _signals(conn, as_of), as_of)
            conn.execute(delete(customer_metrics))
            values = [_values(row) for row in rows]
            for start in range(0, len(values), _CHUNK):
                conn.execute(insert(customer_metrics), values[start : start + _CHUNK])
            if conn.dialect.name == "postgresql":
                # Segment queries join this table; stale statistics give them bad plans.
                conn.exec_driver_sql("ANALYZE customer_metrics")
            return len(values)

    def get(self, customer_id: str) -> CustomerMetrics | None:
        with reading(self._engine) as conn:
            row = conn.execute(
                select(customer_metrics).where(customer_metrics.c.customer_id == customer_id)
            ).first()
            return None if row is None else _metrics(row)

    def all(self) -> list[CustomerMetrics]:
        """Every row, ordered by customer id (for comparisons and exports)."""
        with reading(self._engine) as conn:
            rows = conn.execute(select(customer_metrics).order_by(customer_metrics.c.customer_id))
            return [_metrics(row) for row in rows]

    def built_as_of(self) -> date | None:
        """The date the projection was last rebuilt as of, or None if it never was."""
        with reading(self._engine) as conn:
            return built_as_of(conn)

    def summary(self, as_of: date | None = None) -> ProjectionSummary:
        """Counts by tier x stage; refuses (ProjectionOutOfDate) if built as of another date."""
        with reading(self._engine) as conn:
            built = built_as_of(conn)
            if as_of is not None and built != as_of:
                if built is None and no_customers(conn):  # an empty base is always current
                    return ProjectionSummary(as_of=as_of, total=0, churn_risk=0, counts={})
                raise ProjectionOutOfDate(as_of, built)
            m = customer_metrics.c
            tier = func.coalesce(m.tier, "none")
            grouped = conn.execute(
                select(tier, m.stage, func.count(), func.sum(case((m.churn_risk, 1), else_=0)))
                .group_by(tier, m.stage)
                .order_by(tier, m.stage)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for tier_name, stage, n, _ in grouped:
            counts.setdefault(tier_name, {})[stage] = n
        return ProjectionSummary(
            as_of=built,
            total=sum(row[2] for row in grouped),
            churn_risk=sum(int(row[3] or 0) for row in grouped),
            counts=counts,
        )


def no_customers(conn: Connection) -> bool:
    return conn.scalar(select(customers.c.customer_id).limit(1)) is None


def built_as_of(conn: Connection) -> date | None:
    value = conn.scalar(select(func.max(customer_metrics.c.as_of)))
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _order_stats(conn: Connection, as_of: date) -> list[OrderStats]:
    e = customer_events.c
    dialect = conn.dialect.name
    is_order = and_(e.type == ORDER_EVENT, e.occurred_at < cutoff(as_of))
    totals = (
        select(
            e.customer_id,
            func.count().label("order_count"),
            func.coalesce(func.sum(json_number(e.properties, "amount", dialect)), 0).label(
                "revenue"
            ),
            func.coalesce(func.sum(json_number(e.properties, "items", dialect)), 0).label("items"),
            func.min(e.occurred_at).label("first_order_at"),
            func.max(e.occurred_at).label("last_order_at"),
        )
        .where(is_order)
        .group_by(e.customer_id)
        .subquery()
    )
    # The order before the last one (on an earlier instant): measures the gap that a
    # returning customer had been away for.
    earlier = customer_events.alias("earlier")
    previous = (
        select(earlier.c.customer_id, func.max(earlier.c.occurred_at).label("previous_order_at"))
        .join(
            totals,
            and_(
                totals.c.customer_id == earlier.c.customer_id,
                earlier.c.occurred_at < totals.c.last_order_at,
            ),
        )
        .where(earlier.c.type == ORDER_EVENT)
        .group_by(earlier.c.customer_id)
        .subquery()
    )
    rows = conn.execute(
        select(totals, previous.c.previous_order_at)
        .outerjoin(previous, previous.c.customer_id == totals.c.customer_id)
        .order_by(totals.c.customer_id)
    )
    return [
        OrderStats(
            customer_id=row.customer_id,
            order_count=int(row.order_count),
            revenue=float(row.revenue),
            items=int(row.items),
            first_order_at=row.first_order_at,
            last_order_at=row.last_order_at,
            previous_order_at=row.previous_order_at,
        )
        for row in rows
    ]


def _signals(conn: Connection, as_of: date) -> dict[str, Signals]:
    e = customer_events.c
    before_start, recent_start, end = signal_windows(as_of)
    complaint = e.type.in_(COMPLAINT_EVENTS)
    recent = e.occurred_at >= recent_start

    def tally(*conditions: ColumnElement[bool]) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    rows = conn.execute(
        select(
            e.customer_id,
            tally(complaint, recent),
            tally(complaint, ~recent),
            tally(~complaint, recent),
            tally(~complaint, ~recent),
        )
        .where(e.type.in_(SIGNAL_EVENTS), e.occurred_at >= before_start, e.occurred_at < end)
        .group_by(e.customer_id)
    )
    return {
        row[0]: Signals(
            complaints_recent=int(row[1]),
            complaints_before=int(row[2]),
            engagement_recent=int(row[3]),
            engagement_before=int(row[4]),
        )
        for row in rows
    }


def _values(row: CustomerMetrics) -> dict[str, Any]:
    values = row.model_dump()
    values["churn_reasons"] = [reason.model_dump() for reason in row.churn_reasons]
    return values


def _metrics(row: Any) -> CustomerMetrics:
    data = dict(row._mapping)
    if not isinstance(data["as_of"], date):
        data["as_of"] = date.fromisoformat(str(data["as_of"]))
    return CustomerMetrics.model_validate(data)
