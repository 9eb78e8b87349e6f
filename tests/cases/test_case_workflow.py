"""Complaint cases on the time-skipping server: SLA breaches escalate, validators refuse bad
transitions, a resolved case closes, and marketing waits while a case is open."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.cases import CaseRefused, CaseService
from domain.cases import Assign, OpenCase, Reopen, Resolve, Respond
from domain.loader import load_journey_text
from store.errors import UnknownCustomer
from tests.cases.conftest import Desk, complaint


async def test_an_unanswered_case_is_acknowledged_then_escalated(desk: Desk) -> None:
    state = await desk.cases.open(complaint("urgent"), "req-1")
    again = await desk.cases.open(complaint("urgent"), "req-1")  # a retried request
    assert again.case_id == state.case_id
    await desk.env.sleep(timedelta(minutes=5))
    [ack] = desk.channel.to("ada@example.com")
    assert ack.subject == f"We have your message: case {state.case_id}"
    assert "within 1h" in ack.text
    await desk.env.sleep(timedelta(hours=1))
    escalated = await desk.cases.state(state.case_id)
    assert escalated.queue == "supervisors" and escalated.escalations == ["first response"]
    assert [e.action for e in escalated.history] == ["opened", "acknowledged", "escalated"]
    assert desk.events("ada")[:1] == ["case_opened"] and "case_escalated" in desk.events("ada")
    stored = desk.store.cases.get(state.case_id)
    assert stored is not None and stored.queue == "supervisors"
    assert [c.case_id for c in desk.store.cases.list(queue="supervisors")] == [state.case_id]


async def test_updates_that_the_state_does_not_allow_are_refused_and_leave_no_trace(
    desk: Desk,
) -> None:
    state = await desk.cases.open(complaint("high"))
    case_id = state.case_id
    with pytest.raises(CaseRefused, match="only a resolved case reopens"):
        await desk.cases.change(case_id, "reopen", Reopen(reason="again", by="lin"))
    answered = await desk.cases.change(case_id, "respond", Respond(text="Sorry!", by="lin"))
    assert answered.first_response_at is not None and answered.assignee == "lin"
    resolved = await desk.cases.change(
        case_id, "resolve", Resolve(resolution="Replacement sent", by="lin")
    )
    assert resolved.status == "resolved"
    history = len(resolved.history)
    with pytest.raises(CaseRefused, match="is resolved; reopen it first"):
        await desk.cases.change(case_id, "resolve", Resolve(resolution="twice", by="lin"))
    with pytest.raises(CaseRefused, match="is resolved"):
        await desk.cases.change(case_id, "respond", Respond(text="hello?", by="lin"))
    unchanged = await desk.cases.state(case_id)
    assert len(unchanged.history) == history and unchanged.resolution == "Replacement sent"
    reopened = await desk.cases.change(case_id, "reopen", Reopen(reason="Broken too", by="lin"))
    assert reopened.status == "open"
    # The reopened case's resolution SLA (24 h for high) passes: escalation.
    await desk.env.sleep(timedelta(hours=25))
    late = await desk.cases.state(case_id)
    assert late.escalations == ["resolution"] and late.queue == "supervisors"
    assert desk.events("ada").count("case_reopened") == 1


async def test_a_resolved_case_closes_after_a_week_and_then_refuses_changes(desk: Desk) -> None:
    state = await desk.cases.open(complaint("low"))
    await desk.cases.change(state.case_id, "respond", Respond(text="On it", by="lin"))
    await desk.cases.change(state.case_id, "resolve", Resolve(resolution="Refunded", by="lin"))
    await desk.env.sleep(timedelta(days=8))
    closed = await desk.cases.state(state.case_id)
    assert closed.status == "closed" and closed.closed_at is not None
    assert desk.events("ada")[-1] == "case_closed"
    logged = desk.events("ada")
    for update, payload in (
        ("reopen", Reopen(reason="again", by="lin")),
        ("resolve", Resolve(resolution="Refunded twice", by="lin")),
        ("respond", Respond(text="Anything else?", by="lin")),
    ):
        with pytest.raises(CaseRefused, match=f"case {state.case_id} is closed; open a new case"):
            await desk.cases.change(state.case_id, update, payload)
    assert desk.events("ada") == logged
    after = await desk.cases.state(state.case_id)
    assert after == closed and desk.store.cases.get(state.case_id) == closed


async def test_a_case_never_resolved_escalates_to_supervisors_when_its_resolution_sla_passes(
    desk: Desk,
) -> None:
    state = await desk.cases.open(complaint("high"))
    await desk.env.sleep(timedelta(hours=1))
    await desk.cases.change(state.case_id, "respond", Respond(text="Looking", by="lin"))
    await desk.env.sleep(timedelta(hours=22))
    waiting = await desk.cases.state(state.case_id)
    assert waiting.escalations == [] and waiting.queue == "support"  # 23 h of 24
    await desk.env.sleep(timedelta(hours=2))
    late = await desk.cases.state(state.case_id)
    assert late.status == "open" and late.escalations == ["resolution"]
    assert late.queue == "supervisors" and late.history[-1].action == "escalated"
    assert late.history[-1].text == "resolution SLA breached; moved to supervisors"
    assert desk.events("ada").count("case_escalated") == 1
    stored = desk.store.cases.get(state.case_id)
    assert stored is not None and stored.queue == "supervisors"
    await desk.env.sleep(timedelta(days=3))
    assert (await desk.cases.state(state.case_id)).escalations == ["resolution"]  # once


async def test_a_case_for_an_unknown_customer_is_refused_and_nothing_starts(desk: Desk) -> None:
    with pytest.raises(UnknownCustomer):
        await desk.cases.open(OpenCase(customer_id="ghost", category="billing", summary="?"))
    assert desk.store.cases.list() == []


PROMO = """
id: promo
name: Promo
category: marketing
trigger: {event: promo_started}
after_case: AFTER
quiet_hours: []
templates:
  offer: {subject: "20% off", text: "Sale"}
