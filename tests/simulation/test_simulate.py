"""Simulation: the real journey on the time-skipping server with a modelled cohort."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.customers import CustomerUpsert
from domain.loader import load_journey_file, load_journey_text
from domain.send_policy import parse_policy
from domain.simulation import Behaviour, cohort
from entrypoints.cli import app
from store.store import Store
from workers.settings import get_settings
from workers.simulation_shards import simulate_in_processes
from workers.simulator import simulate

NURTURE = load_journey_file(Path(__file__).resolve().parents[2] / "journeys" / "nurture.yaml")
RECOVERY = load_journey_file(
    Path(__file__).resolve().parents[2] / "journeys" / "complaint_recovery.yaml"
)
NURTURE_SENDS = ["intro", "best_sellers", "reviews", "first_order_discount", "last_reminder"]


async def test_customers_who_never_order_get_every_nurture_message() -> None:
    result = await simulate(NURTURE, cohort(8, seed=1), 30, Behaviour(order_per_day=0))
    assert result.runs == {"completed": 8}
    assert all(result.steps[step]["completed"] == 8 for step in NURTURE_SENDS)
    assert sum(n for (_, channel, status), n in result.messages.items() if status == "sent") == 40
    assert result.converted == 0


async def test_customers_who_order_on_day_one_leave_with_the_goal() -> None:
    result = await simulate(NURTURE, cohort(6, seed=2), 10, Behaviour(order_per_day=1))
    assert result.runs == {"exited": 6}
    assert result.goals == {"first_order": 6} and result.converted == 6
    sent_after_day_one = sum(n for (day, _, _), n in result.messages.items() if day >= 1)
    assert sent_after_day_one == 0


async def test_a_customer_without_an_email_address_is_skipped_not_failed() -> None:
    customers = cohort(3, seed=3)
    customers[0] = customers[0].model_copy(update={"email": None})
    result = await simulate(NURTURE, customers, 1, Behaviour(order_per_day=0))
    assert result.messages[(0, "email", "skipped")] == 1
    assert result.messages[(0, "email", "sent")] == 2


def test_the_cli_prints_funnel_and_daily_volume() -> None:
    out = CliRunner().invoke(
        app, ["simulate", "journeys/nurture.yaml", "--customers", "5", "--days", "3"]
    )
    assert out.exit_code == 0, out.output
    assert "5 customers over 3 days" in out.output and "Messages per day" in out.output
    bad = CliRunner().invoke(app, ["simulate", "journeys/nope.yaml"])
    assert bad.exit_code == 1 and "cannot read" in bad.output


def test_the_cohort_can_come_from_a_segment_in_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", f"sqlite:///{tmp_path}/sim.db")
    get_settings.cache_clear()
    segments = tmp_path / "segments.yaml"
    segments.write_text(
        "segments:\n  - name: gold\n    where: {field: attributes.plan, eq: gold}\n"
    )
    store = Store.open(f"sqlite:///{tmp_path}/sim.db")
    now = datetime.now(UTC)
    for i, plan in enumerate(["gold", "gold", "silver", "gold"]):
        store.customers.upsert(
            CustomerUpsert(
                customer_id=f"c{i}",
                email=f"c{i}@example.com" if i != 3 else None,
                attributes={"plan": plan},
            ),
            now,
        )
    store.close()
    try:
        out = CliRunner().invoke(
            app,
            [
                *("simulate", "journeys/nurture.yaml", "--days", "1", "--order-rate", "0"),
                *("--segment", "gold", "--file", str(segments)),
            ],
        )
        unknown = CliRunner().invoke(
            app,
            ["simulate", "journeys/nurture.yaml", "--segment", "platinum", "--file", str(segments)],
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    # Three gold members; the one without an email address is skipped, not sent to.
    assert "3 customers over 1 days" in out.output
    rows = [" ".join(line.replace("│", " ").split()) for line in out.output.splitlines()]
    assert "0 email sent 2" in rows and "0 email skipped 1" in rows
    assert unknown.exit_code == 1 and "unknown segment 'platinum'" in unknown.output


TWO_NOTES = load_journey_text(
    """
id: two_notes
name: Two notes
trigger: {event: signed_up}
templates:
  a: {subject: "A", text: "first"}
  b: {subject: "B", text: "second"}
steps:
  - {id: first, send: {channel: email, template: a}}
  - {id: second, send: {channel: email, template: b}}
"""
)


async def test_the_send_policy_defers_in_the_simulation_and_counts_why() -> None:
    one_a_day = parse_policy({"caps": [{"name": "daily", "max": 1, "per": "24h"}]})
    result = await simulate(
        TWO_NOTES, cohort(4, seed=4), 3, Behaviour(order_per_day=0), policy=one_a_day
    )
    assert result.runs == {"completed": 4}
    assert result.deferrals == {(0, "email", "cap"): 4}
    sent_by_day = {day: n for (day, _, status), n in result.messages.items() if status == "sent"}
    assert sent_by_day == {0: 4, 1: 4}  # the second note a day after the first
    quiet = parse_policy({"quiet_hours": [{"start": "00:00", "end": "23:59"}]})
    held = await simulate(TWO_NOTES, cohort(3, seed=5), 2, Behaviour(order_per_day=0), policy=quiet)
    assert sum(n for (_, _, why), n in held.deferrals.items() if why == "quiet_hours") >= 3
    assert held.runs == {"completed": 3}


async def test_simulated_customers_answer_surveys_and_agents_take_callbacks() -> None:
    customers = cohort(30, seed=9)
    result = await simulate(
        RECOVERY,
        customers,
        30,
        Behaviour(order_per_day=0, answer_per_survey=1, reach_per_callback=1, seed=3),
    )
    # Every customer is asked for CSAT and answers; the unhappy ones get a call.
    assert len(result.scores["csat"]) == 30
    unhappy = sum(score <= 2 for score in result.scores["csat"])
    assert result.steps["manager_callback"]["entered"] == unhappy
    assert result.actions["calls"] == unhappy


def test_a_cohort_split_over_processes_adds_up() -> None:
    days: list[int] = []
    result = simulate_in_processes(
        NURTURE, cohort(6, seed=1), 3, Behaviour(order_per_day=0), 2, on_day=days.append
    )
    assert result.customers == 6 and result.runs == {"running": 6}
    assert days == [1, 2, 3]  # the progress of the slowest slice, day by day
    # Nobody orders, so the path is the journey's alone: the same as in one process.
    alone = asyncio.run(simulate(NURTURE, cohort(6, seed=1), 3, Behaviour(order_per_day=0)))
    assert result.messages == alone.messages and result.steps == alone.steps
    assert result.steps["intro"]["completed"] == 6
