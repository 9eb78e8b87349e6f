"""Reading the tombstones of erased customers inside a caller's transaction (domain/privacy.py).

Every path that writes about a customer (an event append, an import, an upsert) asks here
first, so no path can bring an erased customer back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from domain.privacy import CustomerErased, Erasure
from store.schema import erasures

_CHUNK = 500


def _erasure(row: Any) -> Erasure:
    return Erasure.model_validate(dict(row._mapping))


def erasures_among(conn: Connection, ids: Iterable[str]) -> dict[str, Erasure]:
    """The tombstones of those of `ids` that were erased (or are being erased)."""
    wanted = sorted(set(ids))
    found: dict[str, Erasure] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(erasures.c.customer_id, erasures.c.started_at, erasures.c.erased_at).where(
                erasures.c.customer_id.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update({row.customer_id: _erasure(row) for row in rows})
    return found


def refuse_erased(conn: Connection, ids: Iterable[str], what: str) -> None:
    """CustomerErased for the first of `ids` (in order) that has a tombstone."""
    ordered = list(ids)
    found = erasures_among(conn, ordered)
    for customer_id in ordered:
        if customer_id in found:
            raise CustomerErased(found[customer_id], what)
