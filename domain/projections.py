"""Who the customers are, derived from their event log as of a date.

Pure rules over per-customer aggregates (which the store computes in SQL, or
`summarise_events` computes from events in memory): order count, revenue, first and last
order, usual interval between orders, RFM scores, value tier, lifecycle stage and churn risk.
`as_of` is an argument, never "now", and every rule is deterministic, so rebuilding the
projection from the same log gives the same rows.

The rules, in one place (constants below):

* **Cut-off.** The base is taken at the end of the `as_of` day (UTC): events that occurred
  before `as_of + 1 day, 00:00 UTC` count, later ones are ignored. `recency_days` is the number
  of calendar days from the last order's date to `as_of` (0 = ordered that day).
* **Usual interval** (`mean_interval_days`): (last order - first order) / (orders - 1), for
  customers with two or more orders; unknown for one order.
* **RFM scores** 1-5 are quintiles over every customer with at least one order (prospects get
  none). Score = 1 + floor(5 * below / buyers), where `below` counts the buyers with a strictly
  worse value: an older last order day for R, fewer orders for F, less revenue for M. Ties
  therefore share one score, which depends only on the values, never on ids or row order.
* **Value tier** from the RFM total R+F+M (3-15): `high` >= 13, `mid` 9-12, `low` <= 8.
  Prospects have no tier (`None`). On CDNOW as of 1998-07-01 that is about 23% / 23% / 54%:
  half the base bought once, early, and stays `low`.
* **Lifecycle stage**, first rule that applies:
  1. `prospect`: no order yet.
  2. `new`: first order at most 30 days before `as_of`.
  3. `churned`: last order more than 365 days ago.
  4. `lapsed`: last order more than 180 days ago.
  5. `reactivated`: within the active window (below) and the gap before the last order was
     longer than 180 days, i.e. the customer had lapsed and came back.
  6. `active`: last order within the active window: twice the usual interval, kept between 90
     and 120 days (90 for one-order customers), so slow but regular buyers are not called at
     risk too early, and everyone has an at-risk spell before lapsing at 180 days.
  7. `at_risk`: otherwise (past the active window, not yet 180 days).
* **Churn risk** (not for prospects or churned customers), one reason each:
  * `overdue`: two or more orders and the days since the last exceed
    max(2 x usual interval, 30 days).
  * `complaints_up`: more complaints in the last 90 days than in the 90 before: a support case
    opened (`case_opened`, workflows/case.py) or a message reported as spam
    (`message_complained`); `complaint_opened` (events imported from elsewhere) counts too.
  * `engagement_down`: at least 2 `message_opened`/`message_clicked` events in the 90 days
    before the last 90, and at most half as many in the last 90.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.events import CustomerEvent

ORDER_EVENT = "order_completed"
COMPLAINT_EVENTS = ("case_opened", "message_complained", "complaint_opened")
ENGAGEMENT_EVENTS = ("message_opened", "message_clicked")
SIGNAL_EVENTS = (*COMPLAINT_EVENTS, *ENGAGEMENT_EVENTS)

NEW_DAYS = 30
ACTIVE_MIN_DAYS = 90
ACTIVE_MAX_DAYS = 120
ACTIVE_INTERVALS = 2.0
LAPSED_AFTER_DAYS = 180
CHURNED_AFTER_DAYS = 365
REACTIVATION_GAP_DAYS = LAPSED_AFTER_DAYS
OVERDUE_INTERVALS = 2.0
OVERDUE_MIN_DAYS = 30
SIGNAL_WINDOW_DAYS = 90
HIGH_TIER_MIN_RFM = 13
MID_TIER_MIN_RFM = 9

Stage = Literal["prospect", "new", "active", "reactivated", "at_risk", "lapsed", "churned"]
Tier = Literal["high", "mid", "low"]
STAGES: tuple[Stage, ...] = (
    "prospect",
    "new",
    "active",
    "reactivated",
    "at_risk",
    "lapsed",
    "churned",
)
TIERS: tuple[Tier, ...] = ("high", "mid", "low")
ChurnCode = Literal["overdue", "complaints_up", "engagement_down"]


def cutoff(as_of: date) -> datetime:
    """The first instant not counted in a projection as of `as_of` (next midnight, UTC)."""
    return datetime.combine(as_of + timedelta(days=1), time(0, tzinfo=UTC))


def signal_windows(as_of: date) -> tuple[datetime, datetime, datetime]:
    """Start of the earlier window, start of the recent window, and the cut-off."""
    end = cutoff(as_of)
    window = timedelta(days=SIGNAL_WINDOW_DAYS)
    return end - 2 * window, end - window, end


@dataclass(frozen=True)
class OrderStats:
    """One customer's orders up to the cut-off, as the store aggregates them."""

    customer_id: str
    order_count: int
    revenue: float
    items: int
    first_order_at: datetime
    last_order_at: datetime
    # The latest order strictly before `last_order_at`; None with a single order day.
    previous_order_at: datetime | None


