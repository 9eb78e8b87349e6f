"""Fuzzing the journey loader and checks with mutations of the built-in journeys.

Whatever the document, loading it ends quickly in either a valid definition or JourneyError
whose problems name the file (and, where there is one, the step and field); never another
exception, never a hang. Seeded with journeys/*.yaml: keys deleted or duplicated, values
replaced by huge numbers, strings, hostile templates, deep structures and alias bombs.

Per run: 200 generated documents (`max_examples`), each given at most 5 s; the whole test takes
about 10-20 s on one core.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from domain.problems import JourneyError, Problem

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
SEEDS = {path.name: path.read_text(encoding="utf-8") for path in sorted(JOURNEYS.glob("*.yaml"))}
SOURCE = "fuzzed.yaml"
BOUND_SECONDS = 5.0


def _laughs(depth: int) -> list[Any]:
    level: list[Any] = ["lol"] * 9
    for _ in range(depth):
        level = [level] * 9  # shared: yaml.safe_dump writes anchors and aliases
    return level


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES: list[Any] = [
    10**30,
    -1,
    0,
    2**63,
    float("nan"),
    float("inf"),
    "1e309",
    "-1e309",
    "999999999d",
    "99999999999999999999w",
    "١٠d",
    "１０d",
    "0s",
    "10:00\n",
    "24:00",
    "[/bogus]",
    "[red]x[/red]",
    "end",
    "nowhere",
    "continue",
    "",
    "x" * 5000,
    "{{ 10**(10**9) }}",
    "{{ 'a'*2000000000 }}",
    "{{ '%s'*10**8 }}",
    "{{ ('a'*10**7)|wordwrap }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ profile.frist_name }}",
    "{{ unclosed",
    "10**(10**9) > 1",
    "().__class__ == 1",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    None,
    True,
    [],
    {},
    {"nested": {"deeper": [1, 2, {"x": "y"}]}},
    _deep(40),
    _laughs(7),
]

values = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=12),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _containers(
    node: Any, path: tuple[Any, ...] = (), seen: set[int] | None = None
) -> list[tuple[Any, ...]]:
    """Paths of every mapping and list in a document (the places a mutation can act), each
    container once: an inserted billion-laughs value shares its lists (deepcopy keeps the
    sharing), and walking every path through it is 10**7 paths and gigabytes."""
    seen = set() if seen is None else seen
    if not isinstance(node, dict | list) or id(node) in seen:
        return []
    seen.add(id(node))
    found = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        found += _containers(child, (*path, key), seen)
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(SEEDS)))
    document = yaml.safe_load(SEEDS[name])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        places = _containers(document)
        container = _at(document, draw(st.sampled_from(places)))
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        action = draw(st.sampled_from(["replace", "delete", "insert", "copy_step"]))
        if action == "replace" and keys:
            container[draw(st.sampled_from(keys))] = copy.deepcopy(draw(values))
        elif action == "delete" and keys:
            del container[draw(st.sampled_from(keys))]
        elif action == "insert":
            if isinstance(container, dict):
                key = draw(st.sampled_from(["id", "goto", "for", "when", "x", "on_outcome"]))
                container[key] = copy.deepcopy(draw(values))
            else:
                container.append(copy.deepcopy(draw(values)))
        elif action == "copy_step" and isinstance(document.get("steps"), list):
            steps = document["steps"]
            if steps:
                steps.insert(0, draw(st.sampled_from(steps)))
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    lines = text.splitlines(keepends=True)
    textual = draw(st.sampled_from(["none", "duplicate_line", "recursive_anchor", "truncate"]))
    if textual == "duplicate_line" and lines:
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines.insert(index, lines[index])  # usually a key given twice
    elif textual == "recursive_anchor":
        lines.append("x-loop: &loop [*loop]\n")
    elif textual == "truncate" and lines:
        lines = lines[: draw(st.integers(min_value=0, max_value=len(lines)))]
    return "".join(lines)


def _assert_documented_problems(problems: list[Problem]) -> None:
    assert problems
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.file == SOURCE
        assert problem.message
        assert str(problem).startswith(SOURCE)


@settings(
    max_examples=200,
    deadline=timedelta(seconds=BOUND_SECONDS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(mutated_documents())
def test_any_mutated_journey_loads_or_says_what_is_wrong(text: str) -> None:
    started = time.monotonic()
    try:
        journey = load_journey_text(text, source=SOURCE)
    except JourneyError as exc:
        _assert_documented_problems(exc.problems)
    else:
        assert isinstance(journey, JourneyDefinition)
        # A journey that loads can be stored and read back (publish does exactly that).
        assert JourneyDefinition.model_validate(journey.model_dump(mode="json", by_alias=True))
    assert time.monotonic() - started < BOUND_SECONDS


def test_every_built_in_journey_still_loads() -> None:
    for name, text in SEEDS.items():
        assert load_journey_text(text, source=name).id
