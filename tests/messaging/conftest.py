"""Messaging fixtures: the store fixtures (SQLite, and PostgreSQL when configured) and the API
stack (a real Temporal dev server, worker and store) of the API tests."""

from __future__ import annotations

from tests.api.conftest import stack
from tests.store.conftest import backend_url, customer, postgres_session_url, store

__all__ = ["backend_url", "customer", "postgres_session_url", "stack", "store"]
