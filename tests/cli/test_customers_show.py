"""`journeys customers show`: the customer's value tier, lifecycle stage and churn risk with
its reasons, as the projections (`journeys segments summary`) have them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from entrypoints import cli_common
from entrypoints.cli import app
from tests.cli.populated import NOW
from workers.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 120)
    monkeypatch.setattr(cli_common.errors, "width", 120)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def order(customer: str, n: int, days_ago: int) -> CustomerEvent:
    return CustomerEvent(
        event_id=f"{customer}-order-{n}",
        customer_id=customer,
        type="order_completed",
        occurred_at=NOW - timedelta(days=days_ago),
        properties={"total": 40.0},
    )


def fill() -> None:
    store = cli_common.service().store
    for customer in ("ada", "bob"):
        store.customers.upsert(CustomerUpsert(customer_id=customer), NOW - timedelta(days=400))
    # ada ordered every 10 days, then stopped 100 days ago: overdue; and she complained.
    events = [order("ada", n, 100 + 10 * n) for n in range(5)]
    events.append(
        CustomerEvent(
            event_id="ada-case",
            customer_id="ada",
            type="case_opened",
            occurred_at=NOW - timedelta(days=3),
        )
    )
    events.append(order("bob", 0, 2))
    store.events.append_many(events, NOW)


def test_show_names_tier_stage_and_each_churn_reason_built_on_first_use() -> None:
    fill()
    code, out = journeys("customers", "show", "ada")
    assert code == 0, out
    today = date.today().isoformat()
    assert "stage: at_risk" in out and "churn risk: yes" in out and f"as of {today}" in out
    assert "value tier: " in out and "(RFM " in out
    assert "overdue: 100 days since the last order, 10.0x the usual 10 days" in out
    assert "complaints up: 1 complaints in the last 90 days, 0 in the 90 before" in out
    code, out = journeys("customers", "show", "bob")
    assert "stage: new" in out and "churn risk: no" in out


def test_show_uses_the_projection_as_built_and_says_as_of_when() -> None:
    fill()
    earlier = (date.today() - timedelta(days=30)).isoformat()
    code, out = journeys("segments", "summary", "--as-of", earlier)
    assert code == 0, out
    code, out = journeys("customers", "show", "ada")
    assert code == 0 and f"(as of {earlier})" in out  # not rebuilt behind the user's back
    cli_common.service().store.customers.upsert(CustomerUpsert(customer_id="cy"), NOW)
    code, out = journeys("customers", "show", "cy")
    assert code == 0
    assert f"not projected yet (projections are as of {earlier}" in out
    assert "journeys segments summary" in out
