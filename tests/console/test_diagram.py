"""The journey diagram as a user sees it: a node per step, an edge per move the engine makes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from domain.checks import successors
from domain.journey import END, JourneyDefinition
from domain.loader import parse_journey
from entrypoints.console.diagram import journey_diagram
from tests.workflows.support import JOURNEYS_DIR, built_in

SVG = "{http://www.w3.org/2000/svg}"
BUILT_INS = sorted(path.stem for path in JOURNEYS_DIR.glob("*.yaml"))


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-step", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def edges(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]


def edge_map(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(g.get("data-from", ""), g.get("data-to", "")): g for g in edges(root)}


def text_of(element: ET.Element) -> str:
    """What the element shows: its texts' own words, not the tooltips in their <title>s."""
    words = []
    for text in element.iter(f"{SVG}text"):
        words.append((text.text or "") + "".join(child.tail or "" for child in text))
    return " | ".join(words)


def label(element: ET.Element) -> str:
    return text_of(element)


def rect(element: ET.Element) -> tuple[float, float, float, float]:
    box = element.find(f"{SVG}rect")
    assert box is not None
    x, y = float(box.get("x", 0)), float(box.get("y", 0))
    return x, y, x + float(box.get("width", 0)), y + float(box.get("height", 0))


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("journey_id", BUILT_INS)
def test_a_node_per_step_and_an_edge_per_move_the_engine_can_make(journey_id: str) -> None:
    journey = built_in(journey_id)
    root = parse(journey_diagram(journey))
    assert list(nodes(root)) == [step.id for step in journey.steps]
    expected = {
        (step.id, target)
        for index, step in enumerate(journey.steps)
        for target in successors(journey, index)
    }
    drawn = [(g.get("data-from"), g.get("data-to")) for g in edges(root)]
    assert len(drawn) == len(set(drawn)), "one edge per step and target"
    assert set(drawn) == expected
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and journey.name in (title.text or "")
    assert title.get("id") in (root.get("aria-labelledby") or "").split()
    assert root.get("width") == "100%"
    assert "<script" not in str(journey_diagram(journey))


@pytest.mark.parametrize("journey_id", BUILT_INS)
def test_nodes_and_labels_do_not_overlap_and_fit_in_the_view(journey_id: str) -> None:
    assert_apart(parse(journey_diagram(built_in(journey_id), {"x": 1})))


def assert_apart(root: ET.Element) -> None:
    boxes = [rect(g) for g in nodes(root).values()]
    boxes += [rect(g) for g in edges(root) if g.find(f"{SVG}rect") is not None]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlaps(a, b), (a, b)
    left, top, width, height = (float(v) for v in (root.get("viewBox") or "").split())
    for box in boxes:
        assert left <= box[0] and box[2] <= left + width
        assert top <= box[1] and box[3] <= top + height
    for path in root.iter(f"{SVG}path"):  # edges too: none runs out of the picture
        for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", path.get("d", "")):
            assert left <= float(x) <= left + width and top <= float(y) <= top + height


def test_win_back_draws_its_branch_outcome_and_timeouts() -> None:
    root = parse(journey_diagram(built_in("win_back")))
    drawn = edge_map(root)
    high = drawn[("by_tier", "vip_offer")]
    assert high.get("data-kind") == "branch"
    assert label(high).startswith("profile.metrics.tier == 'high'")
    assert "…" in label(high)  # shortened; the full condition is its tooltip
    assert "profile.value_tier == 'high'" in "".join(high.itertext())
    assert drawn[("by_tier", "final_offer")].get("data-kind") == "else"
    assert label(drawn[("by_tier", "final_offer")]) == "else"
    assert drawn[("call_vip", "done")].get("data-kind") == "outcome"
    assert label(drawn[("call_vip", "done")]) == "do not contact"
    # No on_timeout: the timeout and the other outcomes both go on to the next step.
    assert label(drawn[("call_vip", "after_vip_offer")]) == "other outcomes / timeout"
    assert drawn[("after_vip_offer", "wait_for_order")].get("data-kind") == "goto"
    assert ("done", END) not in drawn
    shown = nodes(root)
    assert "Branch" in text_of(shown["by_tier"])
    assert "Wait" in text_of(shown["wait_second_offer"])
    assert "7d, then until 10:00" in text_of(shown["wait_second_offer"])
    assert "Callback" in text_of(shown["call_vip"])
    assert "no order after three offers" in text_of(shown["done"])


def test_post_purchase_timeouts_and_the_end_target() -> None:
    root = parse(journey_diagram(built_in("post_purchase")))
    drawn = edge_map(root)
    assert drawn[("delivered", "late_delivery")].get("data-kind") == "timeout"
    assert label(drawn[("delivered", "late_delivery")]) == "timeout"
    assert label(drawn[("delivered", "ask_csat")]) == "received"
    assert drawn[("ask_csat", "settle")].get("data-kind") == "timeout"
    assert drawn[("delivered_late", END)].get("data-kind") == "timeout"
    assert drawn[("survey_after_late_delivery", "ask_csat")].get("data-kind") == "goto"
    terminals = [g for g in root.iter(f"{SVG}g") if g.get("class") == "terminal"]
    assert len(terminals) == 1 and "End" in text_of(terminals[0])


def test_counts_appear_on_their_nodes() -> None:
    journey = built_in("onboarding")
    counts = {step.id: 1000 + i for i, step in enumerate(journey.steps)}
    counts.pop("done")
    shown = nodes(parse(journey_diagram(journey, counts)))
    assert "1,000 runs" in text_of(shown["welcome"])
    assert "1,003 runs" in text_of(shown[journey.steps[3].id])
    assert "0 runs" in text_of(shown["done"])
    plain = nodes(parse(journey_diagram(journey)))
    assert "runs" not in text_of(plain["welcome"])


