"""Benchmark: server time and SQL queries per console page, on the CDNOW base plus a few
thousand runs, messages, cases, callbacks and surveys.

The store is a SQLite file with the built-in journeys published and the CDNOW purchases
imported (as `journeys import cdnow` does); the runs and the rest are written straight into
the store (no Temporal: the pages read the store). The console app runs in-process over
httpx.ASGITransport, signed in with the bootstrap key; every console page that exists is
requested N times (pages that 404 because they are not built yet are listed and skipped).
Queries are counted with a `before_cursor_execute` listener on the store's engine.

    python -m scripts.bench_console [--requests 30] [--runs 4000] [--quick] [--database PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert

from app.journeys import JourneyService
from domain.callbacks import CreateCallback
from domain.cases import SLA, CaseEntry, CaseState
from domain.events import CustomerEvent
from domain.importing import cdnow_profile, parse_cdnow
from domain.journey import JourneyDefinition, step_kind
from domain.surveys import CreateSurvey
from scripts.bench_table import Row, emit
from store.db import writing
from store.schema import enrollments, journey_step_events, outbox, send_decisions
from store.store import Store
from workers.data_converter import DATA_CONVERTER

REPO = Path(__file__).resolve().parents[1]
JOURNEYS_DIR = REPO / "journeys"
API_KEY = "bench-console-key-0123456789"
WORKSPACE_TIMEZONE = "Asia/Shanghai"
CDNOW_CANDIDATES = (
    REPO / "data" / "cdnow" / "CDNOW_master.txt",
    REPO.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt",
)
RUN_STATUSES = ("running", "running", "completed", "exited", "failed")
OUTCOMES = ("sent", "sent", "sent", "sent", "skipped", "failed", "deferred", "pending")


def cdnow_file() -> Path | None:
    return next((path for path in CDNOW_CANDIDATES if path.exists()), None)


def import_cdnow(store: Store, now: datetime) -> int:
    """The CDNOW purchases as order_completed events (23,570 customers); 0 without the file."""
    data = cdnow_file()
    if data is None:
        return 0
    with data.open(encoding="utf-8") as lines:
        parsed = parse_cdnow(lines)
    store.events.import_events(parsed.events, now, new_customer=lambda cid: cdnow_profile(cid, now))
    return len(parsed.events)


@dataclass(frozen=True)
class Seeded:
    """What `seed` wrote: an id of each kind, for the pages that show one."""

    customer_id: str
    journey_id: str
    workflow_id: str
    entry_id: str
    case_id: str
    task_id: str
    idempotency_key: str


def seed(
    store: Store,
    customers: list[str],
    now: datetime,
    *,
    runs: int = 3000,
    messages: int = 3000,
    cases: int = 300,
    callbacks: int = 200,
    surveys: int = 1000,
    journeys: list[str] | None = None,
    seed_value: int = 14,
) -> Seeded:
    """Runs (with step events), messages (with send decisions), cases, callback tasks and
    surveys for `customers`, spread over the last two weeks, some today; written straight
    into the store. `customers` must exist."""
    rng = random.Random(seed_value)
    records = [r for r in (store.journeys.get_version(j.journey_id) for j in store.journeys.list())]
    definitions = {
        r.journey_id: (r.version, JourneyDefinition.model_validate(r.definition))
        for r in records
        if r is not None and (journeys is None or r.journey_id in journeys)
    }
    journey_ids = sorted(definitions)
    tag = uuid.uuid4().hex[:6]
    run_rows: list[dict[str, Any]] = []
    step_rows: list[dict[str, Any]] = []
    for n in range(runs):
        journey_id = journey_ids[n % len(journey_ids)]
        version, definition = definitions[journey_id]
        customer = customers[rng.randrange(len(customers))]
        entered = now - timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
        status = RUN_STATUSES[rng.randrange(len(RUN_STATUSES))]
        steps = definition.steps[: rng.randint(1, min(3, len(definition.steps)))]
        entry_id = f"bench-{tag}-{n}"
        workflow_id = f"journey-{journey_id}-{customer}-{entry_id}"
        ended = (
            None if status == "running" else min(now, entered + timedelta(hours=rng.randint(1, 48)))
        )
        run_rows.append(
            {
                "entry_id": entry_id,
                "workflow_id": workflow_id,
                "journey_id": journey_id,
                "version": version,
                "customer_id": customer,
                "correlation_key": None,
                "trigger_event_id": None,
                "status": status,
                "current_step": steps[-1].id if status == "running" else None,
                "entered_at": entered,
                "ended_at": ended,
                "end_reason": None if ended is None else status,
            }
        )
        for i, step in enumerate(steps):
            at = entered + timedelta(seconds=i)
            last = i == len(steps) - 1 and status == "running"
            for seq_offset, step_status in enumerate(
                ("entered",) if last else ("entered", "completed")
            ):
                step_rows.append(
                    {
                        "entry_id": entry_id,
                        "workflow_id": workflow_id,
                        "journey_id": journey_id,
                        "version": version,
                        "customer_id": customer,
                        "step_id": step.id,
                        "kind": step_kind(step) or "",
                        "status": step_status,
                        "detail": "",
                        "at": at + timedelta(milliseconds=seq_offset),
                        "seq": 2 * i + seq_offset,
                    }
                )
    message_rows: list[dict[str, Any]] = []
    decision_rows: list[dict[str, Any]] = []
    for n in range(messages):
        run = run_rows[n % len(run_rows)] if run_rows else None
        customer = run["customer_id"] if run else customers[n % len(customers)]
        requested = now - timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
        status = OUTCOMES[rng.randrange(len(OUTCOMES))]
        channel = "email" if rng.random() < 0.8 else "sms"
        key = f"bench-{tag}-message-{n}"
        message_rows.append(
            {
                "idempotency_key": key,
                "customer_id": customer,
                "journey_id": run["journey_id"] if run else None,
                "workflow_id": run["workflow_id"] if run else None,
                "step_id": "bench_send",
                "channel": channel,
                "template": "bench",
                "recipient": f"{customer}@example.com" if channel == "email" else "+8613800000000",
                "subject": "A bench message",
                "body_text": "Hello from the bench.",
                "body_html": None,
                "status": status,
                "detail": "",
                "provider_message_id": None,
                "requested_at": requested,
                "sent_at": requested if status == "sent" else None,
            }
        )
        decision = "bounced" if status == "sent" and rng.random() < 0.05 else status
        decision_rows.append(
            {
                "decision_key": f"{key}|{decision}|",
                "idempotency_key": key,
                "customer_id": customer,
                "journey_id": run["journey_id"] if run else None,
                "step_id": "bench_send",
                "channel": channel,
                "category": "marketing",
                "decision": decision,
                "rule": None,
                "reason": "bench",
                "until": None,
                "at": requested,
            }
        )
    with writing(store.engine) as conn:
        for table, rows in (
            (enrollments, run_rows),
            (journey_step_events, step_rows),
            (outbox, message_rows),
            (send_decisions, decision_rows),
        ):
            for start in range(0, len(rows), 2000):
                conn.execute(insert(table), rows[start : start + 2000])
    # Goal events today for a few run customers, so "converted today" has something to count.
    goal_events = [
        CustomerEvent(
            event_id=f"bench-{tag}-order-{n}",
            customer_id=row["customer_id"],
            type="order_completed",
            occurred_at=now - timedelta(minutes=rng.randrange(1, 60)),
            properties={"order_id": f"bench-{tag}-{n}", "amount": 20.0},
        )
        for n, row in enumerate(run_rows[: max(1, runs // 40)])
    ]
    if goal_events:
        store.events.import_events(goal_events, now)
    case_id = ""
    for n in range(cases):
        severity = ("urgent", "high", "normal", "low")[n % 4]
        opened = now - timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        first, resolution = SLA[severity]
        responded = opened + timedelta(minutes=rng.randrange(1, 600)) if n % 3 else None
        customer = customers[rng.randrange(len(customers))]
        case_id = f"case-bench-{tag}-{n}"
        store.cases.save(
            CaseState(
                case_id=case_id,
                customer_id=customer,
                channel="email",
                category="delivery",
                severity=severity,
                summary="The parcel came late.",
                status="open" if n % 5 else "resolved",
                opened_at=opened,
                first_response_due=opened + first,
                resolution_due=opened + resolution,
                first_response_at=responded if responded and responded < now else None,
                resolved_at=None if n % 5 else now,
                history=[CaseEntry(at=opened, action="opened", text="The parcel came late.")],
            )
        )
    task_id = ""
    for n in range(callbacks):
        run = run_rows[n % len(run_rows)]
        task_id = f"callback-bench-{tag}-{n}"
        store.callbacks.create(
            CreateCallback(
                task_id=task_id,
                queue=("vip", "support")[n % 2],
                reason="Call the customer about their offer.",
                customer_id=run["customer_id"],
                journey_id=run["journey_id"],
                workflow_id=run["workflow_id"],
                step_id="call",
                due_at=now + timedelta(minutes=rng.randrange(-24 * 60, 48 * 60)),
                created_at=now - timedelta(hours=1),
            )
        )
    for n in range(surveys):
        run = run_rows[n % len(run_rows)]
        kind = "nps" if n % 2 else "csat"
        created = now - timedelta(minutes=rng.randrange(0, 8 * 7 * 24 * 60))
        survey_id = f"survey-bench-{tag}-{n}"
        store.surveys.create(
            CreateSurvey(
                survey_id=survey_id,
                kind=kind,
                customer_id=run["customer_id"],
                journey_id=run["journey_id"],
                workflow_id=run["workflow_id"],
                step_id="survey",
                expires_at=created + timedelta(days=7),
                created_at=created,
            )
        )
        if rng.random() < 0.7:
            score = rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5)
            answered = min(now, created + timedelta(hours=rng.randint(1, 48)))
            store.surveys.answer(survey_id, score, "", answered)
    sample = run_rows[0]
    return Seeded(
        customer_id=sample["customer_id"],
        journey_id=sample["journey_id"],
        workflow_id=sample["workflow_id"],
        entry_id=sample["entry_id"],
        case_id=case_id,
        task_id=task_id,
        idempotency_key=message_rows[0]["idempotency_key"] if message_rows else "",
    )


# --- counting queries -----------------------------------------------------------------------


class QueryCounter:
    """Counts the statements the engine sends while `counting()` is open."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self._on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        if self._on:
            self.count += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.count, self._on = 0, True
        try:
            yield
        finally:
            self._on = False


