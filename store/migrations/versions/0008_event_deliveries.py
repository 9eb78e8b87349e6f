"""The event log drives the runs: a delivery outbox per event, per-customer leases, and one
running row per workflow id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Events logged before this revision were delivered (or not) by the requests that carried them;
they get no delivery row. Before the unique index is built, a workflow id with several running
rows (concurrent enrollments could leave them) keeps its newest; the others are marked failed
with the reason, since no workflow backs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types are spelled out here, not imported from store/schema.py (see 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUPLICATES = """
UPDATE enrollments SET status = 'failed', ended_at = entered_at,
    end_reason = 'duplicate running row of one workflow (before migration 0008)'
WHERE status = 'running' AND EXISTS (
    SELECT 1 FROM enrollments newer
    WHERE newer.workflow_id = enrollments.workflow_id AND newer.status = 'running'
      AND (newer.entered_at > enrollments.entered_at
           OR (newer.entered_at = enrollments.entered_at AND newer.entry_id > enrollments.entry_id))
)
"""


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column("seq", RowId, autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("enroll_journey", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("outcome", Document),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("seq", name="pk_event_deliveries"),
        sa.ForeignKeyConstraint(
            ["seq"], ["customer_events.seq"], name="fk_event_deliveries_seq_customer_events"
        ),
        sa.UniqueConstraint("event_id", name="uq_event_deliveries_event_id"),
    )
    op.create_index(
        "ix_event_deliveries_status_next_attempt_at",
        "event_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_event_deliveries_customer_id_status_seq",
        "event_deliveries",
        ["customer_id", "status", "seq"],
    )
    op.create_table(
        "delivery_leases",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_delivery_leases"),
    )
    op.execute(_DUPLICATES)
    op.create_index(
        "ux_enrollments_running_workflow",
        "enrollments",
        ["workflow_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ux_enrollments_running_workflow", table_name="enrollments")
    op.drop_table("delivery_leases")
    op.drop_index("ix_event_deliveries_customer_id_status_seq", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_status_next_attempt_at", table_name="event_deliveries")
    op.drop_table("event_deliveries")
