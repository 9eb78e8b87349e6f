"""Customer metrics: the projection of the event log behind tiers, stages and segments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Types are spelled out here, not imported from store/schema.py (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customer_metrics",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(14, 2, asdecimal=False), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recency_days", sa.Integer(), nullable=True),
        sa.Column("mean_interval_days", sa.Float(), nullable=True),
        sa.Column("r_score", sa.SmallInteger(), nullable=True),
        sa.Column("f_score", sa.SmallInteger(), nullable=True),
        sa.Column("m_score", sa.SmallInteger(), nullable=True),
        sa.Column("tier", sa.String(8), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("churn_risk", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("churn_reasons", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_customer_metrics_customer_id_customers",
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_metrics"),
    )
    op.create_index("ix_customer_metrics_stage_tier", "customer_metrics", ["stage", "tier"])


def downgrade() -> None:
    op.drop_index("ix_customer_metrics_stage_tier", table_name="customer_metrics")
    op.drop_table("customer_metrics")
