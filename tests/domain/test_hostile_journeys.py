"""Hostile and clumsy journey files: each ends, at once, in a problem naming file, step and field.

One test per finding of issue 11 about journey files (durations and numbers, templates and
conditions, YAML); none of these files may load, and none may take long.
"""

from __future__ import annotations

import time
from textwrap import dedent, indent

import pytest

from domain import limits
from domain.durations import parse_duration
from domain.expressions import BudgetError, ExpressionError, evaluate_condition, render
from domain.loader import load_journey_text
from domain.problems import JourneyError, Problem
from domain.segments import SegmentError, parse_segment

HEAD = """\
id: sample
name: Sample
trigger: {event: signed_up}
templates:
  hi: {subject: "Hi", text: "Hello"}
steps:
"""


def problems_of(text: str) -> list[Problem]:
    started = time.monotonic()
    with pytest.raises(JourneyError) as caught:
        load_journey_text(text, source="hostile.yaml")
    assert time.monotonic() - started < 5, "refusing it took too long"
    problems = caught.value.problems
    assert problems and all(p.file == "hostile.yaml" for p in problems)
    return problems


def problem_in(steps: str, head: str = HEAD) -> Problem:
    problems = problems_of(head + dedent(steps))
    assert len(problems) == 1, problems
    return problems[0]


# --- durations and numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ("- {id: pause, wait: {for: 999999999d}}\n", "wait.for"),
        ("- {id: pause, wait: {for: 3651d}}\n", "wait.for"),
        ("- {id: pause, wait: {for: 99999999999999999999999999w}}\n", "wait.for"),
        ("- {id: w, wait_for: {event: x, timeout: 999999999d}}\n", "wait_for.timeout"),
        (
            "- id: call\n  callback: {queue: q, reason: r, due_in: 1d, timeout: 999999999d}\n",
            "callback.timeout",
        ),
    ],
)
def test_a_duration_longer_than_the_longest_is_refused(steps: str, field: str) -> None:
    problem = problem_in(steps)
    assert problem.field == field
    assert "longest" in problem.message or "not a duration" in problem.message


def test_the_longest_duration_itself_is_accepted() -> None:
    assert parse_duration(f"{limits.MAX_DURATION_DAYS}d").days == limits.MAX_DURATION_DAYS


def test_a_cooldown_longer_than_the_largest_is_refused() -> None:
    head = HEAD.replace(
        "trigger: {event: signed_up}",
        "trigger: {event: signed_up, re_entry: cooldown, cooldown: 999999999d}",
    )
    problem = problem_in("- {id: pause, wait: {for: 1d}}\n", head)
    assert problem.field.startswith("trigger")


@pytest.mark.parametrize("digits", ["١٠d", "１０d", "1٠d"])
def test_durations_take_only_ascii_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(digits)
    problem = problem_in(f'- {{id: pause, wait: {{for: "{digits}"}}}}\n')
    assert problem.step == "pause" and problem.field == "wait.for"


@pytest.mark.parametrize("per_second", ["1e-300", "0", "100000", ".nan", ".inf"])
def test_audience_pacing_must_be_within_a_sane_range(per_second: str) -> None:
    head = HEAD.replace(
        "steps:\n", f"audience: {{segment: vip, per_second: {per_second}}}\nsteps:\n"
    )
    problem = problem_in("- {id: pause, wait: {for: 1d}}\n", head)
    assert problem.field == "audience.per_second"


@pytest.mark.parametrize("weight", ["1e309", ".inf", ".nan", "1e12"])
def test_split_weights_are_finite_and_bounded(weight: str) -> None:
    problem = problem_in(
        f"""\
        - id: ab
          split:
            - {{name: a, weight: {weight}, goto: one}}
            - {{name: b, weight: 1, goto: two}}
        - {{id: one, wait: {{for: 1d}}}}
        - {{id: two, wait: {{for: 1d}}}}
        """
    )
    assert problem.step == "ab" and problem.field == "split.0.weight"


def test_a_match_value_that_is_not_a_number_is_refused() -> None:
    head = HEAD.replace("trigger: {event: signed_up}", "trigger: {event: x, match: {n: .nan}}")
    problems = problems_of(head + "- {id: pause, wait: {for: 1d}}\n")
    assert any(p.field.startswith("trigger.match.n") and "finite" in p.message for p in problems)


def test_a_time_of_day_with_a_trailing_newline_is_refused() -> None:
    problem = problem_in('- {id: pause, wait: {until: "10:00\\n"}}\n')
    assert problem.step == "pause" and problem.field == "wait.until"