# --- pages ---------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PARAM = re.compile(r"\{([a-z_]+)(?::path)?\}")


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    form = await client.get("/console/sign-in")
    token = CSRF.search(form.text)
    assert token, form.text[:500]
    response = await client.post(
        "/console/sign-in", data={"csrf_token": token.group(1), "key": key, "next": "/console/"}
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed ({response.status_code}): {response.text[:500]}")


def console_pages(seeded: Seeded, email: str | None) -> tuple[dict[str, str], list[str]]:
    """Each GET page route of the console with its path parameters filled in from `seeded`
    (name -> URL), and the routes no sample value fits."""
    samples = {
        "journey_id": seeded.journey_id,
        "customer_id": seeded.customer_id,
        "workflow_id": seeded.workflow_id,
        "entry_id": seeded.entry_id,
        "run_id": seeded.workflow_id,
        "case_id": seeded.case_id,
        "task_id": seeded.task_id,
        "callback_id": seeded.task_id,
        "idempotency_key": seeded.idempotency_key,
        "message_id": seeded.idempotency_key,
        "key": seeded.idempotency_key,
        "version": "1",
    }
    pages: dict[str, str] = {}
    unfilled: list[str] = []
    skip = ("/console/sign-in", "/console/sign-out", "/console/language", "/console/static")
    from entrypoints.console import PAGES

    for route in [route for module in PAGES for route in module.router.routes]:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if not path.startswith("/console") or "GET" not in methods or path.startswith(skip):
            continue
        names = PARAM.findall(path)
        if any(name not in samples for name in names):
            unfilled.append(path)
            continue
        url = PARAM.sub(lambda m: str(samples[m.group(1)]), path)
        pages[path] = url
    if "/console/customers" in pages:
        pages["/console/customers?q=<email>"] = f"/console/customers?q={email or 'cdnow-42'}"
        pages["/console/customers?q=<id>"] = "/console/customers?q=cdnow-42"
    if "/console/reports" in pages:
        pages["/console/reports?by=week"] = "/console/reports?by=week"
    return pages, unfilled


@dataclass
class Timing:
    page: str
    status: int
    times_ms: list[float]
    queries: int

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def measure(
    app: Any, counter: QueryCounter, pages: dict[str, str], requests: int
) -> tuple[list[Timing], list[str]]:
    transport = httpx.ASGITransport(app=app)
    timings, missing = [], []
    async with httpx.AsyncClient(
        transport=transport, base_url="http://console.bench", follow_redirects=False
    ) as client:
        await sign_in(client, API_KEY)
        for name, url in pages.items():
            try:
                first = await client.get(url)
            except Exception as error:  # a page that crashes is reported, not measured
                missing.append(f"{name} (raised {type(error).__name__}: {error})")
                continue
            if first.status_code == 404:
                missing.append(f"{name} (404)")
                continue
            if first.status_code >= 500:
                missing.append(f"{name} ({first.status_code}: {first.text[:200]!r})")
                continue
            times = []
            queries = 0
            for _ in range(requests):
                with counter.counting():
                    started = time.perf_counter()
                    response = await client.get(url)
                    times.append(1000 * (time.perf_counter() - started))
                queries = counter.count
            timings.append(Timing(name, response.status_code, times, queries))
    return timings, missing


def build(
    database: Path, runs: int, with_cdnow: bool, client_factory: Callable[[], Awaitable[Any]]
) -> tuple[Store, JourneyService, Seeded, int]:
    now = datetime.now(UTC)
    store = Store.open(f"sqlite:///{database}")
    service = JourneyService(store, client_factory, "bench-console")
    service.publish_directory(JOURNEYS_DIR)
    events = import_cdnow(store, now) if with_cdnow else 0
    customers = _customer_ids(store, 5000)
    if not customers:
        from domain.customers import CustomerUpsert

        for n in range(200):
            service.upsert_customer(
                CustomerUpsert(customer_id=f"bench-{n:05d}", email=f"bench-{n}@example.com")
            )
        customers = _customer_ids(store, 5000)
    seeded = seed(store, customers, now, runs=runs, messages=runs, cases=300, callbacks=200)
    store.projections.rebuild(now.date())
    return store, service, seeded, events


def _customer_ids(store: Store, limit: int) -> list[str]:
    from sqlalchemy import select

    from store.db import reading
    from store.schema import customers

    with reading(store.engine) as conn:
        return list(
            conn.scalars(
                select(customers.c.customer_id).order_by(customers.c.customer_id).limit(limit)
            )
        )


def _email_of(store: Store, customer_id: str) -> str | None:
    profile = store.customers.get(customer_id)
    return profile.email if profile else None


async def bench(args: argparse.Namespace, work: Path) -> None:
    from entrypoints.api import create_app

    env = None
    if args.temporal:
        from temporalio.testing import WorkflowEnvironment

        from workers.binaries import temporal_cli

        # Pages that ask a workflow (a case's live state, a run's) reach a real dev server;
        # the seeded rows have no workflows, so they fall back to the store as they would for
        # a finished one.
        env = await WorkflowEnvironment.start_local(
            data_converter=DATA_CONVERTER,
            dev_server_existing_path=temporal_cli(),
            ui=False,
        )

    async def client_factory() -> Any:
        if env is None:
            raise RuntimeError("no Temporal in this benchmark (--no-temporal)")
        return env.client

    try:
        database = args.database or work / "journeys.db"
        started = time.perf_counter()
        store, service, seeded, events = build(
            database, args.runs, not args.no_cdnow, client_factory
        )
        customers = len(_customer_ids(store, 1_000_000))
        print(
            f"store: {customers:,} customers, {events:,} CDNOW events, {args.runs:,} runs and "
            f"{args.runs:,} messages, 300 cases, 200 callbacks, 1,000 surveys; built in "
            f"{time.perf_counter() - started:.1f}s"
        )
        app = create_app(service, api_key=API_KEY, workspace_timezone=WORKSPACE_TIMEZONE)
        counter = QueryCounter(store.engine)
        pages, unfilled = console_pages(seeded, _email_of(store, seeded.customer_id))
        timings, missing = await measure(app, counter, pages, args.requests)
        report(timings, missing, unfilled, args.requests)
        if args.json and timings:
            slowest = max(timings, key=lambda t: t.p99)
            emit(
                Row(
                    metric=f"console page server time, CDNOW base, slowest p99 ({slowest.page})",
                    product=slowest.p99,
                    unit="ms",
                    higher_is_better=False,
                    goal="p99 <= 200 ms",
                    met=slowest.p99 <= 200,
                    command="python -m scripts.bench_console"
                    + (" --quick" if args.requests == 5 else ""),
                    spread=f"{len(timings)} pages, p50 of the slowest {slowest.p50:.0f} ms",
                )
            )
        store.close()
    finally:
        if env is not None:
            await env.shutdown()


def report(timings: list[Timing], missing: list[str], unfilled: list[str], requests: int) -> None:
    width = max([len(t.page) for t in timings] + [4])
    print(f"\n{requests} requests per page, in-process (httpx.ASGITransport), server time\n")
    print(f"{'page':<{width}}  status  p50 ms  p99 ms  queries")
    for t in timings:
        print(f"{t.page:<{width}}  {t.status:>6}  {t.p50:>6.1f}  {t.p99:>6.1f}  {t.queries:>7}")
    if timings:
        slowest = max(timings, key=lambda t: t.p99)
        print(f"\nslowest page (p99): {slowest.page}, {slowest.p99:.1f} ms")
    for name in missing:
        print(f"skipped: {name}")
    for path in unfilled:
        print(f"skipped, no sample value for its parameters: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="requests per page")
    parser.add_argument("--runs", type=int, default=4000, help="runs (and messages) to write")
    parser.add_argument("--quick", action="store_true", help="5 requests per page, 1,000 runs")
    parser.add_argument("--no-cdnow", action="store_true", help="skip the CDNOW import")
    parser.add_argument(
        "--no-temporal", dest="temporal", action="store_false", help="no dev server"
    )
    parser.add_argument("--database", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.runs = 5, 1000
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(args, Path(tmp)))


if __name__ == "__main__":
    main()
