"""Support-step tests get a time-skipping server each (see tests/cases/conftest.py), and the
store fixtures (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from tests.cases.conftest import time_skipping_env
from tests.store.conftest import backend_url, customer, postgres_session_url, store

__all__ = ["backend_url", "customer", "postgres_session_url", "store", "time_skipping_env"]
