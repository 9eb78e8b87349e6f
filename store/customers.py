"""Customer profiles: create-or-merge upserts, lookups, and attribute/tag updates."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from domain.customers import CustomerProfile, CustomerUpsert
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownCustomer
from store.schema import customers
from store.tombstones import refuse_erased

# Keeps IN lists well under SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 5000


def _profile(row: Any) -> CustomerProfile:
    return CustomerProfile.model_validate(dict(row._mapping))


def _values(profile: CustomerProfile) -> dict[str, Any]:
    # JSON mode so attribute values such as dates become what the JSON column can hold.
    values = profile.model_dump(mode="json", exclude={"metrics"})
    return values | {"created_at": profile.created_at, "updated_at": profile.updated_at}


def _locked(conn: Connection, customer_id: str) -> CustomerProfile | None:
    # FOR NO KEY UPDATE: serialises writers of this row without blocking event inserts,
    # whose foreign key only takes a KEY SHARE lock. SQLite ignores it (BEGIN IMMEDIATE).
    row = conn.execute(
        select(customers)
        .where(customers.c.customer_id == customer_id)
        .with_for_update(key_share=True)
    ).first()
    return None if row is None else _profile(row)


def missing_in(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of `ids` name no customer, seen from inside the caller's transaction."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            conn.scalars(select(customers.c.customer_id).where(customers.c.customer_id.in_(chunk)))
        )
    return set(wanted) - found


def lock_customers(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Lock the customers' rows for this transaction (sorted: one lock order); the unknown ids.

    Appends to one customer's log then commit in the order of their sequence numbers, so a
    reader by position never sees a later event of the customer before an earlier one.
    SQLite has one writer at a time already.
    """
    wanted = sorted(set(ids))
    if conn.dialect.name != "postgresql":
        return missing_in(conn, wanted)
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            conn.scalars(
                select(customers.c.customer_id)
                .where(customers.c.customer_id.in_(chunk))
                .order_by(customers.c.customer_id)
                .with_for_update()
            )
        )
    return set(wanted) - found


class CustomerRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def upsert(
        self, change: CustomerUpsert, now: datetime, conn: Connection | None = None
    ) -> CustomerProfile:
        """Create the customer with defaults plus `change`, or merge `change` into it.

        Given `conn`, the upsert joins the caller's transaction.
        """
        if conn is None:
            with writing(self._engine) as own:
                return self.upsert(change, now, own)
        refuse_erased(conn, [change.customer_id], "an upsert is")
        blank = CustomerProfile(customer_id=change.customer_id, created_at=now, updated_at=now)
        # Insert-if-absent first, then lock: concurrent upserts of one new id then
        # queue on the row lock and each merges into the other's result.
        conn.execute(insert_ignoring(conn, customers, "customer_id").values(_values(blank)))
        current = _locked(conn, change.customer_id)
        assert current is not None
        merged = current.merged(change).model_copy(
            update={"created_at": current.created_at, "updated_at": now}
        )
        conn.execute(
            update(customers)
            .where(customers.c.customer_id == change.customer_id)
            .values(_values(merged))
        )
        return merged

    def get(self, customer_id: str, conn: Connection | None = None) -> CustomerProfile | None:
        """The profile; given `conn`, as the caller's transaction sees it."""
        if conn is None:
            with reading(self._engine) as own:
                return self.get(customer_id, own)
        row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
        return None if row is None else _profile(row)

    def exists(self, customer_id: str) -> bool:
        return not self.missing([customer_id])

    def missing(self, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` that name no customer."""
        with reading(self._engine) as conn:
            return missing_in(conn, ids)

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[CustomerProfile]:
        """Customers ordered by id."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(customers).order_by(customers.c.customer_id).limit(limit).offset(offset)
            )
            return [_profile(row) for row in rows]

    def set_attributes(
        self,
        customer_id: str,
        attributes: dict[str, Any],
        add_tags: builtins.list[str],
        remove_tags: builtins.list[str],
        now: datetime,
    ) -> CustomerProfile:
        """Merge `attributes` in key by key; add then remove tags (order kept, no repeats)."""
        with writing(self._engine) as conn:
            current = _locked(conn, customer_id)
            if current is None:
                raise UnknownCustomer(customer_id)
            refuse_erased(conn, [customer_id], "an attribute change is")
            tags = [*current.tags, *(t for t in dict.fromkeys(add_tags) if t not in current.tags)]
            dropped = set(remove_tags)
            changed = current.model_copy(
                update={
                    "attributes": {**current.attributes, **attributes},
                    "tags": [t for t in tags if t not in dropped],
                    "updated_at": now,
                }
            )
            conn.execute(
                update(customers)
                .where(customers.c.customer_id == customer_id)
                .values(_values(changed))
            )
            return changed
