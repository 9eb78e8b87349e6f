"""Tombstones of erased customers: their events, upserts and enrollments are refused.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-10

One row per customer whose erasure began (domain/privacy.py); `erased_at` stays NULL until
the store has been scrubbed, so an erasure interrupted part-way is finished by erasing again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types are spelled out here, not imported from store/schema.py (see 0001).
Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.Column("summary", Document, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_erasures"),
    )


def downgrade() -> None:
    op.drop_table("erasures")
