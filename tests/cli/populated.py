"""A store with something in every table the CLI prints, with long words and long sentences,
Chinese text and Rich markup in it: what a narrow terminal must cope with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from app.reconcile import RunChange
from domain.callbacks import CreateCallback
from domain.cases import CaseEntry, CaseState
from domain.contracts import GoalReached, RunSnapshot, StepRecord
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.impact import (
    AudienceImpact,
    ImpactReport,
    SimulatedFunnel,
    compare_funnels,
    impact_report,
)
from domain.loader import load_journey_file
from domain.messages import OutboxMessage
from domain.runs import Enrollment, StepEvent
from domain.surveys import CreateSurvey
from store.send_ledger import SendDecision
from store.store import Store
from store.suppression import Suppression
from tests.store.test_reports import _fill
from workers.simulator import SimulationResult

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=40)
CUSTOMER = "ada-lovelace-analytical-engine"
LONG_WORD = "https://shop.example.com/checkout/confirmation/order-4711-0815-4242-abcdefghijkl"
SENTENCE = (
    "The parcel arrived two weeks late and the box was crushed on one side, so the customer "
    "asked for a refund and a call back before Friday [red]at the latest[/red]"
)
CHINESE = "包裹晚到了两周，盒子一侧被压坏，客户要求退款并在周五之前回电"
PROMO = (
    "id: promo\nname: Promo\ntrigger: {event: signed_up}\n"
    "exit_when: [{event: order_completed}]\n"
    "steps:\n  - {id: control, holdout: {percent: 40}}\n"
    "  - id: offer\n    split: [{name: discount, goto: done}, {name: shipping, goto: done}]\n"
    "  - {id: done, end: done}\n"
)


def populate(store: Store) -> dict[str, str]:
    """Fill `store`; returns the ids worth asking about (case, workflow)."""
    store.customers.upsert(
        CustomerUpsert(
            customer_id=CUSTOMER,
            email="ada.lovelace.countess.of.lovelace@analytical-engine.example.org",
            phone="+4915112345678",
            timezone="Europe/Berlin",
            locale="zh-CN",
            attributes={"plan": "enterprise-unlimited", "first_name": "Ada", "note": CHINESE},
            tags=["vip", "early-adopter", "beta-programme"],
        ),
        T0,
    )
    events = [
        CustomerEvent(
            event_id=f"order-{n}-{'0' * 24}",
            customer_id=CUSTOMER,
            type="order_completed",
            occurred_at=T0 + timedelta(days=n * 7),
            properties={"order_id": f"o-{n}", "total": 129.5 + n, "url": LONG_WORD},
        )
        for n in range(4)
    ]
    events.append(
        CustomerEvent(
            event_id="complaint-1",
            customer_id=CUSTOMER,
            type="case_opened",
            occurred_at=NOW - timedelta(days=2),
            properties={"summary": SENTENCE, "chinese": CHINESE},
        )
    )
    appended = store.events.append_many(events, T0)
    seq = appended[-1].seq
    assert seq is not None
    store.deliveries.park(seq, f"journey {LONG_WORD} is not published: {SENTENCE}", [], NOW)

    entry = "entry-onboarding-ada"
    workflow_id = f"journey/onboarding/{CUSTOMER}"
    store.runs.enroll(
        Enrollment(
            entry_id=entry,
            workflow_id=workflow_id,
            journey_id="onboarding",
            version=1,
            customer_id=CUSTOMER,
            entered_at=T0,
        )
    )
    steps = [
        StepEvent(
            workflow_id=workflow_id,
            entry_id=entry,
            journey_id="onboarding",
            version=1,
            customer_id=CUSTOMER,
            step_id=step,
            kind="send",
            status=status,
            detail=detail,
            at=T0 + timedelta(minutes=n),
        )
        for n, (step, status, detail) in enumerate(
            [("welcome", "entered", ""), ("welcome", "completed", SENTENCE)]
        )
    ]
    store.runs.record_steps(entry, steps, "welcome")

    for n, status in enumerate(("sent", "skipped", "failed")):
        key = f"{workflow_id}/welcome/{n}"
        store.outbox.reserve(
            OutboxMessage(
                idempotency_key=key,
                customer_id=CUSTOMER,
                journey_id="onboarding",
                workflow_id=workflow_id,
                step_id="welcome_email_with_a_long_step_name",
                channel="email",
                template="welcome",
                recipient="ada.lovelace.countess.of.lovelace@analytical-engine.example.org",
                subject=f"Welcome aboard, Ada: here is everything you need to start {n}",
                requested_at=T0 + timedelta(hours=n),
            )
        )
        store.outbox.mark(key, status, detail="" if status == "sent" else SENTENCE)
        store.ledger.record(
            SendDecision(
                idempotency_key=key,
                customer_id=CUSTOMER,
                journey_id="onboarding",
                step_id="welcome_email_with_a_long_step_name",
                channel="email",
                category="marketing",
                decision="deferred" if n else "sent",
                reason=f"quiet hours 22:00-07:00 in Europe/Berlin; {SENTENCE}",
                until=NOW + timedelta(hours=9) if n else None,
                at=T0 + timedelta(hours=n),
            )
        )
    store.suppressions.add(
        Suppression(
            channel="email",
            address="ada.lovelace.countess.of.lovelace@analytical-engine.example.org",
            reason="bounce",
            scope="all",
            detail=f"550 5.1.1 {LONG_WORD}: {SENTENCE}",
            created_at=NOW,
        )
    )

    case_id = "cs-7f3a9c2e"
    store.cases.save(
        CaseState(
            case_id=case_id,
            customer_id=CUSTOMER,
            channel="email",
            category="delivery-and-shipping",
            severity="urgent",
            summary=SENTENCE,
            queue="supervisors",
            assignee="maximilian.mustermann",
            opened_at=NOW - timedelta(days=2),
            first_response_due=NOW + timedelta(hours=2),
            resolution_due=NOW + timedelta(days=1),
            escalations=["first_response"],
            history=[
                CaseEntry(at=NOW - timedelta(days=2), action="opened", by=CUSTOMER, text=SENTENCE),
                CaseEntry(at=NOW - timedelta(days=1), action="note", by="mo", text=CHINESE),
                CaseEntry(at=NOW, action="note", by="mo", text=LONG_WORD),
            ],
        )
    )
    store.callbacks.create(
        CreateCallback(
            task_id="cb-win_back-ada-lovelace-analytical-engine-call",
            queue="retention",
            reason=SENTENCE,
            customer_id=CUSTOMER,
            journey_id="win_back",
            workflow_id=f"journey/win_back/{CUSTOMER}",
            step_id="personal_call",
            due_at=NOW - timedelta(hours=1),
            created_at=NOW - timedelta(days=1),
        )
    )
    for n, (kind, score) in enumerate((("nps", 9), ("nps", 3), ("csat", 4))):
        survey_id = f"survey-{n}"
        store.surveys.create(
            CreateSurvey(
                survey_id=survey_id,
                kind=kind,
                customer_id=CUSTOMER,
                journey_id="post_purchase_follow_up_with_a_long_name",
                workflow_id=f"journey/post_purchase/{CUSTOMER}/{n}",
                step_id="csat",
                expires_at=NOW + timedelta(days=7),
                created_at=NOW - timedelta(days=1),
            )
        )
        store.surveys.answer(survey_id, score, SENTENCE, NOW)
    everyday(store)
    _fill(store)  # the promo journey's runs: funnel and experiment
    store.projections.rebuild(date.today())
    return {"case": case_id, "workflow": workflow_id}


def snapshot() -> RunSnapshot:
    """What a run's status query answers (runs show), with long details."""
    return RunSnapshot(
        journey_id="onboarding",
        version=3,
        customer_id=CUSTOMER,
        entry_id="entry-onboarding-ada",
        position="wait_for_first_order",
        waiting=f"order_completed or 10d ({LONG_WORD})",
        goal=GoalReached(goal="order_completed", converted=True, event_id="order-1"),
        history=[
            StepRecord(step_id="welcome", kind="send", status="completed", detail=SENTENCE, at=NOW),
            StepRecord(step_id="wait_for_first_order", kind="wait_for", status="entered", at=NOW),
            StepRecord(step_id="tips", kind="send", status="skipped", detail=CHINESE, at=NOW),
        ],
        outputs={},
    )


