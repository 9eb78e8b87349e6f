"""Segment-triggered enrollment: which segment feeds a journey, when, and how fast.

A journey with an `audience` is fed on a schedule (a Temporal Schedule, daily at `at` in
`timezone`, the workspace's when unset) by an enrollment run that walks the segment in
customer-id order, in batches, throttled to `per_second`. Each run has a key; a member's
enrollment event id derives from it, so a retried or resumed batch never enrolls anyone twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.clock_time import PATTERN as CLOCK_PATTERN
from domain.customers import Timezone
from domain.limits import MAX_PER_SECOND, MIN_PER_SECOND

ENROLL_AUDIENCE_BATCH = "enroll_audience_batch"
MEASURE_AUDIENCE = "measure_audience"


def run_date(now: datetime, timezone: str | None) -> date:
    """The date an enrollment run starting at `now` is for: the day where its clock is."""
    return now.astimezone(ZoneInfo(timezone) if timezone else UTC).date()


class AudienceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = Field(min_length=1, description="A segment name from the segments file.")
    at: str = Field(
        default="09:00",
        pattern=CLOCK_PATTERN,
        description="Daily run time (HH:MM) in `timezone`.",
    )
    timezone: Timezone | None = Field(
        default=None,
        description="Timezone of `at` and of the run's date; the workspace's "
        "(JOURNEYS_TIMEZONE, UTC unless set) when left out.",
    )
    batch_size: int = Field(default=200, ge=1, le=5000)
    per_second: float = Field(
        default=50,
        ge=MIN_PER_SECOND,
        le=MAX_PER_SECOND,
        allow_inf_nan=False,
        description="Enrollments per second at most.",
    )


class EnrollAudience(BaseModel):
    """Input of one enrollment run (and what it carries over continue-as-new)."""

    journey_id: str
    segment: str
    run_key: str = ""  # empty: the workflow id (scheduled runs)
    as_of: date | None = None  # None: the day the run starts, in `timezone`
    timezone: str | None = None  # the schedule's zone; None: UTC (runs scheduled before it)
    batch_size: int = 200
    per_second: float = 50
    batches_per_run: int = Field(default=100, ge=1)  # then continue-as-new
    progress: AudienceProgress | None = None


class AudienceProgress(BaseModel):
    """Where an enrollment run is: the answer of its `progress` query and its result."""

    journey_id: str
    segment: str
    as_of: date
    total: int
    processed: int = 0
    enrolled: int = 0
    skipped: int = 0
    cursor: str | None = None  # the last customer id handled; the next batch starts after it
    done: bool = False
    stopped: str = ""  # why the run stopped early (e.g. the journey was paused)


class MeasureAudience(BaseModel):
    segment: str
    as_of: date


class AudienceSize(BaseModel):
    total: int


class EnrollBatch(BaseModel):
    journey_id: str
    segment: str
    run_key: str
    as_of: date
    after: str | None
    limit: int


class BatchResult(BaseModel):
    seen: int
    enrolled: int
    skipped: int
    last: str | None
    stopped: str = ""


class AudienceBatch(BaseModel):
    """What enrolling one page of a segment did."""

    seen: int
    last: str | None
    entered: int = 0
    resumed: int = 0  # runs an earlier attempt of the same run key created (restarted if running)
    skipped: int = 0
    stopped: str = ""


EnrollAudience.model_rebuild()
