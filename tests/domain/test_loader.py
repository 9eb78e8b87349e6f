"""Loading journey YAML: a good file parses, and every bad one says which file, step and field."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from domain.journey import (
    BranchStep,
    EndStep,
    GotoStep,
    SendStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from domain.loader import load_journey_file, load_journey_text, parse_journey
from domain.problems import JourneyError, Problem

HEAD = """\
id: sample
name: Sample
trigger: {event: signed_up}
sample: {profile: {first_name: Ada}}
templates:
  hi: {subject: "Hi {{ profile.first_name }}", text: "Hello"}
steps:
"""


def journey_file(tmp_path: Path, steps: str, head: str = HEAD) -> Path:
    path = tmp_path / "sample.yaml"
    path.write_text(head + dedent(steps), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(JourneyError) as caught:
        load_journey_file(path)
    return caught.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_journey_with_every_step_kind_loads_into_typed_steps(tmp_path: Path) -> None:
    path = journey_file(
        tmp_path,
        """\
        - {id: hello, send: {channel: email, template: hi}}
        - {id: pause, wait: {for: 1d12h, until: "09:30", on_days: [mon, fri]}}
        - id: clicked
          wait_for: {event: link_clicked, match: {campaign: "{{ trigger.campaign }}"}, timeout: 3d}
          on_timeout: tag
        - id: route
          branch:
            - {when: "profile.plan == 'pro'", goto: tag}
            - {else: done}
        - {id: tag, update: {set: {greeted: true}, add_tags: [greeted]}}
        - {id: back, goto: pause}
        - {id: done, end: greeted}
        """,
    )
    journey = load_journey_file(path)
    kinds = [type(step) for step in journey.steps]
    assert kinds == [
        SendStep,
        WaitStep,
        WaitForStep,
        BranchStep,
        UpdateStep,
        GotoStep,
        EndStep,
    ]
    wait = journey.steps[1]
    assert isinstance(wait, WaitStep)
    assert wait.wait.delay.total_seconds() == 36 * 3600
    assert wait.wait.until_time is not None and wait.wait.until_time.strftime("%H:%M") == "09:30"
    end = journey.steps[-1]
    assert isinstance(end, EndStep) and end.end.reason == "greeted"


def test_a_loaded_journey_survives_a_round_trip_through_json() -> None:
    journey = load_journey_text(
        HEAD + "  - {id: pause, wait: {for: 1w2h}}\n  - {id: hello, send: {channel: email, "
        "template: hi}}\n"
    )
    data = journey.model_dump(mode="json", by_alias=True)
    assert data["steps"][0]["wait"]["for"] == "7d2h"
    assert parse_journey(data) == journey


def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\nname: [unclosed\nsteps: []\n", encoding="utf-8")
    problem = only_problem(path)
    assert problem.file == str(path)
    assert "invalid YAML at line 3" in problem.message
    assert str(path) in str(problem)


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "missing.yaml")
    assert problem.file == str(tmp_path / "missing.yaml")
    assert "cannot read" in problem.message


def test_a_journey_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- one\n- two\n", encoding="utf-8")
    assert "must be a mapping" in only_problem(path).message


BAD_STEPS = [
    pytest.param(
        "- {id: hello, sned: {channel: email, template: hi}}\n",
        "hello",
        "sned",
        "unknown step kind 'sned'",
        id="unknown step kind",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi}, goto: end}\n",
        "hello",
        "send, goto",
        "more than one step kind",
        id="two step kinds",
    ),
    pytest.param(
        "- {id: hello}\n",
        "hello",
        "",
        "no step kind",
        id="no step kind",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi}}\n- {id: next, goto: nowhere}\n",
        "next",
        "goto",
        "unknown step 'nowhere'",
        id="goto to nowhere",
    ),
    pytest.param(
        "- id: route\n  branch:\n    - {when: 'profile.vip', goto: vip}\n    - {else: nowhere}\n"
        "- {id: vip, send: {channel: email, template: hi}}\n",
        "route",
        "branch[1].else",
        "unknown step 'nowhere'",
        id="branch else to nowhere",
    ),
    pytest.param(
        "- {id: wait, wait_for: {event: clicked, timeout: 1d}, on_timeout: nowhere}\n",
        "wait",
        "on_timeout",
        "unknown step 'nowhere'",
        id="on_timeout to nowhere",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi}}\n- {id: hello, wait: {for: 1d}}\n",
        "hello",
        "id",
        "duplicate step id 'hello'",
        id="duplicate ids",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi}}\n- {id: stop, end: done}\n"
        "- {id: orphan, wait: {for: 1d}}\n",
        "orphan",
        "id",
        "unreachable",
        id="unreachable step",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi}}\n- {id: again, goto: hello}\n",
        "again",
        "goto",
        "loop without a wait: hello -> again -> hello",
        id="loop without a wait",
    ),
    pytest.param(
        "- {id: tag, update: {add_tags: [x]}}\n"
        "- id: route\n  branch:\n    - {when: 'profile.vip', goto: tag}\n    - {else: end}\n",
        "route",
        "branch[0].goto",
        "loop without a wait",
        id="loop without a wait through a branch",
    ),
    pytest.param(
        "- id: route\n  branch:\n    - {when: 'profile.score >=', goto: end}\n",
        "route",
        "branch[0].when",
        "does not parse",
        id="condition that does not parse",
    ),
    pytest.param(
        "- {id: tag, update: {set: {code: '{{ trigger.code '}}}\n",
        "tag",
        "update.set.code",
        "does not parse",
        id="update value that does not parse",
    ),
    pytest.param(
        "- {id: clicked, wait_for: {event: clicked, match: {link: '{% if %}'}, timeout: 1d}}\n",
        "clicked",
        "wait_for.match.link",
        "does not parse",
        id="wait_for match that does not parse",
    ),
    pytest.param(
        "- {id: pause, wait: {for: 2 days}}\n",
        "pause",
        "wait.for",
        "'2 days' is not a duration",
        id="bad duration",
    ),
    pytest.param(
        "- {id: pause, wait: {for: 0d}}\n",
        "pause",
        "wait.for",
        "must be longer than zero",
        id="zero duration",
    ),
    pytest.param(
        "- {id: clicked, wait_for: {event: clicked, timeout: soon}}\n",
        "clicked",
        "wait_for.timeout",
        "'soon' is not a duration",
        id="bad timeout",
    ),
    pytest.param(
        "- {id: pause, wait: {until: '24:00'}}\n",
        "pause",
        "wait.until",
        "not a time of day HH:MM",
        id="bad HH:MM",
    ),
    pytest.param(
        "- {id: pause, wait: {until: '9:30'}}\n",
        "pause",
        "wait.until",
        "not a time of day HH:MM",
        id="HH:MM without leading zero",
    ),
    pytest.param(
        "- {id: pause, wait: {for: 1d, on_days: [mon]}}\n",
        "pause",
        "wait",
        "on_days needs `until`",
        id="on_days without until",
    ),
    pytest.param(
        "- {id: pause, wait: {until: '10:00', on_days: [monday]}}\n",
        "pause",
        "wait.on_days.0",
        "'mon'",
        id="misspelt weekday",
    ),
    pytest.param(
        "- {id: pause, wait: {}}\n",
        "pause",
        "wait",
        "wait needs `for`",
        id="wait with nothing to wait for",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: bye}}\n",
        "hello",
        "send.template",
        "unknown template 'bye' (known: hi)",
        id="unknown template",
    ),
    pytest.param(
        "- {id: hello, send: {channel: pigeon, template: hi}}\n",
        "hello",
        "send.channel",
        "'email'",
        id="unknown channel",
    ),
    pytest.param(
        "- {id: hello, send: {channel: email, template: hi, priority: high}}\n",
        "hello",
        "send.priority",
        "Extra inputs are not permitted",
        id="unknown field",
    ),
    pytest.param(
        "- {id: end, wait: {for: 1d}}\n",
        "end",
        "id",
        "'end' is reserved",
        id="reserved id",
    ),
    pytest.param(
        "- {id: Hello, wait: {for: 1d}}\n",
        "Hello",
        "id",
        "should match pattern",
        id="id with capitals",
    ),
    pytest.param(
        "- id: route\n  branch:\n    - {else: end}\n    - {when: 'profile.vip', goto: end}\n",
        "route",
        "branch",
        "it must be the last case",
        id="else not last",
    ),
    pytest.param(
        "- id: route\n  branch:\n    - {when: 'profile.vip'}\n",
        "route",
        "branch.0",
        "needs `when` and `goto`",
        id="case without goto",
    ),
    pytest.param(
        "- {id: tag, update: {}}\n",
        "tag",
        "update",
        "update needs `set`",
        id="update with nothing to change",
    ),
]


@pytest.mark.parametrize(("steps", "step", "field", "message"), BAD_STEPS)
def test_a_bad_step_is_reported_with_its_file_step_and_field(
    tmp_path: Path, steps: str, step: str, field: str, message: str
) -> None:
    path = journey_file(tmp_path, steps)
    problem = only_problem(path)
    assert (problem.file, problem.step, problem.field) == (str(path), step, field)
    assert message in problem.message
    assert str(problem).startswith(f"{path}: step {step!r}: ")


def test_a_step_that_is_not_a_mapping_is_named_by_its_position(tmp_path: Path) -> None:
    problem = only_problem(journey_file(tmp_path, "- {id: ok, wait: {for: 1d}}\n- just text\n"))
    assert problem.step == "#2"


def test_a_template_that_does_not_parse_names_the_template_and_part(tmp_path: Path) -> None:
    head = HEAD.replace('text: "Hello"', 'text: "Hello {{ profile.first_name "')
    problem = only_problem(
        journey_file(tmp_path, "- {id: hello, send: {channel: email, template: hi}}\n", head)
    )
    assert problem.step is None
    assert problem.field == "templates.hi.text"
    assert "does not parse" in problem.message


def test_a_goal_match_that_does_not_parse_names_the_goal(tmp_path: Path) -> None:
    head = HEAD.replace(
        "templates:", "exit_when: [{event: order_completed, match: {order_id: '{{ x'}}]\ntemplates:"
    )
    problem = only_problem(journey_file(tmp_path, "- {id: pause, wait: {for: 1d}}\n", head))
    assert problem.field == "exit_when[0].match.order_id"


def test_cooldown_re_entry_without_a_duration_is_refused(tmp_path: Path) -> None:
    head = HEAD.replace("{event: signed_up}", "{event: signed_up, re_entry: cooldown}")
    problem = only_problem(journey_file(tmp_path, "- {id: pause, wait: {for: 1d}}\n", head))
    assert problem.field == "trigger"
    assert "needs a cooldown duration" in problem.message


def test_a_cooldown_without_cooldown_re_entry_is_refused(tmp_path: Path) -> None:
    head = HEAD.replace("{event: signed_up}", "{event: signed_up, cooldown: 30d}")
    problem = only_problem(journey_file(tmp_path, "- {id: pause, wait: {for: 1d}}\n", head))
    assert "only used with re_entry: cooldown" in problem.message


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = journey_file(
        tmp_path,
        """\
        - {id: hello, send: {channel: email, template: bye}}
        - {id: pause, wait: {for: 1d}}
        - {id: route, branch: [{when: "profile.x ==", goto: pause}]}
        """,
    )
    fields = {(p.step, p.field) for p in problems_of(path)}
    assert fields == {("hello", "send.template"), ("route", "branch[0].when")}


def test_a_wait_for_on_timeout_may_end_the_run(tmp_path: Path) -> None:
    path = journey_file(
        tmp_path,
        "- {id: clicked, wait_for: {event: clicked, timeout: 2d}, on_timeout: end}\n"
        "- {id: hello, send: {channel: email, template: hi}}\n",
    )
    assert [step.id for step in load_journey_file(path).steps] == ["clicked", "hello"]


def test_a_loop_that_passes_a_wait_is_allowed(tmp_path: Path) -> None:
    path = journey_file(
        tmp_path,
        """\
        - {id: hello, send: {channel: email, template: hi}}
        - {id: pause, wait: {for: 7d}}
        - {id: again, goto: hello}
        """,
    )
    assert len(load_journey_file(path).steps) == 3


def test_templates_are_rendered_at_load_for_every_locale(tmp_path: Path) -> None:
    path = journey_file(
        tmp_path,
        """
        - {id: hello, send: {channel: email, template: greet}}
        """,
        head=HEAD.replace(
            "templates:\n",
            "templates:\n"
            "  greet:\n"
            "    subject: 'Hello {{ profile.first_name }}'\n"
            "    text: 'Order {{ trigger.order_id }}'\n"
            "    locales:\n"
            "      zh-CN: {subject: '你好 {{ profile.frist_name }}', text: 'x'}\n"
            "  escape: {text: '{{ ().__class__.__mro__[1].__subclasses__() }}'}\n",
        ),
    )
    with pytest.raises(JourneyError) as caught:
        load_journey_file(path)
    problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith(f"{path}: templates.greet: does not render") and "'order_id'" in p
        for p in problems
    ), problems
    assert any(
        "templates.greet.locales.zh-CN: does not render for a sample customer (zh-CN locale)" in p
        and "frist_name" in p
        for p in problems
    ), problems
    assert any(p.startswith(f"{path}: templates.escape: does not render") for p in problems)
