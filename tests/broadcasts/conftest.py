"""Broadcast fixtures: the real thing end to end.

A Temporal dev server, the SMTP capture, a SQLite store and `journeys worker`'s own assembly
(`run_worker`: the real email channel, send policy, segments file and audience activities)
in this event loop; `journeys ...` commands run in a thread against the same settings. Each
test makes customers of its own, tagged for a segment of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from app.bootstrap import run_worker
from domain.customers import CustomerUpsert
from entrypoints import cli_common
from entrypoints.cli import app as cli_app
from store.db import reading
from store.schema import (
    audit_log,
    broadcasts,
    customer_events,
    enrollments,
    journey_versions,
    journeys,
    outbox,
)
from store.store import Store
from tests.api.conftest import eventually as polled
from workers.binaries import temporal_cli
from workers.data_converter import DATA_CONVERTER
from workers.mail_capture import MailCapture
from workers.settings import get_settings

T = TypeVar("T")
# One segment per test (customers tagged with its name), and one nobody is in.
SEGMENT_NAMES = ("launch", "later", "twice", "bad", "api", "counts", "capped", "held", "paused")
SEGMENTS = (
    "segments:\n"
    + "".join(
        f"  - name: {name}\n    where: {{field: tags, contains: {name}}}\n"
        for name in SEGMENT_NAMES
    )
    + "  - name: nobody\n    where: {field: tags, contains: nobody_has_this}\n"
)
# No quiet hours (what the tests see must not depend on the hour they run at); one marketing
# email a day, the next deferred (only test_caps sends anyone a second one).
POLICY = "quiet_hours: []\ncaps:\n  - {name: marketing_daily, max: 1, per: 24h, action: defer}\n"
TEMPLATE = """\
subject: "Winter sale, {{ profile.first_name | default('friend') }}"
text: |
  Hi {{ profile.first_name | default('there') }}, everything is 20% off this week.
locales:
  zh-CN:
    subject: "冬季促销，{{ profile.first_name | default('朋友') }}"
    text: "{{ profile.first_name | default('您') }}好，本周全场八折。"
"""
TABLES = {
    "broadcasts": broadcasts,
    "journeys": journeys,
    "journey_versions": journey_versions,
    "enrollments": enrollments,
    "outbox": outbox,
    "customer_events": customer_events,
    "audit_log": audit_log,
}


@dataclass
class Stack:
    store: Store
    capture: MailCapture
    directory: Path
    runner: CliRunner

    async def journeys(self, *args: str) -> tuple[int, str]:
        """`journeys ARGS...` in a thread (the CLI runs an event loop of its own)."""
        result = await asyncio.to_thread(self.runner.invoke, cli_app, list(args))
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        return result.exit_code, result.output + (f"\n{result.exception!r}" if crashed else "")

    def template(self, text: str = TEMPLATE, name: str | None = None) -> Path:
        path = self.directory / (name or f"template-{uuid.uuid4().hex[:8]}.yaml")
        path.write_text(text, encoding="utf-8")
        return path

    def customers(self, segment: str, count: int, *, email: bool = True) -> list[str]:
        """`count` new customers in `segment`, each with an email address of their own
        (unless not `email`)."""
        made = []
        for i in range(count):
            customer = f"{segment}-{uuid.uuid4().hex[:8]}-{i}"
            self.store.customers.upsert(
                CustomerUpsert(
                    customer_id=customer,
                    email=f"{customer}@example.com" if email else None,
                    tags=[segment],
                    attributes={"first_name": f"Member{i}"},
                ),
                datetime.now(UTC),
            )
            made.append(customer)
        return made

    def mails_to(self, customers: list[str]) -> dict[str, int]:
        """How many emails the capture holds for each of `customers`."""
        return {c: len(self.capture.to(f"{c}@example.com")) for c in customers}

    def rows(self) -> dict[str, int]:
        with reading(self.store.engine) as conn:
            return {
                name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in TABLES.items()
            }


@pytest_asyncio.fixture(scope="module")
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The stack for one test module; a module's own POLICY replaces the default one."""
    directory = tmp_path_factory.mktemp("broadcasts")
    (directory / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    policy = getattr(request.module, "POLICY", POLICY)
    (directory / "policy.yaml").write_text(policy, encoding="utf-8")
    capture = MailCapture(directory / "mail")
    capture.start()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=DATA_CONVERTER, ui=False
    )
    patch = pytest.MonkeyPatch()
    db_url = f"sqlite:///{directory}/journeys.db"
    for name, value in {
        "JOURNEYS_DATA_DIR": str(directory),
        "JOURNEYS_DATABASE_URL": db_url,
        "JOURNEYS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "JOURNEYS_TEMPORAL_TASK_QUEUE": f"broadcasts-{uuid.uuid4().hex[:8]}",
        "JOURNEYS_SMTP_HOST": capture.host,
        "JOURNEYS_SMTP_PORT": str(capture.port),
        "JOURNEYS_SEGMENTS_FILE": str(directory / "segments.yaml"),
        "JOURNEYS_POLICY_FILE": str(directory / "policy.yaml"),
        "JOURNEYS_SECRET_KEY": "broadcast-test-secret-0123456789",
        "JOURNEYS_TRACKING": "false",
    }.items():
        patch.setenv(name, value)
    patch.setattr(cli_common.console, "width", 200)
    patch.setattr(cli_common.errors, "width", 200)
    get_settings.cache_clear()
    store = Store.open(db_url)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(get_settings(), Store.open(db_url), stop))
    try:
        yield Stack(store, capture, directory, CliRunner())
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        store.close()
        await env.shutdown()
        capture.stop()
        patch.undo()
        get_settings.cache_clear()


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """The API tests' `eventually`, with the longer wait an audience run needs."""
    return await polled(probe, timeout=timeout, what=what)
