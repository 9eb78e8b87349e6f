"""The run-log activity: append a run's step events and, at the end, how it ended."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import RECORD_STEPS, Recorded, RecordSteps
from store.store import Store


class RunLogActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=RECORD_STEPS)
    def record_steps(self, request: RecordSteps) -> Recorded:
        """Idempotent: the store ignores step events it already has, and ends a run once."""
        self.store.runs.record_steps(request.entry_id, request.events, request.current_step)
        if request.end is not None:
            self.store.runs.finish(request.entry_id, request.end)
        return Recorded(count=len(request.events))
