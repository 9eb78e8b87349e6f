"""Running an audience enrollment by hand (`journeys audiences run`), audited.

The run itself is AudienceEnrollmentWorkflow's (workflows/audience.py); this use case starts
it, follows its progress, and records one `audience.enroll` entry on the journey: who ran which
segment into it, under which run key, and how many members were enrolled and skipped. The
entry is written when the run ends, or when the caller stops waiting (Ctrl-C leaves the run
going in Temporal), then with the counts so far. A run key already running starts nothing and
records nothing (WorkflowAlreadyStartedError). Scheduled runs have no actor and are not
audited (app/audit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import WorkflowHandle

from app.journeys import JourneyService
from domain.audiences import AudienceProgress, EnrollAudience
from workflows.audience import AudienceEnrollmentWorkflow

POLL_SECONDS = 0.5


def audience_run_id(journey_id: str, run_key: str) -> str:
    """The workflow id of a run started by hand: one run per journey and key."""
    return f"audience/{journey_id}/{run_key}"


def audit_details(
    request: EnrollAudience, progress: AudienceProgress | None, *, finished: bool
) -> dict[str, Any]:
    """What the audit entry says about a run: its segment and key, and its counts."""
    details: dict[str, Any] = {
        "segment": request.segment,
        "run_key": request.run_key,
        "finished": finished,
    }
    if progress is not None:
        details |= {
            "as_of": progress.as_of.isoformat(),
            "members": progress.total,
            "processed": progress.processed,
            "enrolled": progress.enrolled,
            "skipped": progress.skipped,
        }
        if progress.stopped:
            details["stopped"] = progress.stopped
    return details


class AudienceRuns:
    def __init__(self, journeys: JourneyService) -> None:
        self.journeys = journeys

    async def run(
        self,
        request: EnrollAudience,
        watch: Callable[[AudienceProgress], None] = lambda _progress: None,
    ) -> AudienceProgress:
        """Start the run and wait for its end, telling `watch` its progress as it goes."""
        client = await self.journeys.client()
        handle: WorkflowHandle[
            AudienceEnrollmentWorkflow, AudienceProgress
        ] = await client.start_workflow(
            AudienceEnrollmentWorkflow.run,
            request,
            id=audience_run_id(request.journey_id, request.run_key),
            task_queue=self.journeys.task_queue,
        )
        latest: AudienceProgress | None = None
        try:
            result = asyncio.ensure_future(handle.result())
            while not result.done():
                await asyncio.wait([result], timeout=POLL_SECONDS)
                if not result.done():
                    latest = await handle.query(AudienceEnrollmentWorkflow.progress) or latest
                    if latest is not None:
                        watch(latest)
            final = result.result()
        except BaseException:
            # Ctrl-C (the task is cancelled) or a failed run: recorded as unfinished, at once
            # (no await: the task may be cancelled again).
            self._record(request, latest, finished=False)
            raise
        watch(final)
        await asyncio.to_thread(self._record, request, final, finished=True)
        return final

    def _record(
        self, request: EnrollAudience, progress: AudienceProgress | None, *, finished: bool
    ) -> None:
        self.journeys.auditor.record(
            None,
            "audience.enroll",
            request.journey_id,
            audit_details(request, progress, finished=finished),
        )
