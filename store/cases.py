"""Complaint cases as the store keeps them: the last state each case workflow recorded."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from domain.cases import CaseState
from store.customers import lock_customers
from store.db import insert_ignoring, reading, writing
from store.schema import cases
from store.tombstones import refuse_erased

_COLUMNS = (
    "customer_id",
    "channel",
    "category",
    "severity",
    "summary",
    "status",
    "queue",
    "assignee",
    "opened_at",
    "first_response_due",
    "resolution_due",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


def _values(state: CaseState) -> dict[str, Any]:
    values = {column: getattr(state, column) for column in _COLUMNS}
    return values | {"state": state.model_dump(mode="json")}


class CaseRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, state: CaseState, conn: Connection | None = None) -> None:
        """Insert or replace the case's row with this state (a retry writes the same).

        Given `conn`, the write joins the caller's transaction. CustomerErased, and nothing
        written, when the customer has a tombstone. The customer's row lock comes first, the
        one the erasure's tombstone takes (PostgreSQL; SQLite has one writer at a time): a case
        saved without a tombstone is committed before the tombstone, so the erasure finds it
        in the store and ends its workflow; one saved after is refused.
        """
        if conn is None:
            with writing(self._engine) as own:
                self.save(state, own)
            return
        lock_customers(conn, [state.customer_id])
        refuse_erased(conn, [state.customer_id], "a case is")
        inserted = conn.execute(
            insert_ignoring(conn, cases, "case_id")
            .values(case_id=state.case_id, **_values(state))
            .returning(cases.c.case_id)
        ).first()
        if inserted is None:
            conn.execute(
                update(cases).where(cases.c.case_id == state.case_id).values(_values(state))
            )

    def get(self, case_id: str) -> CaseState | None:
        with reading(self._engine) as conn:
            row = conn.execute(select(cases.c.state).where(cases.c.case_id == case_id)).first()
            return None if row is None else CaseState.model_validate(row.state)

    def list(
        self,
        status: str | None = None,
        queue: str | None = None,
        customer_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[CaseState]:
        c = cases.c
        query = select(c.state).order_by(c.opened_at.desc()).limit(limit)
        for column, value in ((c.status, status), (c.queue, queue), (c.customer_id, customer_id)):
            if value is not None:
                query = query.where(column == value)
        with reading(self._engine) as conn:
            return [CaseState.model_validate(row.state) for row in conn.execute(query)]

    def open_for(self, customer_id: str) -> builtins.list[str]:
        """Ids of the customer's open (unresolved) cases."""
        c = cases.c
        with reading(self._engine) as conn:
            return list(
                conn.scalars(
                    select(c.case_id).where(c.customer_id == customer_id, c.status == "open")
                )
            )