@dataclass(frozen=True)
class Signals:
    """Complaint and engagement counts in the recent and the earlier 90-day window."""

    complaints_recent: int = 0
    complaints_before: int = 0
    engagement_recent: int = 0
    engagement_before: int = 0


class ChurnReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ChurnCode
    detail: str


class CustomerMetrics(BaseModel):
    """One row of the projection."""

    customer_id: str
    as_of: date
    order_count: int = 0
    revenue: float = 0.0
    items: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    recency_days: int | None = None
    mean_interval_days: float | None = None
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None
    tier: Tier | None = None
    stage: Stage = "prospect"
    churn_risk: bool = False
    churn_reasons: list[ChurnReason] = []

    @property
    def rfm_total(self) -> int | None:
        if self.r_score is None or self.f_score is None or self.m_score is None:
            return None
        return self.r_score + self.f_score + self.m_score


def quintile_scores(values: Mapping[str, float]) -> dict[str, int]:
    """1-5 for each key: 1 + floor(5 * (keys with a strictly smaller value) / all keys)."""
    ordered = sorted(values.values())
    n = len(ordered)
    return {key: 1 + (5 * bisect_left(ordered, value)) // n for key, value in values.items()}


def tier_for(rfm_total: int) -> Tier:
    if rfm_total >= HIGH_TIER_MIN_RFM:
        return "high"
    if rfm_total >= MID_TIER_MIN_RFM:
        return "mid"
    return "low"


def active_window_days(mean_interval_days: float | None) -> float:
    if mean_interval_days is None:
        return ACTIVE_MIN_DAYS
    return min(ACTIVE_MAX_DAYS, max(ACTIVE_MIN_DAYS, ACTIVE_INTERVALS * mean_interval_days))


def stage_for(stats: OrderStats, as_of: date, mean_interval_days: float | None) -> Stage:
    since_first = (as_of - stats.first_order_at.astimezone(UTC).date()).days
    recency = (as_of - stats.last_order_at.astimezone(UTC).date()).days
    if since_first <= NEW_DAYS:
        return "new"
    if recency > CHURNED_AFTER_DAYS:
        return "churned"
    if recency > LAPSED_AFTER_DAYS:
        return "lapsed"
    if recency <= active_window_days(mean_interval_days):
        gap = _days_between(stats.previous_order_at, stats.last_order_at)
        if gap is not None and gap > REACTIVATION_GAP_DAYS:
            return "reactivated"
        return "active"
    return "at_risk"


def churn_reasons(
    recency_days: int, mean_interval_days: float | None, signals: Signals
) -> list[ChurnReason]:
    reasons: list[ChurnReason] = []
    if mean_interval_days is not None:
        limit = max(OVERDUE_INTERVALS * mean_interval_days, OVERDUE_MIN_DAYS)
        if recency_days > limit:
            ratio = recency_days / mean_interval_days if mean_interval_days else float("inf")
            reasons.append(
                ChurnReason(
                    code="overdue",
                    detail=(
                        f"{recency_days} days since the last order, {ratio:.1f}x the usual "
                        f"{mean_interval_days:g} days"
                    ),
                )
            )
    if signals.complaints_recent > signals.complaints_before:
        reasons.append(
            ChurnReason(
                code="complaints_up",
                detail=(
                    f"{signals.complaints_recent} complaints in the last {SIGNAL_WINDOW_DAYS} "
                    f"days, {signals.complaints_before} in the {SIGNAL_WINDOW_DAYS} before"
                ),
            )
        )
    before, recent = signals.engagement_before, signals.engagement_recent
    if before >= 2 and 2 * recent <= before:
        reasons.append(
            ChurnReason(
                code="engagement_down",
                detail=(
                    f"{signals.engagement_recent} opens/clicks in the last {SIGNAL_WINDOW_DAYS} "
                    f"days, {signals.engagement_before} in the {SIGNAL_WINDOW_DAYS} before"
                ),
            )
        )
    return reasons


def project(
    customer_ids: Iterable[str],
    orders: Iterable[OrderStats],
    signals: Mapping[str, Signals],
    as_of: date,
) -> list[CustomerMetrics]:
    """The projection row of every customer in `customer_ids`, ordered by customer id.

    Customers that appear in `orders` but not in `customer_ids` are projected too.
    """
    by_customer = {stats.customer_id: stats for stats in orders}
    everyone = sorted(set(customer_ids) | set(by_customer))
    recency = {
        cid: (as_of - s.last_order_at.astimezone(UTC).date()).days for cid, s in by_customer.items()
    }
    revenue = {cid: round(s.revenue, 2) for cid, s in by_customer.items()}
    r_scores = quintile_scores({cid: -days for cid, days in recency.items()})
    f_scores = quintile_scores({cid: s.order_count for cid, s in by_customer.items()})
    m_scores = quintile_scores(revenue)
    rows: list[CustomerMetrics] = []
    quiet = Signals()
    for cid in everyone:
        stats = by_customer.get(cid)
        if stats is None:
            rows.append(CustomerMetrics(customer_id=cid, as_of=as_of))
            continue
        interval = _mean_interval(stats)
        stage = stage_for(stats, as_of, interval)
        r, f, m = r_scores[cid], f_scores[cid], m_scores[cid]
        reasons = []
        if stage != "churned":
            reasons = churn_reasons(recency[cid], interval, signals.get(cid, quiet))
        rows.append(
            CustomerMetrics(
                customer_id=cid,
                as_of=as_of,
                order_count=stats.order_count,
                revenue=revenue[cid],
                items=stats.items,
                first_order_at=stats.first_order_at,
                last_order_at=stats.last_order_at,
                recency_days=recency[cid],
                mean_interval_days=interval,
                r_score=r,
                f_score=f,
                m_score=m,
                tier=tier_for(r + f + m),
                stage=stage,
                churn_risk=bool(reasons),
                churn_reasons=reasons,
            )
        )
    return rows


def summarise_events(
    events: Iterable[CustomerEvent], as_of: date
) -> tuple[list[OrderStats], dict[str, Signals]]:
    """What the store's SQL aggregates compute, from events in memory (tests, small logs)."""
    end = cutoff(as_of)
    before_start, recent_start, _ = signal_windows(as_of)
    orders: dict[str, list[CustomerEvent]] = {}
    counts: dict[str, dict[str, int]] = {}
    for event in events:
        if event.occurred_at >= end:
            continue
        if event.type == ORDER_EVENT:
            orders.setdefault(event.customer_id, []).append(event)
        elif event.type in SIGNAL_EVENTS and event.occurred_at >= before_start:
            kind = "complaints" if event.type in COMPLAINT_EVENTS else "engagement"
            window = "recent" if event.occurred_at >= recent_start else "before"
            tally = counts.setdefault(event.customer_id, {})
            tally[f"{kind}_{window}"] = tally.get(f"{kind}_{window}", 0) + 1
    stats = []
    for cid, placed in orders.items():
        times = sorted(e.occurred_at for e in placed)
        last = times[-1]
        earlier = [t for t in times if t < last]
        stats.append(
            OrderStats(
                customer_id=cid,
                order_count=len(placed),
                revenue=sum(_number(e.properties.get("amount")) for e in placed),
                items=int(sum(_number(e.properties.get("items")) for e in placed)),
                first_order_at=times[0],
                last_order_at=last,
                previous_order_at=earlier[-1] if earlier else None,
            )
        )
    return stats, {cid: Signals(**tally) for cid, tally in counts.items()}


def summary_counts(rows: Sequence[CustomerMetrics]) -> dict[str, dict[str, int]]:
    """Customers by tier (`none` for prospects) and stage."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        tier = counts.setdefault(row.tier or "none", {})
        tier[row.stage] = tier.get(row.stage, 0) + 1
    return counts


def _mean_interval(stats: OrderStats) -> float | None:
    if stats.order_count < 2:
        return None
    span = (stats.last_order_at - stats.first_order_at).total_seconds() / 86400
    return round(span / (stats.order_count - 1), 2)


def _days_between(earlier: datetime | None, later: datetime) -> int | None:
    if earlier is None:
        return None
    return (later.astimezone(UTC).date() - earlier.astimezone(UTC).date()).days


def _number(value: Any) -> float:
    # Only JSON numbers count, as in the store's SQL (booleans are not amounts).
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)
