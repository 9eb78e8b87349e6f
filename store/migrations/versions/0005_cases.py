"""Complaint cases (issue 4): the projection of each case workflow's state.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25

Types are spelled out here, not imported from store/schema.py (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="fk_cases_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
    )
    op.create_index("ix_cases_customer_id_status", "cases", ["customer_id", "status"])
    op.create_index("ix_cases_status_queue", "cases", ["status", "queue"])


def downgrade() -> None:
    op.drop_index("ix_cases_status_queue", table_name="cases")
    op.drop_index("ix_cases_customer_id_status", table_name="cases")
    op.drop_table("cases")
