"""Engine set-up: SQLite pragmas and paths, the PostgreSQL driver, unsupported URLs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from domain.customers import CustomerUpsert
from store.db import make_engine
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
