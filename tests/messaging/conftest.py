"""Messaging fixtures: the store fixtures (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from tests.store.conftest import backend_url, customer, postgres_session_url, store

__all__ = ["backend_url", "customer", "postgres_session_url", "store"]