steps:
  - {id: offer, send: {channel: email, template: offer}}
"""


@pytest.mark.parametrize(("after", "expected"), [("resume", ["20% off"]), ("skip", [])])
async def test_marketing_waits_while_a_case_is_open_then_resumes_or_skips(
    desk: Desk, after: str, expected: list[str]
) -> None:
    desk.service.publish_definition(load_journey_text(PROMO.replace("AFTER", after)))
    state = await desk.cases.open(complaint("normal"))
    await desk.env.sleep(timedelta(minutes=1))
    delivery = await desk.service.enroll("promo", "ada")
    await desk.env.sleep(timedelta(hours=2))
    offers = [m.subject for m in desk.channel.to("ada@example.com") if m.subject == "20% off"]
    assert offers == []  # held
    [held] = desk.store.ledger.decisions(customer_id="ada", decision="deferred")
    assert held.reason == f"open case {state.case_id}"
    await desk.cases.change(state.case_id, "resolve", Resolve(resolution="Fixed", by="lin"))
    await desk.env.sleep(timedelta(minutes=5))
    offers = [m.subject for m in desk.channel.to("ada@example.com") if m.subject == "20% off"]
    assert offers == expected
    [run] = [r for r in desk.store.runs.for_customer("ada") if r.journey_id == "promo"]
    assert run.status == "completed" and delivery.workflow_id == run.workflow_id


async def test_new_cases_are_assigned_at_once_over_the_support_roster(desk: Desk) -> None:
    roster = ["lin", "mo", "kai"]
    cases = CaseService(desk.service, roster=roster)
    opened = [await cases.open(complaint("normal"), f"roster-{n}") for n in range(9)]
    await desk.env.sleep(timedelta(minutes=1))
    assignees = []
    for state in opened:
        live = await cases.state(state.case_id)
        assert live.assignee in roster and live.queue == "support"
        assert [(e.action, e.text) for e in live.history[:2]] == [
            ("opened", "Parcel arrived broken"),
            ("assigned", "automatically, from the support roster"),
        ]
        stored = desk.store.cases.get(state.case_id)
        assert stored is not None and stored.assignee == live.assignee
        assignees.append(live.assignee)
    assert len(set(assignees)) > 1, "spread over the roster, not all to one agent"
    again = await cases.open(complaint("normal"), "roster-0")  # a retried request
    assert again.assignee == assignees[0]
    # Support can still hand a case to someone else.
    moved = await cases.change(opened[0].case_id, "assign", Assign(agent="sam"))
    assert moved.assignee == "sam"


async def test_without_a_roster_a_new_case_waits_unassigned_in_the_support_queue(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNEYS_SUPPORT_ROSTER", raising=False)
    state = await CaseService(desk.service).open(complaint("normal"))
    await desk.env.sleep(timedelta(minutes=1))
    live = await desk.cases.state(state.case_id)
    assert live.assignee is None and live.queue == "support"
    assert "assigned" not in [e.action for e in live.history]


def test_the_support_roster_comes_from_the_environment(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNEYS_SUPPORT_ROSTER", " lin, mo ,,kai")
    assert CaseService(desk.service).roster == ["lin", "mo", "kai"]