def test_a_segment_field_with_a_trailing_newline_is_refused() -> None:
    raw = {"name": "pro", "where": {"field": "attributes.plan\n", "eq": "pro"}}
    with pytest.raises(SegmentError, match="unknown field"):
        parse_segment(raw)
    with pytest.raises(SegmentError):
        parse_segment({"name": "pro\n", "where": {"field": "attributes.plan", "eq": "pro"}})


# --- templates and conditions ----------------------------------------------------------------

HOSTILE = [
    "{{ 'a'*2000000000 }}",
    "{{ '%s'*10**8 }}",
    "{{ 10**(10**9) }}",
    "{{ ('a'*10**7)|wordwrap }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "{{ 'a'|center(1000000000) }}",
    "{{ '%1000000000s' % 'a' }}",
    "{{ '{:>1000000000}'.format('a') }}",
    "{{ 'a'.ljust(10**9) }}",
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set x %}{% for i in range(9000) %}" + "y" * 50_000 + "{% endfor %}{% endset %}{{ x }}",
    "{{ range(10000)|join('a'*100000) }}",
    "{{ [1]|batch(10**9)|list }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_a_template_over_its_budget_fails_at_once(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(BudgetError):
        render(source, {})
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "source", ["10**(10**9) > 1", "('a'*10**7)|wordwrap|length > 1", "range(10**9)|list"]
)
def test_a_condition_over_its_budget_fails_at_once_even_where_jinja_folds_constants(
    source: str,
) -> None:
    started = time.monotonic()
    with pytest.raises(BudgetError):
        evaluate_condition(source, {})
    assert time.monotonic() - started < 2


def test_ordinary_templates_still_render() -> None:
    text = "Hi {{ name|upper }}{% for i in range(3) %} {{ i * 2 }}{% endfor %} {{ 2**10 }}"
    assert render(text, {"name": "ada"}) == "Hi ADA 0 2 4 1024"
    assert evaluate_condition("score <= 2 and 'x' ~ 'y' == 'xy'", {"score": 1}) is True


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        (
            '- {id: tag, update: {set: {n: "{{ range(10**9)|list|length }}"}}}\n',
            "update.set.n",
        ),
        (
            '- id: tag\n  update:\n    set:\n      n: "{% for i in range(9999) %}{% for j in '
            'range(9999) %}{% endfor %}{% endfor %}"\n',
            "update.set.n",
        ),
        (
            "- {id: w, wait_for: {event: x, match: {k: \"{{ 'a'*2000000000 }}\"}, timeout: 1d}}\n",
            "wait_for.match.k",
        ),
        ("- {id: route, branch: [{when: '10**(10**9) > 1', goto: end}]}\n", "branch[0].when"),
        ("- {id: route, branch: [{when: '().__class__ == 1', goto: end}]}\n", "branch[0].when"),
    ],
)
def test_validation_renders_every_template_and_condition_position(steps: str, field: str) -> None:
    problem = problem_in(steps)
    assert problem.field == field


def test_validation_renders_exit_when_match_values() -> None:
    head = HEAD.replace(
        "steps:\n", 'exit_when:\n  - {event: bought, match: {k: "{{ 10**(10**9) }}"}}\nsteps:\n'
    )
    problem = problem_in("- {id: pause, wait: {for: 1d}}\n", head)
    assert problem.field == "exit_when[0].match.k"


def test_a_send_template_over_its_budget_is_a_problem() -> None:
    head = HEAD.replace('text: "Hello"', "text: \"{{ '%s'*10**8 }}\"")
    problem = problem_in("- {id: hi, send: {channel: email, template: hi}}\n", head)
    assert problem.field == "templates.hi"


def test_a_template_longer_than_the_largest_is_a_problem() -> None:
    head = HEAD.replace('text: "Hello"', f'text: "{"x" * (limits.MAX_TEMPLATE_SIZE + 1)}"')
    problem = problem_in("- {id: hi, send: {channel: email, template: hi}}\n", head)
    assert problem.field == "templates.hi.text"


def test_expression_errors_keep_their_type() -> None:
    assert issubclass(BudgetError, ExpressionError)


# --- YAML ------------------------------------------------------------------------------------


def test_a_key_given_twice_is_refused_not_the_last_wins() -> None:
    problem = problem_in("- {id: pause, wait: {for: 1d, for: 2d}}\n")
    assert "duplicate key 'for'" in problem.message and "line" in problem.message


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_aliases_that_expand_past_the_bound_are_refused() -> None:
    problems = problems_of(
        HEAD.replace("steps:\n", "x-bomb:\n" + indent(BILLION_LAUGHS, "  ") + "steps:\n")
        + "- {id: tag, update: {set: {laughs: *h}}}\n"
    )
    assert "aliases are expanded" in problems[0].message


