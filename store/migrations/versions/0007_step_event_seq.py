"""Step records carry their per-entry sequence number, unique per entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A workflow task that is retried notes its steps again with a new time; the sequence number is
the same, so the store keeps one row. Existing rows keep seq NULL (never clashing).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("journey_step_events", sa.Column("seq", sa.Integer(), nullable=True))
    op.create_index(
        "ix_journey_step_events_entry_id_seq",
        "journey_step_events",
        ["entry_id", "seq"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_journey_step_events_entry_id_seq", table_name="journey_step_events")
    with op.batch_alter_table("journey_step_events") as batch:
        batch.drop_column("seq")
