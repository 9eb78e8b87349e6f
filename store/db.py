"""Engines and transactions: SQLite (file or memory) and PostgreSQL behave the same to callers."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from store.errors import StoreError

T = TypeVar("T")

# The process's one SQLite writer at a time (see `writing`), and how long a writer waits for it.
_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
WRITER_WAIT_SECONDS = 10.0

# Execution option telling the SQLite BEGIN hook that a transaction only reads.
_READ_ONLY = "journeys_read_only"


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    # psycopg 3 is the one PostgreSQL driver we install; plain URLs would pick psycopg2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and explicit BEGIN handling."""
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise StoreError(
        f"unsupported database URL {parsed.render_as_string()!r} (sqlite or postgresql)"
    )


def create_private(path: Path) -> None:
    """Create `path` (and its folder) readable by its owner only, unless it exists already.

    The store holds customers' addresses and history; SQLite gives its -wal and -shm files the
    database file's permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if _is_memory(url):
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        database = url.database or ""
        if not database.startswith("file:"):
            create_private(Path(database).expanduser().resolve())
        kwargs.update(pool_size=8, max_overflow=16)
    engine = create_engine(url, **kwargs)
    _writers[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling skips BEGIN for SELECT and DDL; we emit it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction can then
        # never fail half way with SQLITE_BUSY, and writers queue on busy_timeout instead.
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One short read-write transaction, committed on success.

    On SQLite the process's writers queue on one lock before they ask SQLite for its write
    lock: SQLite's busy handler sleeps between retries (1, 2, 5 ... up to 100 ms), so writers
    that find the lock taken used to wake long after it was free (a tenth of a 3-step
    journey's time, scripts/bench.py); a thread waiting on this lock wakes the moment the
    writer before it commits. Writers in other processes still queue on busy_timeout.
    """
    writer = _writers.get(engine)
    if writer is None:
        with engine.begin() as conn:
            yield conn
        return
    # Past the wait SQLite's own busy handling decides (a nested write in one thread, say).
    held = writer.acquire(timeout=WRITER_WAIT_SECONDS)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        if held:
            writer.release()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One short read-only transaction (a consistent snapshot on both backends)."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        yield conn


def insert_ignoring(conn: Connection, table: Table, *index_elements: str) -> Insert:
    """INSERT that silently skips rows violating a unique constraint (the given one, or any).

    Unlike SQLite's INSERT OR IGNORE this still fails on NOT NULL and foreign keys.
    """
    name = conn.dialect.name
    elements = list(index_elements) or None
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=elements)
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=elements)
    raise StoreError(f"unsupported database dialect {name!r}")


def retrying(action: Callable[[], T], attempts: int = 5) -> T:
    """Run `action` again when a concurrent writer won a unique constraint or a lock."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (IntegrityError, OperationalError):
            if attempt == attempts:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")
