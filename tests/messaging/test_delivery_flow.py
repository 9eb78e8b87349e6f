"""Quiet hours and caps inside real runs: a durable timer defers the message, nothing is lost.

The real send activity, store and SMS provider (the sink over HTTP) on the time-skipping
server; the activity's clock is the server's clock, so skipped time is the time it sees.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.http_channel import HttpChannel
from app.journeys import JourneyService
from domain.contracts import RunSnapshot
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.send_policy import FrequencyCap, SendPolicy
from entrypoints.api import running
from store.store import Store
from tests.workflows.support import server_clock
from workers.provider_sink import SinkState, provider_sink
from workers.worker import activities_for, build_worker

BERLIN = ZoneInfo("Europe/Berlin")
ONE_SMS_A_DAY = SendPolicy(
    caps=[FrequencyCap(name="sms_daily", channels=["sms"], max=1, per=timedelta(days=1))]
)


@dataclass
class Setup:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    sink: SinkState
    queue: str
    sink_url: str


@pytest_asyncio.fixture
async def setup(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Setup]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"delivery-{uuid.uuid4().hex[:8]}"

    async def client() -> Any:
        return time_skipping_env.client

    app = provider_sink()
    async with running(app) as url:
        try:
            yield Setup(
                time_skipping_env,
                store,
                JourneyService(store, client, queue),
                app.state.sink,
                queue,
                url,
            )
        finally:
            store.close()


def promo_journey(quiet_hours: str) -> str:
    return f"""
id: promo
name: Promo
category: marketing
trigger: {{event: promo_started}}
quiet_hours: {quiet_hours}
templates:
  first: {{text: "Sale starts now"}}
  second: {{text: "Last day of the sale"}}
steps:
  - {{id: first, send: {{channel: sms, template: first}}}}
  - {{id: pause, wait: {{for: 1h}}}}
  - {{id: second, send: {{channel: sms, template: second}}}}
