"""Journey runs as the store records them: enrollments and one event per step."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

# `stopped`: ended by an operator (`journeys runs end`), not by the journey or a goal.
RunStatus = Literal["running", "completed", "exited", "failed", "stopped"]
StepStatus = Literal[
    "entered",
    "completed",
    "skipped",
    "exited",
    "failed",
    "deferred",
    "escalated",
    "rescheduled",
    # An operator's run operation, noted at the step the run was at (who and why in detail).
    "stopped",
    "wait_skipped",
    "moved",
    "retried",
    "migrated",
]


class Enrollment(BaseModel):
    """One customer's entry into one journey: the row behind a running or finished run."""

    entry_id: str
    workflow_id: str
    journey_id: str
    version: int
    customer_id: str
    correlation_key: str | None = None
    trigger_event_id: str | None = None
    status: RunStatus = "running"
    current_step: str | None = None
    entered_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None


class StepEvent(BaseModel):
    """What happened at one step of one run (entered, completed, skipped, why)."""

    workflow_id: str
    entry_id: str
    journey_id: str
    version: int
    customer_id: str
    step_id: str
    kind: str
    status: StepStatus
    detail: str = ""
    at: datetime
    # The n-th record of this entry (0, 1, ...), counted in workflow state across
    # continue-as-new: the record's identity, which a replayed or retried workflow task
    # reproduces while `at` moves on. None for records made before runs counted them.
    seq: int | None = None


class RunEnd(BaseModel):
    """How a run ended, recorded on its enrollment."""

    workflow_id: str
    status: RunStatus
    reason: str
    at: datetime