def drift() -> list[RunChange]:
    """What reconciling runs against Temporal found (runs reconcile)."""
    return [
        RunChange(
            workflow_id=f"journey/win_back/{CUSTOMER}/order-4711-0815",
            entry_id="e1",
            journey_id="win_back",
            customer_id=CUSTOMER,
            store_status="running",
            temporal_status="completed",
            action="ended",
            detail=SENTENCE,
        )
    ]


def simulation() -> SimulationResult:
    """A simulation's counts (simulate's output), without running one."""
    from collections import Counter

    return SimulationResult(
        customers=1000,
        days=90,
        runs=Counter({"completed": 700, "exited": 250, "running": 50}),
        goals=Counter({"order_completed": 250}),
        converted=250,
        steps={"welcome": Counter({"entered": 1000, "completed": 990, "skipped": 10})},
        messages=Counter({(0, "email", "sent"): 990, (1, "sms", "skipped"): 10}),
        actions=Counter({"opens": 350, "clicks": 70, "orders": 250}),
        deferrals=Counter({(0, "email", "quiet_hours"): 120, (1, "email", "frequency_cap"): 3}),
        scores={"nps": [9, 10, 3], "csat": [4, 5]},
        seconds=31.0,
    )


def impact() -> ImpactReport:
    """An impact report (impact's output) with runs on removed and changed steps and two
    simulated funnels, without a store or a simulation."""
    nurture = load_journey_file(JOURNEYS / "nurture.yaml")
    shorter = nurture.model_copy(
        update={"steps": [s for s in nurture.steps if s.id not in ("wait_reviews", "reviews")]}
    )
    funnel = {"entered": 200, "completed": 180, "exited": 20}
    current = SimulatedFunnel(
        label="v2",
        customers=200,
        days=30,
        runs={"completed": 150, "exited": 50},
        converted=50,
        steps={step.id: funnel for step in nurture.steps},
        messages={"sent": 900, "skipped": 12},
        seconds=6.5,
    )
    new = current.model_copy(
        update={"label": "nurture.yaml", "steps": {s.id: funnel for s in shorter.steps}}
    )
    return impact_report(
        shorter,
        "journeys/a-rather-long-folder-name/nurture-with-fewer-steps.yaml",
        published_version=2,
        status="active",
        versions={1: nurture, 2: nurture},
        in_flight=[(1, "wait_reviews", 1200), (2, "reviews", 3), (2, "intro", 45), (2, None, 2)],
        audience=AudienceImpact(
            segment="never_ordered",
            as_of=NOW.date(),
            members=23570,
            would_enroll=20011,
            blocked=3550,
            erased=9,
        ),
        funnel=compare_funnels(
            nurture, shorter, current, new, sample="200 members of segment never_ordered", seed=7
        ),
    )


