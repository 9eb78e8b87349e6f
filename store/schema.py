"""The tables, as SQLAlchemy Core metadata; migrations/ must produce exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out, stored as UTC.

    SQLite keeps no offset, so values go in as naive UTC and come back tagged UTC.
    Naive input is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL: binary, indexable; plain JSON text elsewhere.
Document = JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements INTEGER PRIMARY KEY; BIGINT there would stay NULL.
RowId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("email", String(320)),
    Column("phone", String(32)),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("attributes", Document, nullable=False),
    Column("tags", Document, nullable=False),
    Column("consent", Document, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

customer_events = Table(
    "customer_events",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("customer_id", String(128), ForeignKey("customers.customer_id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("properties", Document, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Index(None, "customer_id", "seq"),
    # AUTOINCREMENT: a sequence number is never handed out twice, even after a rollback.
    sqlite_autoincrement=True,
)

journeys = Table(
    "journeys",
    metadata,
    Column("journey_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_changed_at", UTCDateTime(), nullable=False),
    # Paused with --hold-sends: every run of the journey holds its next send until resumed.
    Column("hold_sends", Boolean(), nullable=False, server_default=false()),
)

journey_versions = Table(
    "journey_versions",
    metadata,
    Column("journey_id", String(128), ForeignKey("journeys.journey_id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("checksum", String(64), nullable=False),
    Column("definition", Document, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("entry_id", String(255), primary_key=True),
    Column("workflow_id", String(512), nullable=False, index=True),
    Column("journey_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("correlation_key", String(255)),
    Column("trigger_event_id", String(128)),
    Column("status", String(16), nullable=False),
    Column("current_step", String(128)),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("end_reason", Text),
    # NULLs are distinct in a unique constraint: runs without a trigger event never clash.
    UniqueConstraint("journey_id", "trigger_event_id"),
    Index(None, "customer_id", "status"),
    Index(None, "journey_id", "customer_id"),
    # Entry is atomic: one running row per workflow id, whichever process enrolls.
    Index(
        "ux_enrollments_running_workflow",
        "workflow_id",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    Index(None, "journey_id", "status"),
)

journey_step_events = Table(
    "journey_step_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("entry_id", String(255), ForeignKey("enrollments.entry_id"), nullable=False),
    Column("workflow_id", String(512), nullable=False),
    Column("journey_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("seq", Integer, nullable=True),
    # A retried record_steps call carries the same rows; this makes the second one a no-op.
    UniqueConstraint("entry_id", "step_id", "status", "at"),
    # A replayed workflow task notes the same records again with a later `at`, but the same
    # seq. Records from before seq (NULL) never clash here: NULLs are distinct in an index.
    Index(None, "entry_id", "seq", unique=True),
)

# The delivery outbox of the event log: one row per appended event, written in the append's
# transaction and drained per customer in log order (app/delivery.py). `outcome` holds what the
# delivery did (runs started, signalled, skipped and why) once it is done.
event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("seq", RowId, ForeignKey("customer_events.seq"), primary_key=True, autoincrement=False),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("customer_id", String(128), nullable=False),
    # A manual enrollment's event: the journey it enrolls the customer in.
    Column("enroll_journey", String(128)),
    Column("status", String(16), nullable=False),  # pending | done | parked
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("outcome", Document),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
    Index(None, "status", "next_attempt_at"),
    Index(None, "customer_id", "status", "seq"),
)

# Who is delivering a customer's events right now: one holder at a time keeps log order.
delivery_leases = Table(
    "delivery_leases",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("idempotency_key", String(512), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("journey_id", String(128)),
    Column("workflow_id", String(512)),
    Column("step_id", String(128)),
    Column("channel", String(16), nullable=False),
    Column("template", String(200), nullable=False),
    Column("recipient", String(320)),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("provider_message_id", String(255)),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Index(None, "customer_id", "requested_at"),
    Index(None, "requested_at"),
    Index(None, "status", "requested_at"),
)

# A projection of the event log (store/projections.py): rebuilt whole, never edited in place.
customer_metrics = Table(
    "customer_metrics",
    metadata,
    Column("customer_id", String(128), ForeignKey("customers.customer_id"), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("revenue", Numeric(14, 2, asdecimal=False), nullable=False),
    Column("items", Integer, nullable=False),
    Column("first_order_at", UTCDateTime()),
    Column("last_order_at", UTCDateTime()),
    Column("recency_days", Integer),
    Column("mean_interval_days", Float),
    Column("r_score", SmallInteger),
    Column("f_score", SmallInteger),
    Column("m_score", SmallInteger),
    Column("tier", String(8)),
    Column("stage", String(16), nullable=False),
    Column("churn_risk", Boolean(create_constraint=False), nullable=False),
    Column("churn_reasons", Document, nullable=False),
    Index(None, "stage", "tier"),
    Index(None, "as_of"),
)

# --- messaging: frequency-cap claims, every send decision, the suppression list ----------------

# One row per message that a frequency cap counted (its send went ahead); the key makes a
# retried activity reuse its claim. Claims are made under a per-customer lock.
send_claims = Table(
    "send_claims",
    metadata,
    Column("idempotency_key", String(512), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "customer_id", "at"),
)

# Every decision about a message (sent, deferred, skipped, suppressed, failed) with its reason.
send_decisions = Table(
    "send_decisions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    # key|decision|until: a retried activity records the same decision once.
    Column("decision_key", String(700), nullable=False, unique=True),
    Column("idempotency_key", String(512), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("journey_id", String(128)),
    Column("step_id", String(128)),
    Column("channel", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("decision", String(16), nullable=False),
    # The eligibility rule behind the decision (domain/eligibility.py), NULL for none.
    Column("rule", String(32)),
    Column("reason", Text, nullable=False),
    Column("until", UTCDateTime()),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "customer_id", "at"),
    Index(None, "journey_id", "decision"),
    Index(None, "at"),
    Index(None, "decision", "at"),
)

# Addresses never to send to: hard bounces (every category), complaints (marketing).
suppressions = Table(
    "suppressions",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("reason", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- support: complaint cases (a projection of each case workflow's state) ---------------------

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("customer_id", String(128), ForeignKey("customers.customer_id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("summary", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("assignee", String(64)),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("first_response_due", UTCDateTime(), nullable=False),
    Column("resolution_due", UTCDateTime(), nullable=False),
    Column("first_response_at", UTCDateTime()),
    Column("resolved_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("state", Document, nullable=False),
    Index(None, "customer_id", "status"),
    Index(None, "status", "queue"),
    Index(None, "assignee"),
)

# --- support: callback tasks and surveys ------------------------------------------------------

callbacks = Table(
    "callbacks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("customer_id", String(128), ForeignKey("customers.customer_id"), nullable=False),
    Column("journey_id", String(128)),
    Column("workflow_id", String(512)),
    Column("step_id", String(128)),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("escalated", Boolean(create_constraint=False), nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_at", UTCDateTime()),
    Column("outcome", String(32)),
    Column("notes", Text, nullable=False),
    Column("call_back_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Column("context", Document, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "queue", "status", "due_at"),
    Index(None, "status", "due_at"),
)

surveys = Table(
    "surveys",
    metadata,
    Column("survey_id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("customer_id", String(128), ForeignKey("customers.customer_id"), nullable=False),
    Column("journey_id", String(128)),
    Column("workflow_id", String(512)),
    Column("step_id", String(128)),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("score", SmallInteger),
    Column("comment", Text, nullable=False),
    Column("answered_at", UTCDateTime()),
    Index(None, "journey_id", "answered_at"),
)

# --- privacy: the tombstones of erased customers ------------------------------------------------

# One row per erased customer (domain/privacy.py): while it stands, the customer's events,
# upserts and enrollments are refused. `erased_at` is NULL while the erasure is under way.
erasures = Table(
    "erasures",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("erased_at", UTCDateTime()),
    Column("summary", Document, nullable=False),
)

# --- access: API keys and the audit log ---------------------------------------------------------

# One row per key ever created; the key itself is never stored, only its SHA-256. A revoked
# key keeps its row (and its name: audit entries name it), with `revoked_at` set.
api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

# Append-only: rows are inserted and read, never updated or deleted.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(512), nullable=False),
    Column("address", String(64)),
    Column("details", Document, nullable=False),
    Index(None, "actor", "seq"),
    Index(None, "action", "seq"),
    Index(None, "at"),
    sqlite_autoincrement=True,
)

# Console sign-ins: the cookie holds a random token, the row only its SHA-256. A row is the
# whole session: who signed in (a key's name and role), its CSRF token, and when it ends.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("address", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "expires_at"),
)

# Broadcasts (domain/broadcasts.py): one row per name; the journey they publish holds the
# template, the enrollment run (workflow_id) does the sending.
broadcasts = Table(
    "broadcasts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("journey_id", String(128), nullable=False, unique=True),
    Column("workflow_id", String(512), nullable=False),
    Column("segment", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("template", Text, nullable=False),
    Column("scheduled_at", UTCDateTime()),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime()),
)
