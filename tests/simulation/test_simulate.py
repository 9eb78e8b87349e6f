"""Simulation: the real journey on the time-skipping server with a modelled cohort."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from domain.loader import load_journey_file
from domain.simulation import Behaviour, cohort
from entrypoints.cli import app
from workers.simulator import simulate

NURTURE = load_journey_file(Path(__file__).resolve().parents[2] / "journeys" / "nurture.yaml")
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
