"""A start step in the journey diagram: its kind in words and the journey it starts, in both
languages."""

from __future__ import annotations

import pytest

from domain.loader import parse_journey
from entrypoints.console.diagram import journey_diagram
from entrypoints.console.i18n import translations
from tests.console.test_diagram import edge_map, nodes, parse, text_of

WELCOME = {
    "id": "welcome",
    "name": "Welcome",
    "trigger": {"event": "signed_up"},
    "steps": [
        {"id": "hand_over", "start": {"journey": "nurture", "properties": {"source": "welcome"}}},
        {"id": "done", "end": "handed over"},
    ],
}


@pytest.mark.parametrize(
    ("locale", "kind", "detail"),
    [("en", "Start journey", "starts nurture"), ("zh-CN", "启动旅程", "启动 nurture")],
)
def test_a_start_step_is_drawn_as_a_start_naming_the_journey_it_starts(
    locale: str, kind: str, detail: str
) -> None:
    gettext = translations(locale).gettext
    root = parse(journey_diagram(parse_journey(WELCOME), gettext=gettext))
    node = nodes(root)["hand_over"]
    assert node.get("data-kind") == "start"
    words = text_of(node)
    assert words.startswith(kind), words
    assert detail in words
    assert edge_map(root)[("hand_over", "done")].get("data-kind") == "next"