"""


async def test_quiet_hours_and_a_cap_defer_sends_by_durable_timers(setup: Setup) -> None:
    env = setup.env
    started = await env.get_current_time()
    local = started.astimezone(BERLIN)
    # A quiet window that holds now and ends two hours from now, in the customer's time.
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end_local = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    setup.service.publish_definition(
        load_journey_text(
            promo_journey(f'[{{channels: [sms], start: "{start}", end: "{end_local:%H:%M}"}}]')
        )
    )
    setup.store.customers.upsert(
        CustomerUpsert(customer_id="ada", phone="+4915112345678", timezone="Europe/Berlin"),
        started,
    )
    channels = {"sms": HttpChannel("sms", f"{setup.sink_url}/sms")}
    activities = activities_for(setup.store, channels, server_clock, policy=ONE_SMS_A_DAY)
    async with build_worker(env.client, setup.queue, activities):
        delivery = await setup.service.enroll("promo", "ada")
        assert delivery.workflow_id is not None
        await env.sleep(timedelta(days=2))
        handle = env.client.get_workflow_handle(delivery.workflow_id)
        status = await handle.query("status", result_type=RunSnapshot)
    # Both messages went out, once each, and each waited.
    assert [m["payload"]["text"] for m in setup.sink.messages("sms")] == [
        "Sale starts now",
        "Last day of the sale",
    ]
    notes = [(r.step_id, r.status) for r in status.history]
    assert notes.count(("first", "deferred")) == 1 and ("first", "completed") in notes
    assert notes.count(("second", "deferred")) == 1 and ("second", "completed") in notes
    decisions = list(reversed(setup.store.ledger.decisions(customer_id="ada")))
    assert [(d.step_id, d.decision) for d in decisions] == [
        ("first", "deferred"),
        ("first", "sent"),
        ("second", "deferred"),
        ("second", "sent"),
    ]
    quiet, _, capped, _ = decisions
    assert quiet.reason.startswith(f"quiet hours {start}-{end_local:%H:%M} Europe/Berlin")
    assert quiet.until == end_local.astimezone(UTC)
    assert capped.reason.startswith("cap sms_daily: 1 per 1d reached")
    messages = {m.step_id: m for m in setup.store.outbox.for_customer("ada")}
    first_sent = messages["first"].sent_at
    assert first_sent is not None and first_sent >= quiet.until
    # The second waits for the first to leave the 24-hour window.
    assert capped.until == first_sent + timedelta(days=1)
    second_sent = messages["second"].sent_at
    assert second_sent is not None and second_sent >= capped.until
    types = [e.type for e in setup.store.events.for_customer("ada") if e.type.startswith("message")]
    assert types == ["message_deferred", "message_sent", "message_deferred", "message_sent"]


async def test_a_cap_with_skip_drops_the_message_and_the_run_goes_on(setup: Setup) -> None:
    env = setup.env
    started = await env.get_current_time()
    setup.service.publish_definition(load_journey_text(promo_journey("[]")))
    setup.store.customers.upsert(
        CustomerUpsert(customer_id="bo", phone="+4915112345679", timezone="UTC"), started
    )
    skip = SendPolicy(caps=[ONE_SMS_A_DAY.caps[0].model_copy(update={"action": "skip"})])
    channels = {"sms": HttpChannel("sms", f"{setup.sink_url}/sms")}
    activities = activities_for(setup.store, channels, server_clock, policy=skip)
    async with build_worker(env.client, setup.queue, activities):
        delivery = await setup.service.enroll("promo", "bo")
        assert delivery.workflow_id is not None
        await env.sleep(timedelta(hours=2))
    [run] = setup.store.runs.for_customer("bo")
    assert run.status == "completed"
    assert [m["payload"]["text"] for m in setup.sink.messages("sms")] == ["Sale starts now"]
    second = next(m for m in setup.store.outbox.for_customer("bo") if m.step_id == "second")
    assert second.status == "skipped" and "skipped by policy" in second.detail
    kinds = [e.type for e in setup.store.events.for_customer("bo") if e.type.startswith("message")]
    assert kinds == ["message_sent", "message_suppressed"]


def test_the_funnel_counts_deferrals_with_the_message_outcomes(tmp_path: Path) -> None:
    from store.send_ledger import SendDecision

    store = Store.open(f"sqlite:///{tmp_path}/funnel.db")
    try:
        at = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
        for key in ("k1", "k2"):
            store.ledger.record(
                SendDecision(
                    idempotency_key=key,
                    customer_id="c",
                    journey_id="promo",
                    step_id="first",
                    channel="sms",
                    category="marketing",
                    decision="deferred",
                    reason="quiet hours 21:00-09:00 UTC",
                    until=at + timedelta(hours=11),
                    at=at,
                )
            )
        counts = {(m.step_id, m.status): m.count for m in store.reports.message_counts("promo")}
    finally:
        store.close()
    assert counts == {("first", "deferred"): 2}


async def test_a_journeys_quiet_hours_replace_a_non_empty_workspace_default(setup: Setup) -> None:
    env = setup.env
    started = await env.get_current_time()
    now_utc = started.astimezone(UTC)
    # The workspace holds SMS now; the journey's own window (later today) replaces it.
    workspace = SendPolicy.model_validate(
        {
            "quiet_hours": [
                {
                    "channels": ["sms"],
                    "start": (now_utc - timedelta(hours=1)).strftime("%H:%M"),
                    "end": (now_utc + timedelta(hours=3)).strftime("%H:%M"),
                }
            ]
        }
    )
    own_start = (now_utc + timedelta(hours=5)).strftime("%H:%M")
    own_end = (now_utc + timedelta(hours=6)).strftime("%H:%M")
    setup.service.publish_definition(
        load_journey_text(
            promo_journey(f'[{{channels: [sms], start: "{own_start}", end: "{own_end}"}}]')
        )
    )
    setup.store.customers.upsert(
        CustomerUpsert(customer_id="cy", phone="+4915112345670", timezone="UTC"), started
    )
    channels = {"sms": HttpChannel("sms", f"{setup.sink_url}/sms")}
    activities = activities_for(setup.store, channels, server_clock, policy=workspace)
    async with build_worker(env.client, setup.queue, activities):
        await setup.service.enroll("promo", "cy")
        await env.sleep(timedelta(hours=2))
    decisions = [(d.step_id, d.decision) for d in setup.store.ledger.decisions(customer_id="cy")]
    assert list(reversed(decisions)) == [("first", "sent"), ("second", "sent")]
    first = next(m for m in setup.store.outbox.for_customer("cy") if m.step_id == "first")
    assert first.sent_at is not None and first.sent_at - now_utc < timedelta(minutes=5)


def next_dst_change(after: datetime) -> tuple[str, datetime]:
    """The zone (of a few with daylight saving) whose next offset change comes first, and the
    hour just after it."""
    found: list[tuple[datetime, str]] = []
    for name in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Santiago"):
        zone = ZoneInfo(name)
        hour = after.replace(minute=0, second=0, microsecond=0)
        offset = hour.astimezone(zone).utcoffset()
        for _ in range(24 * 370):
            hour += timedelta(hours=1)
            if hour.astimezone(zone).utcoffset() != offset:
                found.append((hour, name))
                break
    changed_at, name = min(found)
    return name, changed_at


async def test_a_deferral_across_a_daylight_saving_change_ends_at_the_local_hour(
    setup: Setup,
) -> None:
    env = setup.env
    name, changed_at = next_dst_change((await env.get_current_time()).astimezone(UTC))
    zone = ZoneInfo(name)
    evening = changed_at - timedelta(hours=7)  # the evening before the night of the change
    await env.sleep(evening - (await env.get_current_time()))
    started = await env.get_current_time()
    start = (started.astimezone(zone) - timedelta(hours=1)).strftime("%H:%M")
    setup.service.publish_definition(
        load_journey_text(promo_journey(f'[{{channels: [sms], start: "{start}", end: "09:00"}}]'))
    )
    setup.store.customers.upsert(
        CustomerUpsert(customer_id="dee", phone="+4915112345671", timezone=name), started
    )
    channels = {"sms": HttpChannel("sms", f"{setup.sink_url}/sms")}
    activities = activities_for(setup.store, channels, server_clock, policy=SendPolicy())
    async with build_worker(env.client, setup.queue, activities):
        await setup.service.enroll("promo", "dee")
        await env.sleep(timedelta(days=1))
    # Changes happen in the small hours, so 09:00 on the day of the change is the window's end.
    day = changed_at.astimezone(zone).date()
    nine = datetime(day.year, day.month, day.day, 9, 0, tzinfo=zone)
    assert started < changed_at < nine
    assert nine.utcoffset() != started.astimezone(zone).utcoffset(), "the offset changed"
    [deferred] = setup.store.ledger.decisions(customer_id="dee", decision="deferred")
    assert deferred.until == nine.astimezone(UTC), (name, deferred.until, nine)
    first = next(m for m in setup.store.outbox.for_customer("dee") if m.step_id == "first")
    assert first.status == "sent" and first.sent_at is not None
    assert timedelta(0) <= first.sent_at - nine.astimezone(UTC) < timedelta(minutes=5)
    assert first.sent_at.astimezone(zone).strftime("%H:%M") == "09:00"
