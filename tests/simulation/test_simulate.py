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
from domain.simulation import Behaviour, Model, cohort
from entrypoints.cli import app
from store.store import Store
from workers.settings import get_settings
from workers.simulation_shards import simulate_in_processes
from workers.simulator import SimulationResult, simulate

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


WIN_BACK = load_journey_file(Path(__file__).resolve().parents[2] / "journeys" / "win_back.yaml")
# Orders often enough that runs leave at every stage; forty days see every run to its end.
BUSY = Behaviour(order_per_day=0.03, seed=11)


def _comparable(result: SimulationResult) -> tuple[object, ...]:
    return (
        result.customers,
        result.runs,
        result.goals,
        result.converted,
        result.steps,
        result.messages,
        result.actions,
        result.deferrals,
        {kind: sorted(scores) for kind, scores in result.scores.items()},
    )


def test_a_cohort_split_over_processes_gives_what_one_process_gives() -> None:
    days: list[int] = []
    customers = cohort(24, seed=1)
    split = simulate_in_processes(WIN_BACK, customers, 40, BUSY, 2, on_day=days.append)
    assert days == list(range(1, 41))  # the progress of the slowest slice, day by day
    alone = asyncio.run(simulate(WIN_BACK, customers, 40, BUSY))
    assert 0 < split.runs["exited"] < 24  # some customers ordered, some did not
    assert _comparable(split) == _comparable(alone)


def test_the_same_seed_prints_the_same_result_and_another_seed_does_not() -> None:
    def printed(seed: int) -> list[str]:
        out = CliRunner().invoke(
            app,
            [
                *("simulate", "journeys/win_back.yaml", "--customers", "30", "--days", "40"),
                *("--order-rate", "0.03", "--seed", str(seed), "--processes", "1"),
            ],
        )
        assert out.exit_code == 0, out.output
        # All but the timings: the progress bar's elapsed time and the run's seconds.
        return [
            line
            for line in out.output.splitlines()
            if "simulated in" not in line and not line.startswith("simulated days")
        ]

    first = printed(5)
    assert any("won_back" in line for line in first)
    assert printed(5) == first
    assert printed(6) != first


def test_the_funnel_adds_up_with_the_runs() -> None:
    result = asyncio.run(simulate(WIN_BACK, cohort(30, seed=2), 40, BUSY))
    runs = result.runs
    assert runs["completed"] + runs["exited"] + runs["running"] + runs["failed"] == 30
    assert runs["exited"] > 0 and runs["completed"] > 0
    # Every run that reached the end step is counted completed; every goal is one exit.
    assert result.steps["done"]["completed"] == runs["completed"]
    assert sum(counts["exited"] for counts in result.steps.values()) == runs["exited"]
    assert sum(result.goals.values()) == runs["exited"] == result.converted
    assert result.actions["orders"] == runs["exited"]  # win_back ends at the first order
    # A step's entrants left it one way or another, or are still parked in it.
    parked = 0
    for counts in result.steps.values():
        left = sum(counts[s] for s in ("completed", "skipped", "exited", "failed"))
        assert left <= counts["entered"]
        parked += counts["entered"] - left
    assert parked == runs["running"]
    sends = ("we_miss_you", "better_offer", "vip_offer", "final_offer")
    sent = sum(n for (_, _, status), n in result.messages.items() if status == "sent")
    assert sent == sum(result.steps[step]["completed"] for step in sends if step in result.steps)


def test_the_behaviour_model_decides_by_seed_customer_and_day_alone() -> None:
    model = Model(Behaviour(open_per_message=0.5, order_per_day=0.5, seed=3))
    draws = [model.day(f"c{i}", day, 2, 1) for i in range(20) for day in range(5)]
    again = Model(Behaviour(open_per_message=0.5, order_per_day=0.5, seed=3))
    # Asked in another order, the same answers.
    reversed_draws = [
        again.day(f"c{i}", day, 2, 1) for i in reversed(range(20)) for day in reversed(range(5))
    ]
    assert draws == list(reversed(reversed_draws))
    assert 20 < sum(d.ordered for d in draws) < 80  # about half of the 100 customer-days
    other = Model(Behaviour(open_per_message=0.5, order_per_day=0.5, seed=4))
    assert draws != [other.day(f"c{i}", day, 2, 1) for i in range(20) for day in range(5)]
    scores = {model.score(f"c{i}", 0, "nps") for i in range(200)}
    assert scores <= set(range(11)) and len(scores) > 5
    assert {model.score(f"c{i}", 0, "csat") for i in range(200)} <= {1, 2, 3, 4, 5}
