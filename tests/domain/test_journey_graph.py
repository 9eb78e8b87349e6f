"""Start steps across journeys: a start names a journey that exists, and journeys that start
each other must pass a wait somewhere on the way round."""

from __future__ import annotations

from textwrap import dedent, indent

import pytest

from domain.journey import JourneyDefinition
from domain.journey_graph import start_problems, starts_without_wait
from domain.loader import load_journey_text
from domain.problems import JourneyError, Problem


def journey(journey_id: str, steps: str) -> JourneyDefinition:
    text = f"id: {journey_id}\nname: {journey_id}\ntrigger: {{event: {journey_id}_due}}\n"
    return load_journey_text(text + "steps:\n" + indent(dedent(steps), "  "))


def start(step_id: str, target: str) -> str:
    return f"- {{id: {step_id}, start: {{journey: {target}}}}}\n"


WAIT = "- {id: pause, wait: {for: 1d}}\n"


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def test_a_start_of_a_published_journey_or_one_published_with_it_is_fine() -> None:
    a = journey("a", start("to_b", "b") + start("to_c", "c"))
    c = journey("c", WAIT)
    assert start_problems([("a.yaml", a), ("c.yaml", c)], {"b": None}) == []


def test_a_start_of_a_journey_that_does_not_exist_names_file_step_and_field() -> None:
    a = journey("a", WAIT + start("to_nowhere", "nowhere"))
    [problem] = start_problems([("journeys/a.yaml", a)], {"b": None})
    assert problem.file == "journeys/a.yaml"
    assert problem.step == "to_nowhere"
    assert problem.field == "start.journey"
    assert str(problem) == (
        "journeys/a.yaml: step 'to_nowhere': start.journey: "
        "starts unknown journey 'nowhere' (known: a, b)"
    )


def test_two_journeys_starting_each_other_with_no_wait_are_refused_naming_the_cycle() -> None:
    a = journey("a", start("to_b", "b"))
    b = journey("b", start("back", "a"))
    problems = start_problems([("a.yaml", a), ("b.yaml", b)], {})
    assert messages(problems) == [
        "a.yaml: step 'to_b': start.journey: journeys start each other with no wait between: "
        "a -> b -> a (add a wait before one of these start steps)",
        "b.yaml: step 'back': start.journey: journeys start each other with no wait between: "
        "b -> a -> b (add a wait before one of these start steps)",
    ]


def test_a_journey_starting_itself_with_no_wait_is_refused() -> None:
    a = journey("a", "- {id: tag, update: {add_tags: [x]}}\n" + start("again", "a"))
    [problem] = start_problems([("a.yaml", a)], {})
    assert problem.step == "again"
    assert "a -> a" in problem.message


def test_a_cycle_through_a_published_journey_is_refused_for_the_one_being_published() -> None:
    published = {"b": journey("b", start("to_c", "c")), "c": journey("c", start("to_a", "a"))}
    a = journey("a", start("to_b", "b"))
    [problem] = start_problems([("a.yaml", a)], published)
    assert "a -> b -> c -> a" in problem.message


@pytest.mark.parametrize(
    "hold",
    [
        WAIT,
        "- {id: reply, wait_for: {event: replied, timeout: 1d}}\n",
        "- {id: call, callback: {queue: support, reason: check in, due_in: 1d, timeout: 2d}}\n",
        "- {id: ask, survey: {kind: nps, channel: email, template: nps, timeout: 3d}}\n",
    ],
)
def test_any_wait_on_every_path_before_the_start_breaks_the_cycle(hold: str) -> None:
    head = "templates: {nps: {subject: s, text: t}}\n"
    text = f"id: a\nname: a\ntrigger: {{event: a_due}}\n{head}steps:\n"
    a = load_journey_text(text + indent(hold + start("again", "a"), "  "))
    assert start_problems([("a.yaml", a)], {}) == []


def test_a_path_around_the_wait_still_counts_as_no_wait() -> None:
    a = journey(
        "a",
        """\
        - id: route
          branch:
            - {when: "profile.vip", goto: again}
            - {else: pause}
        - {id: pause, wait: {for: 1d}}
        - {id: again, start: {journey: a}}
        """,
    )
    assert [step.id for step in starts_without_wait(a)] == ["again"]
    [problem] = start_problems([("a.yaml", a)], {})
    assert problem.step == "again"


def test_a_cycle_through_a_start_after_a_wait_elsewhere_is_fine() -> None:
    a = journey("a", start("to_b", "b"))
    b = journey("b", WAIT + start("back", "a"))
    assert start_problems([("a.yaml", a), ("b.yaml", b)], {}) == []


def test_a_published_journey_that_no_longer_loads_is_a_known_target_that_starts_nothing() -> None:
    a = journey("a", start("to_b", "b"))
    assert start_problems([("a.yaml", a)], {"b": None}) == []


def test_start_properties_that_do_not_parse_are_a_problem_of_the_file() -> None:
    with pytest.raises(JourneyError) as caught:
        journey("a", "- {id: to_b, start: {journey: b, properties: {order: '{{ trigger.'}}}\n")
    [problem] = caught.value.problems
    assert problem.step == "to_b"
    assert problem.field == "start.properties.order"
    assert "does not parse" in problem.message


def test_a_start_of_a_journey_keyed_by_a_property_must_give_that_property() -> None:
    text = "id: orders\nname: orders\ntrigger: {event: order_completed, correlate_on: order_id}\n"
    orders = load_journey_text(text + "steps:\n  - {id: pause, wait: {for: 1d}}\n")
    bare = journey("a", start("to_orders", "orders"))
    [problem] = start_problems([("a.yaml", bare)], {"orders": orders})
    assert (problem.step, problem.field) == ("to_orders", "start.properties")
    assert "correlates on 'order_id'" in problem.message
    keyed = journey(
        "a", "- {id: to_orders, start: {journey: orders, properties: {order_id: o-1}}}\n"
    )
    assert start_problems([("a.yaml", keyed)], {"orders": orders}) == []
