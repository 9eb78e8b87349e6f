"""Messaging: frequency-cap claims, send decisions and the suppression list (issue 3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Types are spelled out here, not imported from store/schema.py (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_claims",
        sa.Column("idempotency_key", sa.String(512), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_send_claims"),
    )
    op.create_index("ix_send_claims_customer_id_at", "send_claims", ["customer_id", "at"])
    op.create_table(
        "send_decisions",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("decision_key", sa.String(700), nullable=False),
        sa.Column("idempotency_key", sa.String(512), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_send_decisions"),
        sa.UniqueConstraint("decision_key", name="uq_send_decisions_decision_key"),
    )
    op.create_index("ix_send_decisions_customer_id_at", "send_decisions", ["customer_id", "at"])
    op.create_index(
        "ix_send_decisions_journey_id_decision", "send_decisions", ["journey_id", "decision"]
    )
    op.create_table(
        "suppressions",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address", name="pk_suppressions"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_send_decisions_journey_id_decision", table_name="send_decisions")
    op.drop_index("ix_send_decisions_customer_id_at", table_name="send_decisions")
    op.drop_table("send_decisions")
    op.drop_index("ix_send_claims_customer_id_at", table_name="send_claims")
    op.drop_table("send_claims")
