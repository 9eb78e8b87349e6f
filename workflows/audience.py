"""AudienceEnrollmentWorkflow: enroll every member of a segment into a journey, in batches.

The cursor (last customer id handled) lives in workflow state, so a crashed worker resumes at
the batch it was in; the batch activity derives each member's enrollment event id from the
run key, so the batch that was in flight has one effect when it runs again. Between batches a
durable timer keeps the pace at `per_second`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.audiences import (
        ENROLL_AUDIENCE_BATCH,
        MEASURE_AUDIENCE,
        AudienceProgress,
        AudienceSize,
        BatchResult,
        EnrollAudience,
        EnrollBatch,
        MeasureAudience,
        run_date,
    )

# Patch: as_of is the day in the schedule's timezone (runs before it took the UTC day).
ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
}


@workflow.defn
class AudienceEnrollmentWorkflow:
    @workflow.init
    def __init__(self, inp: EnrollAudience) -> None:
        self._progress = inp.progress

    @workflow.query
    def progress(self) -> AudienceProgress | None:
        return self._progress

    @staticmethod
    def _today(inp: EnrollAudience) -> date:
        """The run's date where its schedule's clock is, not in UTC."""
        if inp.timezone:
            return run_date(workflow.now(), inp.timezone)
        return workflow.now().date()

    @workflow.run
    async def run(self, inp: EnrollAudience) -> AudienceProgress:
        if self._progress is None:
            as_of = inp.as_of or self._today(inp)
            size: AudienceSize = await workflow.execute_activity(
                MEASURE_AUDIENCE,
                MeasureAudience(segment=inp.segment, as_of=as_of),
                result_type=AudienceSize,
                **ACTIVITY_OPTIONS,
            )
            self._progress = AudienceProgress(
                journey_id=inp.journey_id, segment=inp.segment, as_of=as_of, total=size.total
            )
        progress = self._progress
        # A scheduled run has no key of its own: its workflow id (schedule id + time) is one.
        run_key = inp.run_key or workflow.info().workflow_id
        for _ in range(inp.batches_per_run):
            if progress.done:
                return progress
            started = workflow.now()
            batch: BatchResult = await workflow.execute_activity(
                ENROLL_AUDIENCE_BATCH,
                EnrollBatch(
                    journey_id=inp.journey_id,
                    segment=inp.segment,
                    run_key=run_key,
                    as_of=progress.as_of,
                    after=progress.cursor,
                    limit=inp.batch_size,
                ),
                result_type=BatchResult,
                summary=f"after {progress.cursor or 'the start'}",
                **ACTIVITY_OPTIONS,
            )
            progress.processed += batch.seen
            progress.enrolled += batch.enrolled
            progress.skipped += batch.skipped
            progress.cursor = batch.last or progress.cursor
            progress.stopped = batch.stopped
            progress.done = batch.seen < inp.batch_size or bool(batch.stopped)
            if not progress.done:
                pace = timedelta(seconds=batch.seen / inp.per_second)
                rest = pace - (workflow.now() - started)
                if rest > timedelta(0):
                    await workflow.sleep(rest)
        if progress.done:
            return progress
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp.model_copy(update={"progress": progress, "run_key": run_key}))
