"""One Temporal Schedule per journey with an audience: daily enrollment of its segment.

`sync` makes the schedules match the published journeys: created or updated for active
journeys with an audience, paused for paused ones, deleted where the audience is gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from app.journeys import JourneyService
from domain.audiences import AudienceSpec, EnrollAudience
from domain.journey import JourneyDefinition
from workers.settings import get_settings
from workflows.audience import AudienceEnrollmentWorkflow

PREFIX = "audience/"


def schedule_id(journey_id: str) -> str:
    return f"{PREFIX}{journey_id}"


def build_schedule(
    journey_id: str,
    audience: AudienceSpec,
    task_queue: str,
    *,
    paused: bool,
    workspace_timezone: str = "UTC",
) -> Schedule:
    """The daily schedule at `audience.at` in its timezone (the workspace's when unset); the
    run takes its date in that same timezone."""
    hour, minute = (int(part) for part in audience.at.split(":"))
    timezone = audience.timezone or workspace_timezone
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id=journey_id,
                segment=audience.segment,
                batch_size=audience.batch_size,
                per_second=audience.per_second,
                timezone=timezone,
            ),
            id=schedule_id(journey_id),
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])
            ],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(paused=paused, note="paused with its journey" if paused else ""),
    )


async def sync_published(svc: JourneyService, workspace_timezone: str | None = None) -> list[str]:
    """Sync the schedules with every published journey (newest version, current status)."""
    journeys = [(svc.journey(s.journey_id), s.status) for s in svc.journeys()]
    timezone = workspace_timezone or get_settings().timezone
    return await sync(await svc.client(), svc.task_queue, journeys, workspace_timezone=timezone)


async def sync(
    client: Client,
    task_queue: str,
    journeys: Sequence[tuple[JourneyDefinition, str]],
    *,
    workspace_timezone: str = "UTC",
) -> list[str]:
    """Make the schedules match `journeys` ((definition, status) pairs); say what changed."""
    changes: list[str] = []
    wanted = {j.id: (j, status) for j, status in journeys if j.audience is not None}
    for journey_id, (journey, status) in wanted.items():
        assert journey.audience is not None
        schedule = build_schedule(
            journey_id,
            journey.audience,
            task_queue,
            paused=status != "active",
            workspace_timezone=workspace_timezone,
        )
        try:
            await client.create_schedule(schedule_id(journey_id), schedule)
            changes.append(
                f"{schedule_id(journey_id)}: created ({journey.audience.at} daily, "
                f"{journey.audience.timezone or workspace_timezone})"
            )
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(schedule_id(journey_id)).update(replace)
            changes.append(f"{schedule_id(journey_id)}: updated ({status})")
    existing: list[ScheduleListDescription] = [s async for s in await client.list_schedules()]
    for described in existing:
        journey_id = described.id.removeprefix(PREFIX)
        if described.id.startswith(PREFIX) and journey_id not in wanted:
            await client.get_schedule_handle(described.id).delete()
            changes.append(f"{described.id}: deleted (the journey has no audience)")
    return changes
