"""Load journey YAML into a checked JourneyDefinition, or say exactly what is wrong and where.

The YAML is read strictly: a key given twice is an error (not "the last wins"), nesting is
bounded, aliases may not expand past a bound (no "billion laughs") nor refer to themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from domain.checks import check
from domain.journey import STEP_KINDS, JourneyDefinition
from domain.limits import MAX_JOURNEY_FILE, MAX_NESTING_DEPTH, MAX_YAML_NODES
from domain.problems import JourneyError, Problem

_MERGE = "tag:yaml.org,2002:merge"


class _LimitError(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting, recursive and exploding aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(f"nested deeper than {MAX_NESTING_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node, {}, set(), 1)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue
                if duplicate:
                    raise _LimitError(f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _expanded_size(node: Node, sizes: dict[int, int], open_: set[int], depth: int) -> int:
    """How many values `node` stands for with its aliases expanded; refuse cycles and bombs."""
    if depth > MAX_NESTING_DEPTH:
        raise _LimitError(f"nested deeper than {MAX_NESTING_DEPTH} levels", node.start_mark)
    key = id(node)
    if key in open_:
        raise _LimitError("recursive alias: an anchor refers to itself", node.start_mark)
    if key in sizes:
        return sizes[key]
    size = 1
    if isinstance(node, SequenceNode | MappingNode):
        open_.add(key)
        children: list[Node] = (
            list(node.value)
            if isinstance(node, SequenceNode)
            else [part for pair in node.value for part in pair]
        )
        for child in children:
            size += _expanded_size(child, sizes, open_, depth + 1)
            if size > MAX_YAML_NODES:
                raise _LimitError(
                    f"more than {MAX_YAML_NODES} values once aliases are expanded",
                    node.start_mark,
                )
        open_.discard(key)
    sizes[key] = size
    return size


def read_yaml(text: str) -> Any:
    """The document in `text`, read by StrictLoader; yaml.YAMLError when it is not acceptable."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


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
