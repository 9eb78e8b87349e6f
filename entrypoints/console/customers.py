"""Console pages: customers (being written)."""

from __future__ import annotations

from entrypoints.console.web import console_router

router = console_router()
