"""The run-log activities: append a run's step events and how it ended; read the customer's
event log after a position (a run's catch-up)."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import READ_LOG, RECORD_STEPS, LogPage, ReadLog, Recorded, RecordSteps
from store.store import Store


class RunLogActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=RECORD_STEPS)
    def record_steps(self, request: RecordSteps) -> Recorded:
        """Idempotent: the store ignores step events it already has, and ends a run once; the
        steps and the ending are one transaction."""
        self.store.runs.record_steps(
            request.entry_id, request.events, request.current_step, request.version, request.end
        )
        return Recorded(count=len(request.events))

    @activity.defn(name=READ_LOG)
    def read_log(self, request: ReadLog) -> LogPage:
        after = request.after_seq
        trigger_seq = after
        if after is None:
            trigger = self.store.events.get(request.trigger_event_id)
            # A trigger not in the log (a run started by hand in a test): read it all.
            trigger_seq = trigger.seq if trigger is not None else None
            after = trigger_seq or 0
        events = self.store.events.after(
            request.customer_id, after, request.types, request.limit + 1
        )
        return LogPage(
            trigger_seq=trigger_seq,
            events=events[: request.limit],
            more=len(events) > request.limit,
        )