def test_a_recursive_anchor_is_refused() -> None:
    problems = problems_of(HEAD + "- {id: tag, update: {set: {loop: &a [*a]}}}\n")
    assert "recursive" in problems[0].message


def test_deep_nesting_is_a_problem_not_a_recursion_error() -> None:
    deep = "[" * 5000 + "]" * 5000
    problems = problems_of(HEAD + f"- {{id: tag, update: {{set: {{deep: {deep}}}}}}}\n")
    assert f"deeper than {limits.MAX_NESTING_DEPTH}" in problems[0].message


def test_more_steps_than_the_most_are_refused() -> None:
    steps = "".join(f"- {{id: s{i}, goto: s{i + 1}}}\n" for i in range(1500))
    steps += "- {id: s1500, end: done}\n"
    problems = problems_of(HEAD + steps)
    assert any(p.field == "steps" and str(limits.MAX_STEPS) in p.message for p in problems)


def test_a_long_chain_of_steps_within_the_limit_loads() -> None:
    steps = "".join(f"- {{id: s{i}, goto: s{i + 1}}}\n" for i in range(limits.MAX_STEPS - 1))
    journey = load_journey_text(HEAD + steps + f"- {{id: s{limits.MAX_STEPS - 1}, end: done}}\n")
    assert len(journey.steps) == limits.MAX_STEPS


def test_an_unknown_on_outcome_target_is_a_problem_not_a_key_error() -> None:
    problem = problem_in(
        """\
        - id: call
          callback: {queue: q, reason: r, due_in: 1d, timeout: 2d}
          on_outcome: {reached: nowhere}
        - {id: done, end: done}
        """
    )
    assert problem.step == "call" and problem.field == "on_outcome.reached"
    assert "unknown step 'nowhere'" in problem.message


def test_a_bad_step_id_names_the_real_pattern() -> None:
    problem = problem_in('- {id: "[/bogus]", wait: {for: 1d}}\n')
    assert problem.field == "id"
    assert "^[a-z][a-z0-9_]*$" in problem.message


def test_a_date_that_is_no_date_is_a_problem_not_a_value_error() -> None:
    problems = problems_of(HEAD + "- {id: tag, update: {set: {when: 2026-13-45}}}\n")
    assert "invalid YAML" in problems[0].message


def test_bounds_checked_at_validate_still_let_a_stored_definition_decode() -> None:
    """A run in flight carries its definition; a bound added later must not make it undecodable
    (a poison run), so step counts and weights are validate problems, not limits of the types."""
    from domain.journey import JourneyDefinition

    steps: list[dict[str, object]] = [
        {
            "id": "ab",
            "split": [
                {"name": "a", "weight": 1e12, "goto": "s0"},
                {"name": "b", "weight": 1, "goto": "s0"},
            ],
        }
    ]
    steps += [{"id": f"s{i}", "goto": f"s{i + 1}"} for i in range(limits.MAX_STEPS + 10)]
    steps.append({"id": f"s{limits.MAX_STEPS + 10}", "end": "done"})
    stored = {"id": "sample", "name": "Sample", "trigger": {"event": "signed_up"}, "steps": steps}
    journey = JourneyDefinition.model_validate(stored)
    assert len(journey.steps) == limits.MAX_STEPS + 12


@pytest.mark.parametrize(
    "text, expected",
    [
        ("segments:\n- {name: a, when: {tier: gold}, when: {tier: lapsed}}\n", "duplicate key"),
        ("a: &a [*a]\n", "recursive alias"),
        (
            "x: &x [1,1,1,1,1,1,1,1,1,1]\n"
            + "".join(
                f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}" if i else "*x"] * 10) + "]\n"
                for i in range(6)
            ),
            "values once aliases are expanded",
        ),
    ],
)
def test_segment_files_are_read_as_strictly_as_journeys(text: str, expected: str) -> None:
    from domain.segments import load_segments_text

    with pytest.raises(SegmentError) as caught:
        load_segments_text(text, source="segments.yaml")
    assert expected in str(caught.value)


def test_send_policy_files_refuse_duplicate_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from domain.send_policy import PolicyError, load_policy_file

    path = tmp_path / "policy.yaml"
    path.write_text("quiet_hours: []\nquiet_hours: [{start: '21:00', end: '08:00'}]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert "duplicate key 'quiet_hours'" in str(caught.value)
