"""Schema upgrades at start-up: Alembic to head, safe when several processes start at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from store.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# pg_advisory_lock key shared by every process migrating this database ("journeys" in ASCII).
_LOCK_KEY = int.from_bytes(b"journeys", "big")
# Alembic keeps the running migration in module globals, so one upgrade per process at a time.
_IN_PROCESS = threading.Lock()


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest revision (no-op when it is already there)."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Like `upgrade`, on an existing engine (needed for in-memory SQLite)."""
    with _IN_PROCESS, engine.connect() as conn, _migration_lock(conn):
        command.upgrade(alembic_config(connection=conn), revision)
        conn.commit()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    # PostgreSQL: two first upgrades would both try CREATE TABLE alembic_version. SQLite
    # needs nothing more: the migration runs inside BEGIN IMMEDIATE, which serialises.
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
        conn.commit()
