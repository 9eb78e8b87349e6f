"""Load journey YAML into a checked JourneyDefinition, or say exactly what is wrong and where.

The YAML is read strictly: a key given twice is an error (not "the last wins"), nesting is
bounded, aliases may not expand past a bound (no "billion laughs") nor refer to themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from domain.checks import check
from domain.journey import STEP_KINDS, JourneyDefinition
from domain.limits import MAX_JOURNEY_FILE, MAX_NESTING_DEPTH
from domain.problems import JourneyError, Problem
from domain.yaml_reading import read_yaml


def load_journey_file(path: str | Path) -> JourneyDefinition:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyError(
            [Problem(file=str(path), message=f"cannot read: {exc.strerror}")]
        ) from exc
    return load_journey_text(text, source=str(path))


def load_journey_text(text: str, *, source: str = "<journey>") -> JourneyDefinition:
    if len(text) > MAX_JOURNEY_FILE:
        raise JourneyError(
            [Problem(file=source, message=f"longer than {MAX_JOURNEY_FILE} characters")]
        )
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise JourneyError(
            [Problem(file=source, message=f"invalid YAML{where}: {reason}")]
        ) from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a date 2026-13-45
        raise JourneyError([Problem(file=source, message=f"invalid YAML: {exc}")]) from exc
    return parse_journey(raw, source=source)


def parse_journey(raw: Any, *, source: str = "<journey>") -> JourneyDefinition:
    if not isinstance(raw, dict):
        raise JourneyError([Problem(file=source, message="a journey file must be a mapping")])
    try:
        journey = JourneyDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(raw, error, source) for error in exc.errors()]
        raise JourneyError(problems) from exc
    except RecursionError as exc:  # a document built in Python, not read by read_yaml
        message = f"nested deeper than {MAX_NESTING_DEPTH} levels"
        raise JourneyError([Problem(file=source, message=message)]) from exc
    problems = [p.in_file(source) for p in check(journey)]
    if problems:
        raise JourneyError(problems)
    return journey


def _problem(raw: dict[str, Any], error: Any, source: str) -> Problem:
    loc = list(error["loc"])
    step = None
    item = None
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = raw.get("steps") or []
        item = steps[loc[1]] if loc[1] < len(steps) else None
        step_id = item.get("id") if isinstance(item, dict) else None
        step = str(step_id) if step_id else f"#{loc[1] + 1}"
        loc = loc[2:]
        if loc and loc[0] in STEP_KINDS:  # the union's tag, not a field
            loc = loc[1:]
    field = ".".join(str(part) for part in loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "unknown_step_kind" and isinstance(item, dict):
        field, message = _kind_problem(item, message)
    return Problem(file=source, step=step, field=field, message=message)


def _kind_problem(item: dict[Any, Any], message: str) -> tuple[str, str]:
    """Name the keys that should have been a step kind, so the error points at the field."""
    kinds = [str(key) for key in item if key in STEP_KINDS]
    if len(kinds) > 1:
        return ", ".join(kinds), f"more than one step kind ({', '.join(kinds)}); {message}"
    others = [str(key) for key in item if key not in ("id", "name")]
    if others:
        return ", ".join(others), f"unknown step kind {', '.join(others)!r}; {message}"
    return "", f"no step kind; {message}"
