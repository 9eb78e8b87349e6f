"""What changed between two versions of a journey, in words and as a unified YAML diff.

Steps are matched by id. A step is added, removed, or changed; a change lists each field that
differs (`wait.for: 3d -> 5d`, `send.channel: email -> sms`, `branch[1].when: ... -> ...`),
its kind when that changed, and where it can go next when that changed (moving a step in the
list changes its implicit next step). Beside the steps: the trigger, the goals (exit_when),
the audience, the templates per locale, and the journey's own fields.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from domain.checks import successors
from domain.journey import JourneyDefinition, StartStep, Step

ChangeKind = Literal["added", "removed", "changed"]
Area = Literal["journey", "trigger", "goal", "audience", "template", "step"]
# A value longer than this is cut in the words (the unified diff has it whole).
SHOWN = 60


class Change(BaseModel):
    """One thing that differs: `subject` is a step id, template name, goal or field group."""

    area: Area
    subject: str
    kind: ChangeKind
    details: list[str] = []

    def describe(self) -> str:
        sign = {"added": "+", "removed": "-", "changed": "~"}[self.kind]
        head = f"{sign} {self.area} {self.subject}" if self.subject else f"{sign} {self.area}"
        return head + (": " + "; ".join(self.details) if self.details else "")


class JourneyDiff(BaseModel):
    journey_id: str
    old_label: str
    new_label: str
    changes: list[Change]
    unified: str

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> str:
        if self.empty:
            return "no differences"
        steps = [c for c in self.changes if c.area == "step"]
        parts = []
        for kind in ("changed", "added", "removed"):
            n = sum(1 for c in steps if c.kind == kind)
            if n:
                parts.append(f"{n} step{'s' if n != 1 else ''} {kind}")
        others = len(self.changes) - len(steps)
        if others:
            parts.append(f"{others} other change{'s' if others != 1 else ''}")
        return ", ".join(parts)


def step_kind(step: Step) -> str:
    """The step's kind as the YAML names it (send email, wait, wait_for, branch, ...)."""
    dumped = step.model_dump(by_alias=True, exclude_none=True)
    for key in (
        "send",
        "wait",
        "wait_for",
        "branch",
        "update",
        "split",
        "holdout",
        "goto",
        "callback",
        "survey",
        "end",
        "start",
    ):
        if key in dumped:
            if key == "send":
                return f"send {dumped['send'].get('channel', '')}".strip()
            return key
    return type(step).__name__


def diff_journeys(
    old: JourneyDefinition, new: JourneyDefinition, *, old_label: str, new_label: str
) -> JourneyDiff:
    changes: list[Change] = []
    changes += _fields("journey", "", _journey_fields(old), _journey_fields(new))
    changes += _fields("trigger", "", _dump(old.trigger), _dump(new.trigger))
    changes += _fields("audience", "", _dump(old.audience), _dump(new.audience))
    changes += _goals(old, new)
    changes += _templates(old, new)
    changes += _steps(old, new)
    return JourneyDiff(
        journey_id=new.id,
        old_label=old_label,
        new_label=new_label,
        changes=changes,
        unified=unified_yaml(old, new, old_label=old_label, new_label=new_label),
    )


def unified_yaml(
    old: JourneyDefinition, new: JourneyDefinition, *, old_label: str, new_label: str
) -> str:
    before = _yaml(old).splitlines(keepends=True)
    after = _yaml(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=old_label, tofile=new_label))


# --- parts --------------------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """Writes a string of several lines as a `|` block, as journey files are written."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


def _yaml(journey: JourneyDefinition) -> str:
    document = journey.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def _dump(model: BaseModel | None) -> dict[str, Any]:
    if model is None:
        return {}
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _journey_fields(journey: JourneyDefinition) -> dict[str, Any]:
    document = _dump(journey)
    for part in ("trigger", "audience", "exit_when", "templates", "steps", "id", "sample"):
        document.pop(part, None)
    return document