def everyday(store: Store) -> None:
    """Rows as they usually are: short ids, an address, a reason of a few words."""
    store.customers.upsert(CustomerUpsert(customer_id="bob", email="bob@example.com"), T0)
    for n, status in enumerate(("sent", "skipped")):
        key = f"journey/nurture/bob/tips/{n}"
        store.outbox.reserve(
            OutboxMessage(
                idempotency_key=key,
                customer_id="bob",
                journey_id="nurture",
                step_id="tips",
                channel="email",
                template="tips",
                recipient="bob@example.com",
                subject="Three tips for your first week",
                requested_at=NOW - timedelta(hours=n),
            )
        )
        store.outbox.mark(key, status, detail="" if status == "sent" else "unsubscribed")
        store.ledger.record(
            SendDecision(
                idempotency_key=key,
                customer_id="bob",
                journey_id="nurture",
                step_id="tips",
                channel="email",
                category="marketing",
                decision="deferred" if n else "sent",
                reason="quiet hours until 07:00 Europe/Berlin" if n else "allowed",
                until=NOW + timedelta(hours=9) if n else None,
                at=NOW - timedelta(hours=n),
            )
        )
    store.cases.save(
        CaseState(
            case_id="cs-1a2b3c4d",
            customer_id="bob",
            channel="email",
            category="billing",
            severity="normal",
            summary="Charged twice",
            assignee="mo",
            opened_at=NOW - timedelta(hours=3),
            first_response_due=NOW + timedelta(hours=5),
            resolution_due=NOW + timedelta(days=2),
        )
    )
    store.callbacks.create(
        CreateCallback(
            task_id="cb-0f1e2d3c4b5a6978",
            queue="support",
            reason="Delivery late or low CSAT",
            customer_id="bob",
            journey_id="post_purchase",
            workflow_id="journey/post_purchase/bob/o-17",
            step_id="late_delivery_call",
            due_at=NOW + timedelta(hours=20),
            created_at=NOW,
        )
    )
