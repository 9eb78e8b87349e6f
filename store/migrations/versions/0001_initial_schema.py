"""Initial schema: customers, the event log, journeys and versions, runs, step log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written against store/schema.py as it stood; types are spelled out here, not imported,
so later edits to the schema module cannot change what this revision creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("attributes", JSON_DOC, nullable=False),
        sa.Column("tags", JSON_DOC, nullable=False),
        sa.Column("consent", JSON_DOC, nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
    )
    op.create_table(
        "customer_events",
        sa.Column("seq", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", _timestamp(), nullable=False),
        sa.Column("properties", JSON_DOC, nullable=False),
        sa.Column("received_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_customer_events_customer_id_customers",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_customer_events"),
        sa.UniqueConstraint("event_id", name="uq_customer_events_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_customer_events_customer_id_seq", "customer_events", ["customer_id", "seq"])

    op.create_table(
        "journeys",
        sa.Column("journey_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_changed_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", name="pk_journeys"),
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("definition", JSON_DOC, nullable=False),
        sa.Column("published_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.journey_id"], name="fk_journey_versions_journey_id_journeys"
        ),
        sa.PrimaryKeyConstraint("journey_id", "version", name="pk_journey_versions"),
    )

    op.create_table(
        "enrollments",
        sa.Column("entry_id", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(512), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("correlation_key", sa.String(255), nullable=True),
        sa.Column("trigger_event_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.String(128), nullable=True),
        sa.Column("entered_at", _timestamp(), nullable=False),
        sa.Column("ended_at", _timestamp(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name="pk_enrollments"),
        sa.UniqueConstraint(
            "journey_id", "trigger_event_id", name="uq_enrollments_journey_id_trigger_event_id"
        ),
    )
    op.create_index("ix_enrollments_workflow_id", "enrollments", ["workflow_id"])
    op.create_index("ix_enrollments_customer_id_status", "enrollments", ["customer_id", "status"])
    op.create_index(
        "ix_enrollments_journey_id_customer_id", "enrollments", ["journey_id", "customer_id"]
    )

    op.create_table(
        "journey_step_events",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(512), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["enrollments.entry_id"],
            name="fk_journey_step_events_entry_id_enrollments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journey_step_events"),
        sa.UniqueConstraint(
            "entry_id",
            "step_id",
            "status",
            "at",
            name="uq_journey_step_events_entry_id_step_id_status_at",
        ),
    )

    op.create_table(
        "outbox",
        sa.Column("idempotency_key", sa.String(512), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("journey_id", sa.String(128), nullable=True),
        sa.Column("workflow_id", sa.String(512), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("requested_at", _timestamp(), nullable=False),
        sa.Column("sent_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_outbox"),
    )
    op.create_index("ix_outbox_customer_id_requested_at", "outbox", ["customer_id", "requested_at"])
    op.create_index("ix_outbox_requested_at", "outbox", ["requested_at"])
    op.create_index("ix_outbox_status_requested_at", "outbox", ["status", "requested_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("journey_step_events")
    op.drop_table("enrollments")
    op.drop_table("journey_versions")
    op.drop_table("journeys")
    op.drop_table("customer_events")
    op.drop_table("customers")
