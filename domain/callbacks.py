"""Callback tasks (回访): a person phones the customer back and records how it went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.durations import Duration

Outcome = Literal["reached", "no_answer", "call_back_later", "do_not_contact"]
OUTCOMES: tuple[str, ...] = ("reached", "no_answer", "call_back_later", "do_not_contact")
# expired: the journey stopped waiting (its timeout path); cancelled: the journey ended.
TaskStatus = Literal["open", "claimed", "done", "expired", "cancelled"]
ACTIVE: tuple[str, ...] = ("open", "claimed")
CREATE_CALLBACK = "create_callback"
ESCALATE_CALLBACK = "escalate_callback"
CLOSE_CALLBACK = "close_callback"
MAX_CALL_BACK_AHEAD = timedelta(days=30)
CALLBACK_COMPLETED = "callback_completed"
SUPERVISORS = "supervisors"


class CallbackSpec(BaseModel):
    """A callback step: which queue, due when, why, and how long the journey waits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    reason: str = Field(min_length=1, max_length=500)
    due_in: Duration = Field(description="When the call should happen, after the step starts.")
    timeout: Duration = Field(description="How long the journey waits for the outcome.")

    @model_validator(mode="after")
    def _order(self) -> CallbackSpec:
        if self.timeout < self.due_in:
            raise ValueError("timeout must not be shorter than due_in")
        return self


class CreateCallback(BaseModel):
    task_id: str
    queue: str
    reason: str
    customer_id: str
    journey_id: str
    workflow_id: str
    step_id: str
    due_at: datetime
    context: dict[str, object] = Field(default_factory=dict)
    created_at: datetime


class CallbackTask(BaseModel):
    task_id: str
    queue: str
    reason: str
    customer_id: str
    journey_id: str | None = None
    workflow_id: str | None = None
    step_id: str | None = None
    due_at: datetime
    status: TaskStatus = "open"
    escalated: bool = False
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    outcome: Outcome | None = None
    notes: str = ""
    call_back_at: datetime | None = None
    completed_at: datetime | None = None
    context: dict[str, object] = Field(default_factory=dict)
    created_at: datetime

    def overdue(self, now: datetime) -> bool:
        return self.status in ACTIVE and self.due_at < now


class CloseCallback(BaseModel):
    """Close a task nobody should work any more, because its journey stopped waiting for it."""

    task_id: str
    status: Literal["expired", "cancelled"]
    reason: str = Field(min_length=1, max_length=500)
    at: datetime


class Completion(BaseModel):
    """What the agent records after the call."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=64)
    outcome: Outcome
    notes: str = Field(default="", max_length=4000)
    call_back_at: datetime | None = Field(
        default=None, description="With call_back_later: when the customer wants the call."
    )

    @model_validator(mode="after")
    def _later_needs_a_time(self) -> Completion:
        if self.outcome == "call_back_later" and self.call_back_at is None:
            raise ValueError("call_back_later needs call_back_at")
        if self.call_back_at is not None and self.outcome != "call_back_later":
            raise ValueError("call_back_at goes only with the outcome call_back_later")
        if self.call_back_at is not None and self.call_back_at.utcoffset() is None:
            raise ValueError("call_back_at needs a timezone, e.g. 2030-05-01T15:00:00+02:00")
        return self

    def check_call_back_at(self, now: datetime) -> None:
        """Refuse a call-back time in the past or too far ahead (ValueError saying why)."""
        at = self.call_back_at
        if at is None:
            return
        if at <= now:
            raise ValueError(
                f"call_back_at {at.isoformat()} is not in the future (now {now.isoformat()})"
            )
        if at - now > MAX_CALL_BACK_AHEAD:
            days = MAX_CALL_BACK_AHEAD.days
            raise ValueError(f"call_back_at {at.isoformat()} is more than {days} days ahead")


def follow_up_id(task: CallbackTask) -> str:
    """The id of the task that follows `task` when the customer asked to be called later."""
    root, sep, count = task.task_id.rpartition(".")
    if sep and count.isdigit():
        return f"{root}.{int(count) + 1}"
    return f"{task.task_id}.1"


def local_call_back_at(wall_clock: str, timezone: str) -> datetime:
    """A call-back time the agent picked on the customer's wall clock (`YYYY-MM-DDTHH:MM`, as
    an HTML datetime-local field sends it) as a UTC instant; ValueError saying why for text
    that is not such a time or a time that clock skips (a daylight-saving gap)."""
    try:
        naive = datetime.fromisoformat(wall_clock)
    except ValueError:
        raise ValueError(f"{wall_clock!r} is not a date and time YYYY-MM-DDTHH:MM") from None
    if naive.tzinfo is not None:
        raise ValueError(f"{wall_clock!r} should be a wall-clock time, without an offset")
    zone = ZoneInfo(timezone)
    local = naive.replace(tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"{wall_clock} does not exist in {timezone} (the clocks skip it)")
    return instant
