"""Migrations: they build exactly schema.py, are idempotent, and tolerate racing processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from store.db import make_engine
from store.migrate import alembic_config, upgrade
from store.schema import metadata
from store.store import Store
from tests.pg import fresh_postgres_url
from tests.store.conftest import BACKENDS, T0
from tests.store.test_runs import step

# The newest revision: every upgrade must end there (one head, no branches).
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/migrate.db"
    else:
        with fresh_postgres_url() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path) as url:
        yield url


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migration_matches_schema(empty_url: str) -> None:
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_upgrade_twice_is_a_no_op(empty_url: str) -> None:
    upgrade(empty_url)
    upgrade(empty_url)
    assert _revision(empty_url) == HEAD
    assert _diff(empty_url) == []


def test_upgrades_racing_in_several_processes_all_succeed(empty_url: str) -> None:
    code = "import sys; from store.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    failures = [
        err for p in procs if (err := p.communicate(timeout=120)[1]) is not None and p.returncode
    ]
    assert failures == []
    assert _revision(empty_url) == HEAD
    assert _diff(empty_url) == []


def test_upgrades_racing_in_threads_all_succeed(empty_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            upgrade(empty_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _revision(empty_url) == HEAD


def test_downgrade_removes_every_table(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
            conn.commit()
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()


def test_step_records_made_before_seq_survive_the_upgrade_with_no_seq(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(connection=conn), "0006")
            conn.commit()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO enrollments (entry_id, workflow_id, journey_id, version,"
                    " customer_id, status, entered_at)"
                    " VALUES ('r-1', 'w', 'j', 1, 'c-1', 'running', :at)"
                ),
                {"at": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO journey_step_events (entry_id, workflow_id, journey_id,"
                    " version, customer_id, step_id, kind, status, detail, at)"
                    " VALUES ('r-1', 'w', 'j', 1, 'c-1', 'hello', 'send', 'entered', '', :at)"
                ),
                {"at": T0},
            )
    finally:
        engine.dispose()
    upgrade(empty_url)
    assert _revision(empty_url) == HEAD
    store = Store.open(empty_url, migrate=False)
    try:
        numbered = step("hello", "completed", seq=1)
        store.runs.record_steps("r-1", [numbered], "hello")
        store.runs.record_steps("r-1", [step("hello", "completed", 2, seq=1)], "hello")
        assert [(s.seq, s.status) for s in store.runs.steps("r-1")] == [
            (None, "entered"),
            (1, "completed"),
        ]
    finally:
        store.close()
