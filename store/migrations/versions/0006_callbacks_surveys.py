"""Callback tasks and surveys (issue 4).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Types are spelled out here, not imported from store/schema.py (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=True),
        sa.Column("workflow_id", sa.String(512), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalated", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("call_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("context", JSON_DOC, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="fk_callbacks_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("task_id", name="pk_callbacks"),
    )
    op.create_index("ix_callbacks_queue_status_due_at", "callbacks", ["queue", "status", "due_at"])
    op.create_table(
        "surveys",
        sa.Column("survey_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=True),
        sa.Column("workflow_id", sa.String(512), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="fk_surveys_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("survey_id", name="pk_surveys"),
    )
    op.create_index("ix_surveys_journey_id_answered_at", "surveys", ["journey_id", "answered_at"])


def downgrade() -> None:
    op.drop_index("ix_surveys_journey_id_answered_at", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_callbacks_queue_status_due_at", table_name="callbacks")
    op.drop_table("callbacks")
