"""Which step of a newer version a waiting run moves to, and why a run stays where it is.

A step keeps its place when the newer version has a step of the same id and kind; an explicit
mapping (`--map OLD=NEW`) overrides that or adds what ids alone cannot say. Runs in a step with
no mapping stay on their version, each with the reason. Only waits (a timer, an event) are
places a run leaves: a run elsewhere is mid-step, and the run itself refuses to move then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.journey import JourneyDefinition, step_kind


class MigrationProblem(ValueError):
    """A migration command that cannot be carried out as asked; nothing is changed."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass
class VersionPlan:
    """Where the runs of one older version go: step -> step of the newer version, or why not."""

    version: int
    mapping: dict[str, str] = field(default_factory=dict)
    stays: dict[str, str] = field(default_factory=dict)


def parse_maps(pairs: list[str]) -> dict[str, str]:
    """`OLD=NEW` pairs, each step once."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise MigrationProblem("map", f"{pair!r}: write it as OLD_STEP=NEW_STEP")
        if old in mapping and mapping[old] != new:
            raise MigrationProblem("map", f"step {old!r} is mapped twice")
        mapping[old] = new
    return mapping


def versions_behind(
    journey_id: str, to_version: int, published: set[int], running: set[int]
) -> list[int]:
    """The versions with running runs that can move to `to_version` (older ones); refuse a
    version that was never published or is not newer than any run's."""
    if to_version not in published:
        known = ", ".join(str(v) for v in sorted(published))
        raise MigrationProblem(
            "to", f"journey {journey_id!r} has no version {to_version} (it has {known})"
        )
    behind = sorted(v for v in running if v < to_version)
    if not behind and running:
        if running == {to_version}:
            raise MigrationProblem(
                "to",
                f"every running run of {journey_id!r} is on version {to_version} already: "
                "nothing to migrate",
            )
        raise MigrationProblem(
            "to",
            f"the running runs are on version(s) {', '.join(map(str, sorted(running)))}: "
            f"version {to_version} is not newer; migration moves runs to a newer version only",
        )
    return behind


def check_target(
    journey_id: str, to_version: int, olds: dict[int, JourneyDefinition], step: str | None
) -> None:
    """Refuse a migration that does not go forward or names a step no older version has."""
    if not olds:
        raise MigrationProblem(
            "to",
            f"no run of journey {journey_id!r} is on a version older than {to_version}: "
            "migration moves runs to a newer version only",
        )
    if step is not None and not any(step in _ids(old) for old in olds.values()):
        versions = ", ".join(str(v) for v in sorted(olds))
        raise MigrationProblem("where", f"no step {step!r} in version(s) {versions}")


def plan(
    olds: dict[int, JourneyDefinition],
    new: JourneyDefinition,
    to_version: int,
    explicit: dict[str, str],
) -> dict[int, VersionPlan]:
    """The plan for each older version; MigrationProblem for a mapping that cannot hold."""
    new_ids = _ids(new)
    new_kinds = {s.id: step_kind(s) for s in new.steps}
    for old_step, new_step in explicit.items():
        if not any(old_step in _ids(old) for old in olds.values()):
            versions = ", ".join(str(v) for v in sorted(olds))
            raise MigrationProblem(
                "map", f"{old_step}={new_step}: no step {old_step!r} in version(s) {versions}"
            )
        if new_step not in new_ids:
            raise MigrationProblem(
                "map",
                f"{old_step}={new_step}: version {to_version} has no step {new_step!r}; "
                f"its steps: {', '.join(new_ids)}",
            )
    plans: dict[int, VersionPlan] = {}
    for version, old in sorted(olds.items()):
        result = VersionPlan(version=version)
        for step in old.steps:
            kind = step_kind(step)
            if step.id in explicit:
                result.mapping[step.id] = explicit[step.id]
            elif step.id not in new_ids:
                result.stays[step.id] = (
                    f"version {to_version} has no step {step.id}: map it with --map {step.id}=STEP"
                )
            elif new_kinds[step.id] != kind:
                result.stays[step.id] = (
                    f"step {step.id} is a {kind} in version {version} and a "
                    f"{new_kinds[step.id]} in version {to_version}: map it with "
                    f"--map {step.id}=STEP"
                )
            else:
                result.mapping[step.id] = step.id
        plans[version] = result
    return plans


def _ids(journey: JourneyDefinition) -> list[str]:
    return [s.id for s in journey.steps]