def custom(steps: list[dict[str, object]]) -> JourneyDefinition:
    return parse_journey(
        {
            "id": "custom",
            "name": 'Custom <script>alert("x")</script>',
            "trigger": {"event": "signed_up"},
            "templates": {"hi": {"subject": "Hi", "text": "Hi"}},
            "steps": steps,
        }
    )


def test_every_step_kind_is_drawn_with_its_moves() -> None:
    journey = custom(
        [
            {"id": "control", "holdout": {"percent": 10}},
            {
                "id": "ab",
                "split": [
                    {"name": "A", "weight": 3, "goto": "mail"},
                    {"name": "B", "weight": 1, "goto": "text"},
                ],
            },
            {"id": "mail", "send": {"channel": "email", "template": "hi", "on_failure": "end"}},
            {"id": "to_wait", "goto": "wait_a_day"},
            {"id": "text", "send": {"channel": "sms", "template": "hi", "on_failure": "hook"}},
            {"id": "hook", "send": {"channel": "webhook", "template": "hi"}},
            {"id": "wait_a_day", "wait": {"for": "1d"}},
            {"id": "clicked", "wait_for": {"event": "link_clicked", "timeout": "2d"}},
            {"id": "tag", "update": {"add_tags": ["engaged"]}},
            {"id": "check", "branch": [{"when": "profile.plan == 'pro'", "goto": "ask"}]},
            {
                "id": "call",
                "callback": {"queue": "sales", "reason": "Call", "due_in": "1d", "timeout": "3d"},
                "on_outcome": {"reached": "ask", "no_answer": "call"},
                "on_timeout": "finish",
            },
            {
                "id": "ask",
                "survey": {"kind": "nps", "template": "hi", "timeout": "7d"},
                "on_timeout": "finish",
            },
            {"id": "finish", "end": "done"},
        ]
    )
    root = parse(journey_diagram(journey, {"call": 12}))
    assert_apart(root)
    drawn = edge_map(root)
    kinds = {key: g.get("data-kind") for key, g in drawn.items()}
    assert kinds[("control", "ab")] == "holdout"
    assert kinds[("ab", "mail")] == kinds[("ab", "text")] == "split"
    assert label(drawn[("ab", "mail")]) == "A 75%"
    assert label(drawn[("ab", "text")]) == "B 25%"
    assert kinds[("mail", END)] == "failure"
    assert label(drawn[("mail", "to_wait")]) == "sent"
    assert kinds[("text", "hook")] == "next"  # its failure target is the next step anyway
    assert label(drawn[("text", "hook")]) == "sent / fails"
    assert kinds[("to_wait", "wait_a_day")] == "goto"
    assert label(drawn[("clicked", "tag")]) == "received / timeout"
    assert kinds[("check", "ask")] == "branch"
    assert (kinds[("check", "call")], label(drawn[("check", "call")])) == ("else", "no case holds")
    assert kinds[("call", "call")] == "outcome"  # a loop onto itself
    assert label(drawn[("call", "ask")]) == "reached / other outcomes"  # ask follows call
    assert kinds[("call", "finish")] == "timeout"
    assert label(drawn[("ask", "finish")]) == "answered / timeout"
    words = {step_id: text_of(node) for step_id, node in nodes(root).items()}
    expected = {
        "control": "Holdout",
        "ab": "Split",
        "mail": "Send email",
        "to_wait": "Go to",
        "text": "Send SMS",
        "hook": "Send webhook",
        "wait_a_day": "Wait",
        "clicked": "Wait for event",
        "tag": "Update profile",
        "check": "Branch",
        "call": "Callback",
        "ask": "Survey",
        "finish": "End",
    }
    for step_id, kind in expected.items():
        assert words[step_id].startswith(kind), words[step_id]
    assert nodes(root)["clicked"].get("data-kind") == "wait_for"
    assert "link_clicked" in words["clicked"] and "2d" in words["clicked"]
    assert "10% get no messages" in words["control"]


def test_step_names_and_conditions_are_text_not_markup() -> None:
    payload = '<script>alert("x")</script>'
    journey = custom(
        [
            {
                "id": "first",
                "name": payload,
                "branch": [
                    {"when": "profile.name == '\"><script>alert(1)</script>'", "goto": "last"},
                ],
            },
            {"id": "last", "end": "\"'<b>"},
        ]
    )
    markup = str(journey_diagram(journey))
    assert "<script" not in markup and "<b>" not in markup
    root = parse(markup)
    first = nodes(root)["first"]
    assert payload in text_of(first) or "<script>" in text_of(first)
    assert "<script>" in label(edge_map(root)[("first", "last")])
    title = root.find(f"{SVG}title")
    assert title is not None and payload in (title.text or "")
    assert "\"'<b>" in text_of(nodes(root)["last"])


def test_words_go_through_gettext() -> None:
    def mark(text: str) -> str:
        return f"«{text}»"

    root = parse(journey_diagram(built_in("post_purchase"), {"thanks": 3}, gettext=mark))
    assert label(edge_map(root)[("delivered", "late_delivery")]) == "«timeout»"
    assert text_of(nodes(root)["thanks"]).startswith("«Send email»")
    assert "«3 runs»" in text_of(nodes(root)["thanks"])


def test_the_journey_files_are_all_covered() -> None:
    assert len(BUILT_INS) >= 9
    assert all(Path(JOURNEYS_DIR / f"{j}.yaml").exists() for j in ("win_back", "post_purchase"))
