"""Throwaway PostgreSQL databases for tests, created next to JOURNEYS_TEST_POSTGRES_URL.

Unset, the URL defaults to the machine's local server (127.0.0.1:5432, database `test`) when
one answers there, so `make test` covers the PostgreSQL path wherever PostgreSQL runs; set the
variable to an empty string to skip those tests.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

ENV_VAR = "JOURNEYS_TEST_POSTGRES_URL"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_test_url() -> str | None:
    """The server tests may use, or None when PostgreSQL tests should be skipped."""
    if ENV_VAR in os.environ:
        return os.environ[ENV_VAR] or None
    return LOCAL_URL if _local_server_answers() else None


@contextmanager
def fresh_postgres_url(base_url: str | None = None) -> Iterator[str]:
    """Create an empty database journeys_t_<random>, yield its URL, drop it afterwards."""
    base = base_url or postgres_test_url()
    if base is None:
        raise RuntimeError(f"set {ENV_VAR} to a PostgreSQL URL to run PostgreSQL tests")
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"journeys_t_{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
