"""Indexes the console's lists and overview read by: send decisions by time and decision,
the newest projection date, runs per journey and status, the callback queue across queues,
and cases by assignee.

Not customer_events(type, occurred_at): without ANALYZE statistics SQLite then plans the
projection rebuild's self-join of orders through it, once per customer (the CDNOW rebuild went
from 1 s to minutes).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("send_decisions", ("at",)),
    ("send_decisions", ("decision", "at")),
    ("customer_metrics", ("as_of",)),
    ("enrollments", ("journey_id", "status")),
    ("callbacks", ("status", "due_at")),
    ("cases", ("assignee",)),
)


def _name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, columns in INDEXES:
        op.create_index(_name(table, columns), table, list(columns))


def downgrade() -> None:
    for table, columns in reversed(INDEXES):
        op.drop_index(_name(table, columns), table_name=table)
