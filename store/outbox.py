"""The outbox: one row per idempotency key, so a retried send finds the first attempt."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import Engine, select, update

from domain.messages import MessageStatus, OutboxMessage
from store.customers import lock_customers
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownMessage
from store.schema import outbox
from store.tombstones import refuse_erased

_STATUSES = frozenset(get_args(MessageStatus))


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage.model_validate(dict(row._mapping))


def _newest_first() -> Any:
    return select(outbox).order_by(outbox.c.requested_at.desc(), outbox.c.idempotency_key.desc())


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reserve(self, msg: OutboxMessage) -> tuple[OutboxMessage, bool]:
        """Store `msg` if its key is new: (msg, True); else (the stored message, False).

        CustomerErased, and nothing stored, when the customer has a tombstone: checked in the
        same transaction, so a send that reaches the outbox after an erasure began keeps no
        address or body (the erasure writes its tombstone before it ends the workflows). The
        customer's row lock comes first, the one the erasure's tombstone and scrub take
        (PostgreSQL; SQLite has one writer at a time): a reservation that found no tombstone
        commits before the tombstone can, so the scrub sees its row."""
        with writing(self._engine) as conn:
            lock_customers(conn, [msg.customer_id])
            refuse_erased(conn, [msg.customer_id], "a message")
            # RETURNING, not rowcount: psycopg reports -1 for INSERT .. ON CONFLICT here.
            inserted = conn.execute(
                insert_ignoring(conn, outbox, "idempotency_key")
                .values(msg.model_dump(mode="python"))
                .returning(outbox.c.idempotency_key)
            ).first()
            if inserted is not None:
                return msg, True
            # On PostgreSQL ON CONFLICT waited for the winner to commit, so its row is visible.
            row = conn.execute(
                select(outbox).where(outbox.c.idempotency_key == msg.idempotency_key)
            ).one()
            return _message(row), False

    def mark(
        self,
        idempotency_key: str,
        status: str,
        *,
        detail: str = "",
        provider_message_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> OutboxMessage:
        """Record what became of a message (status is one of MessageStatus)."""
        if status not in _STATUSES:
            raise ValueError(f"status {status!r} is not one of {sorted(_STATUSES)}")
        with writing(self._engine) as conn:
            row = conn.execute(
                update(outbox)
                .where(outbox.c.idempotency_key == idempotency_key)
                .values(
                    status=status,
                    detail=detail,
                    provider_message_id=provider_message_id,
                    sent_at=sent_at,
                )
                .returning(*outbox.c)
            ).first()
            if row is None:
                raise UnknownMessage(idempotency_key)
            return _message(row)

    def transition(
        self,
        idempotency_key: str,
        expected: str,
        status: str,
        *,
        detail: str = "",
        sent_at: datetime | None = None,
    ) -> OutboxMessage | None:
        """Move the row from `expected` to `status` in one committed statement.

        None when the row is not in `expected` (another attempt moved it first), so two
        attempts can never both believe they own the next step.
        """
        if status not in _STATUSES:
            raise ValueError(f"status {status!r} is not one of {sorted(_STATUSES)}")
        with writing(self._engine) as conn:
            row = conn.execute(
                update(outbox)
                .where(outbox.c.idempotency_key == idempotency_key, outbox.c.status == expected)
                .values(status=status, detail=detail, sent_at=sent_at)
                .returning(*outbox.c)
            ).first()
            return None if row is None else _message(row)

    def get(self, idempotency_key: str) -> OutboxMessage | None:
        with reading(self._engine) as conn:
            row = conn.execute(
                select(outbox).where(outbox.c.idempotency_key == idempotency_key)
            ).first()
            return None if row is None else _message(row)

    def for_customer(self, customer_id: str, limit: int = 100) -> builtins.list[OutboxMessage]:
        """The customer's messages, newest first."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                _newest_first().where(outbox.c.customer_id == customer_id).limit(limit)
            )
            return [_message(row) for row in rows]

    def list(
        self,
        limit: int = 100,
        status: str | None = None,
        *,
        customer_id: str | None = None,
        journey_id: str | None = None,
        channel: str | None = None,
    ) -> builtins.list[OutboxMessage]:
        """Messages, newest first, filtered by any of status, customer, journey and channel."""
        stmt = _newest_first()
        o = outbox.c
        for column, value in (
            (o.status, status),
            (o.customer_id, customer_id),
            (o.journey_id, journey_id),
            (o.channel, channel),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        with reading(self._engine) as conn:
            return [_message(row) for row in conn.execute(stmt.limit(limit))]
