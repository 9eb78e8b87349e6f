"""Store fixtures: every test runs on SQLite, and on PostgreSQL when one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.customers import CustomerUpsert
from store.schema import metadata
from store.store import Store
from tests.pg import ENV_VAR, fresh_postgres_url, postgres_test_url

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

_needs_postgres = pytest.mark.skipif(postgres_test_url() is None, reason=f"{ENV_VAR} is not set")
BACKENDS = ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, _needs_postgres])]


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """One fresh, migrated database for the whole session; tests empty it before use."""
    with fresh_postgres_url() as url:
        Store.open(url).close()
        yield url


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database URL on the parametrized backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/store.sqlite3"
    url: str = request.getfixturevalue("postgres_session_url")
    store = Store.open(url, migrate=False)
    try:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        with store.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        store.close()
    return url


@pytest.fixture
def store(backend_url: str) -> Iterator[Store]:
    opened = Store.open(backend_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def customer(store: Store) -> str:
    """The id of one existing customer."""
    store.customers.upsert(CustomerUpsert(customer_id="c-1", email="ada@example.com"), T0)
    return "c-1"
