"""Engine set-up: SQLite pragmas and paths, the PostgreSQL driver, unsupported URLs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from domain.customers import CustomerUpsert
from store.db import make_engine, writing
from store.errors import StoreError
from store.store import Store
from tests.store.conftest import T0


def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }


def test_sqlite_file_parent_directories_are_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "store.db"
    Store.open(f"sqlite:///{target}").close()
    assert target.exists()


def test_plain_postgresql_url_uses_psycopg3() -> None:
    engine = make_engine("postgresql://user@db.invalid:5432/journeys")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StoreError, match="unsupported database URL"):
        make_engine("mysql://user@localhost/journeys")


def test_in_memory_store_is_shared_across_threads() -> None:
    with Store.open("sqlite://") as store:
        worker = threading.Thread(
            target=store.customers.upsert, args=(CustomerUpsert(customer_id="c-9"), T0)
        )
        worker.start()
        worker.join()
        assert store.customers.exists("c-9")


def test_a_new_sqlite_store_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    import stat

    from store.store import Store

    path = tmp_path / "private" / "journeys.db"
    Store.open(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_writers_of_one_process_queue_before_asking_sqlite_for_its_lock(
    tmp_path: Path,
) -> None:
    """A second writer asks SQLite only once the first has committed, so it never sleeps in
    SQLite's busy handler (which retries after 1, 2, 5 ... 100 ms, long after the lock is free)."""
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    order: list[str] = []
    first_inside = threading.Event()
    release_first = threading.Event()

    def began(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            order.append(f"begin {threading.current_thread().name}")

    # Two pooled connections opened up front: opening one sets pragmas, which waits too.
    with engine.connect(), engine.connect():
        pass
    event.listen(engine, "before_cursor_execute", began)

    def first() -> None:
        with writing(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            first_inside.set()
            release_first.wait(timeout=10)
        order.append("first committed")

    def second() -> None:
        with writing(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    try:
        a = threading.Thread(target=first, name="first")
        a.start()
        assert first_inside.wait(timeout=10)
        b = threading.Thread(target=second, name="second")
        b.start()
        b.join(timeout=0.5)  # the second writer is waiting, not writing
        release_first.set()
        a.join(timeout=10)
        b.join(timeout=10)
    finally:
        engine.dispose()
    assert order == ["begin first", "first committed", "begin second"]
