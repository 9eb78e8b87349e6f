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
from sqlalchemy import inspect

from store.db import make_engine
from store.migrate import alembic_config, upgrade
from store.schema import metadata
from tests.pg import fresh_postgres_url
from tests.store.conftest import BACKENDS

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
