"""What crosses Temporal boundaries: one model in and one out for each workflow, signal, query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WrapValidator

from domain.customers import CustomerProfile
from domain.events import CustomerEvent, LoggedEvent
from domain.journey import JourneyDefinition, Template
from domain.messages import Channel, MessageStatus
from domain.runs import RunEnd, RunStatus, StepEvent
from domain.send_policy import QuietHours
from domain.shared_definitions import shared_definition

SEND_MESSAGE = "send_message"
LOAD_PROFILE = "load_profile"
UPDATE_PROFILE = "update_profile"
RECORD_STEPS = "record_steps"
ABANDON_MESSAGE = "abandon_message"
READ_LOG = "read_log"

# The run operations (updates of JourneyWorkflow) by the name the CLI and the API use.
RunOperationKind = Literal["end", "skip_wait", "retry", "move", "migrate"]
RUN_OPERATION_UPDATES: dict[str, str] = {
    "end": "end_run",
    "skip_wait": "skip_wait",
    "retry": "retry_step",
    "move": "move_to",
    "migrate": "migrate_to",
}


class StepRecord(BaseModel):
    """One line of a run's own account of itself, as its status query shows it."""

    step_id: str
    kind: str
    status: str
    detail: str = ""
    at: datetime


class GoalReached(BaseModel):
    goal: str
    converted: bool
    event_id: str


class JourneyState(BaseModel):
    """Everything a run carries over `continue_as_new`."""

    position: str | None = None
    visits: dict[str, int] = Field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    history: list[StepRecord] = Field(default_factory=list)
    seen_event_ids: list[str] = Field(default_factory=list)
    inbox: list[CustomerEvent] = Field(default_factory=list)
    steps_taken: int = 0
    # Step records noted so far for this entry: the next record's `StepEvent.seq`.
    step_records: int = 0
    goal: GoalReached | None = None
    held_out: bool = False  # in a holdout's control group: sends are skipped
    # The log position of the newest event the run has taken; older positions are dropped.
    last_seq: int | None = None
    # Whether the run has read the log after its trigger (or needs not); signals wait till then.
    caught_up: bool = True
    early: list[LoggedEvent] = Field(default_factory=list)
    # A run migrated while it waited: when its wait began, so the new version's wait counts
    # the time already waited (taken by the next step the run enters).
    carried_since: datetime | None = None
    # Update ids of the run operations applied so far (newest last, bounded): the same
    # operation sent again (a resumed bulk run) is answered "already done", not done twice.
    operations: list[str] = Field(default_factory=list)


class EnrollCustomer(BaseModel):
    """The input of a JourneyWorkflow run: the pinned journey version, who, and why."""

    # Decoded once per process for the runs of one version (domain/shared_definitions.py).
    journey: Annotated[JourneyDefinition, WrapValidator(shared_definition)]
    version: int
    customer_id: str
    entry_id: str
    trigger: CustomerEvent
    trigger_seq: int | None = Field(
        default=None, description="The trigger's position in the customer's log, when known."
    )
    catch_up: bool = Field(
        default=False,
        description="Read the log after the trigger when the run starts (for runs started "
        "outside the ordered delivery, which hands a run every later event itself).",
    )
    state: JourneyState | None = None
    max_steps_per_run: int = Field(
        default=200, description="Steps before the run continues as new, bounding history."
    )


class RunOperation(BaseModel):
    """An operator's change to one running run: who, why, and for `move` the step to go to."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)
    to: str | None = Field(default=None, max_length=128)
    # migrate: the newer version (its definition) and which of the run's steps go where in it.
    to_version: int | None = None
    journey: JourneyDefinition | None = None
    mapping: dict[str, str] = Field(default_factory=dict)


class OperationResult(BaseModel):
    """What a run operation did, as the run itself reports it."""

    operation: RunOperationKind
    applied: bool = Field(description="False: nothing changed (see detail).")
    already: bool = Field(
        default=False, description="The same operation (update id) was applied before."
    )
    detail: str
    position: str | None = Field(description="The step the run is at afterwards (end: None).")
    status: RunStatus = "running"


class ReadLog(BaseModel):
    """Read a customer's log after a position (or after the trigger event, if none is known)."""

    customer_id: str
    after_seq: int | None
    trigger_event_id: str
    types: list[str] | None = None
    limit: int = 200


class LogPage(BaseModel):
    trigger_seq: int | None = None
    events: list[LoggedEvent] = Field(default_factory=list)
    more: bool = False


class JourneyOutcome(BaseModel):
    status: RunStatus
    reason: str
    steps_taken: int
    goal: GoalReached | None = None


class RunSnapshot(BaseModel):
    """Where a run is and what it did: the answer of the `status` query."""

    journey_id: str
    version: int
    customer_id: str
    entry_id: str
    position: str | None
    waiting: str | None
    goal: GoalReached | None
    history: list[StepRecord]
    outputs: dict[str, dict[str, Any]]
    operations: list[str] = Field(
        default_factory=list, description="Update ids of the run operations applied."
    )


class SendMessage(BaseModel):
    idempotency_key: str
    journey_id: str
    version: int
    category: Literal["transactional", "marketing"]
    workflow_id: str
    entry_id: str
    step_id: str
    customer_id: str
    channel: Channel
    template_name: str
    template: Template
    context: dict[str, Any] = Field(
        default_factory=dict, description="trigger, steps and journey, for rendering."
    )
    requested_at: datetime
    quiet_hours: list[QuietHours] | None = Field(
        default=None, description="The journey's own quiet hours; None: the workspace policy."
    )
    after_case: Literal["resume", "skip"] = Field(
        default="resume",
        description="Marketing held while the customer has an open case: send or skip after.",
    )

    def given_up(self, reason: str, at: datetime) -> AbandonMessage:
        """What the run tells the store when this message's retries ran out."""
        return AbandonMessage(
            **self.model_dump(include=set(AbandonMessage.model_fields) - {"reason", "at"}),
            reason=reason,
            at=at,
        )


class MessageOutcome(BaseModel):
    idempotency_key: str
    status: MessageStatus
    detail: str = ""
    recipient: str | None = None
    duplicate: bool = False
    deferred_until: datetime | None = Field(
        default=None, description="With status deferred: when to try again (same key)."
    )
    resume_on: str | None = Field(
        default=None, description="With status deferred: an event type that ends the wait early."
    )


class AbandonMessage(BaseModel):
    """The run gave up on a message whose send kept failing until its retries ran out.

    The activity behind it marks a still-pending outbox row `failed` with the reason, releases
    the frequency-cap slot the message held, and records the decision (once per key).
    """

    idempotency_key: str
    customer_id: str
    journey_id: str
    step_id: str
    channel: Channel
    category: Literal["transactional", "marketing"]
    reason: str
    at: datetime


class LoadProfile(BaseModel):
    customer_id: str


class ProfileSnapshot(BaseModel):
    profile: CustomerProfile | None


class UpdateProfile(BaseModel):
    customer_id: str
    set: dict[str, Any] = Field(default_factory=dict)
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    at: datetime


class RecordSteps(BaseModel):
    entry_id: str
    events: list[StepEvent]
    current_step: str | None
    end: RunEnd | None = None
    # The run's version, when a migration moved it to another one.
    version: int | None = None


class Recorded(BaseModel):
    count: int
