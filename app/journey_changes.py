"""Comparing versions of a journey: two published versions, or a draft against one."""

from __future__ import annotations

from app.journeys import JourneyService
from domain.journey import JourneyDefinition
from domain.journey_diff import JourneyDiff, diff_journeys
from store.errors import UnknownJourney


class UnknownVersion(LookupError):
    """The journey exists but has no such version."""


def _version(
    service: JourneyService, journey_id: str, version: int | None
) -> tuple[int, JourneyDefinition]:
    summary = service.store.journeys.get(journey_id)
    if summary is None:
        raise UnknownJourney(journey_id)
    number = summary.latest_version if version is None else version
    if not 1 <= number <= summary.latest_version:
        raise UnknownVersion(
            f"journey {journey_id!r} has no version {number} "
            f"(its versions are 1 to {summary.latest_version})"
        )
    return number, service.journey(journey_id, number)


def diff_versions(
    service: JourneyService, journey_id: str, old: int | None = None, new: int | None = None
) -> JourneyDiff:
    """From version `old` (default: the one before `new`) to `new` (default: the newest)."""
    new_number, new_definition = _version(service, journey_id, new)
    if old is None:
        if new_number == 1:
            raise UnknownVersion(
                f"journey {journey_id!r} has only version 1: name a file to compare with it"
            )
        old = new_number - 1
    old_number, old_definition = _version(service, journey_id, old)
    return diff_journeys(
        old_definition,
        new_definition,
        old_label=f"{journey_id} v{old_number}",
        new_label=f"{journey_id} v{new_number}",
    )


def diff_draft(
    service: JourneyService,
    draft: JourneyDefinition,
    *,
    draft_label: str,
    against: int | None = None,
) -> JourneyDiff:
    """From a published version (default: the newest) of the draft's journey to the draft."""
    number, published = _version(service, draft.id, against)
    return diff_journeys(published, draft, old_label=f"{draft.id} v{number}", new_label=draft_label)