def _fields(area: Area, subject: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    if old == new:
        return []
    if not old:
        return [Change(area=area, subject=subject, kind="added", details=_flat_details({}, new))]
    if not new:
        return [Change(area=area, subject=subject, kind="removed")]
    return [Change(area=area, subject=subject, kind="changed", details=_flat_details(old, new))]


def _goals(old: JourneyDefinition, new: JourneyDefinition) -> list[Change]:
    def keyed(journey: JourneyDefinition) -> dict[str, dict[str, Any]]:
        return {goal.name or goal.event: _dump(goal) for goal in journey.exit_when}

    before, after = keyed(old), keyed(new)
    changes = []
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in after:
            changes.append(Change(area="goal", subject=name, kind="removed"))
        elif name not in before:
            changes.append(
                Change(
                    area="goal", subject=name, kind="added", details=_flat_details({}, after[name])
                )
            )
        elif before[name] != after[name]:
            changes.append(
                Change(
                    area="goal",
                    subject=name,
                    kind="changed",
                    details=_flat_details(before[name], after[name]),
                )
            )
    return changes


def _templates(old: JourneyDefinition, new: JourneyDefinition) -> list[Change]:
    changes = []
    names = [*old.templates, *(n for n in new.templates if n not in old.templates)]
    for name in names:
        if name not in new.templates:
            changes.append(Change(area="template", subject=name, kind="removed"))
            continue
        if name not in old.templates:
            locales = sorted(new.templates[name].locales)
            extra = [f"locales: {', '.join(locales)}"] if locales else []
            changes.append(Change(area="template", subject=name, kind="added", details=extra))
            continue
        before, after = _variants(old, name), _variants(new, name)
        details = []
        for locale in [*before, *(loc for loc in after if loc not in before)]:
            if locale not in after:
                details.append(f"locale {locale} removed")
            elif locale not in before:
                details.append(f"locale {locale} added")
            else:
                details += _text_details(locale, before[locale], after[locale])
        if details:
            changes.append(Change(area="template", subject=name, kind="changed", details=details))
    return changes


def _variants(journey: JourneyDefinition, name: str) -> dict[str, dict[str, str]]:
    """A template's texts per locale ("default" for the template's own)."""
    template = journey.templates[name]
    found = {
        "default": {"subject": template.subject, "text": template.text, "html": template.html or ""}
    }
    for locale, variant in template.locales.items():
        found[locale] = {
            "subject": variant.subject,
            "text": variant.text,
            "html": variant.html or "",
        }
    return found


def _text_details(locale: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    details = []
    for part in ("subject", "text", "html"):
        old, new = before[part], after[part]
        if old == new:
            continue
        if part == "subject" or ("\n" not in old and "\n" not in new):
            details.append(f"{part} ({locale}): {_shown(old)} -> {_shown(new)}")
            continue
        added = removed = 0
        for line in difflib.ndiff(old.splitlines(), new.splitlines()):
            added += line.startswith("+ ")
            removed += line.startswith("- ")
        details.append(f"{part} ({locale}) changed: +{added} -{removed} lines")
    return details


def _steps(old: JourneyDefinition, new: JourneyDefinition) -> list[Change]:
    before = {step.id: (index, step) for index, step in enumerate(old.steps)}
    after = {step.id: (index, step) for index, step in enumerate(new.steps)}
    changes = []
    for step_id in [*before, *(s for s in after if s not in before)]:
        if step_id not in after:
            changes.append(
                Change(
                    area="step",
                    subject=step_id,
                    kind="removed",
                    details=[step_kind(before[step_id][1]), *_target(before[step_id][1])],
                )
            )
            continue
        if step_id not in before:
            index, step = after[step_id]
            changes.append(
                Change(
                    area="step",
                    subject=step_id,
                    kind="added",
                    details=[step_kind(step), *_target(step), f"at position {index + 1}"],
                )
            )
            continue
        (old_index, old_step), (new_index, new_step) = before[step_id], after[step_id]
        details = []
        old_kind, new_kind = step_kind(old_step), step_kind(new_step)
        if old_kind != new_kind:
            details.append(f"kind: {old_kind} -> {new_kind}")
        old_fields, new_fields = _dump(old_step), _dump(new_step)
        details += _flat_details(old_fields, new_fields)
        old_next = _unique(successors(old, old_index))
        new_next = _unique(successors(new, new_index))
        if old_next != new_next:
            details.append(
                f"goes next to: {', '.join(old_next) or '-'} -> {', '.join(new_next) or '-'}"
            )
        if details:
            changes.append(Change(area="step", subject=step_id, kind="changed", details=details))
    return changes


def _target(step: Step) -> list[str]:
    """The journey a start step starts, named where the step is added or removed."""
    return [f"starts journey {step.start.journey}"] if isinstance(step, StartStep) else []


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        flat = {}
        for index, inner in enumerate(value):
            flat.update(_flatten(inner, f"{path}[{index + 1}]"))
        return flat
    return {path: value}


def _flat_details(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = _flatten(old), _flatten(new)
    details = []
    for path in [*before, *(p for p in after if p not in before)]:
        if path in ("", "id"):
            continue
        if path not in after:
            details.append(f"{path}: {_shown(before[path])} -> (none)")
        elif path not in before:
            details.append(
                f"{path}: {_shown(after[path])}"
                if not old
                else f"{path}: (none) -> {_shown(after[path])}"
            )
        elif before[path] != after[path]:
            details.append(f"{path}: {_shown(before[path])} -> {_shown(after[path])}")
    return details


def _shown(value: Any) -> str:
    # A plain scalar (a number, true) dumps as a document with its end marker: not shown.
    text = (
        value
        if isinstance(value, str)
        else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    )
    if isinstance(value, str):
        text = repr(value) if (not value or value != value.strip() or " " in value) else value
    text = " ".join(str(text).split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
