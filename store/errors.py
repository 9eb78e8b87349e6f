"""Errors the store raises for things callers asked about that do not exist."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class UnknownCustomer(StoreError):
    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(
            f"unknown customer {customer_id!r}: create it with a customer upsert first"
        )


class UnknownJourney(StoreError):
    def __init__(self, journey_id: str) -> None:
        self.journey_id = journey_id
        super().__init__(f"unknown journey {journey_id!r}: it has never been published")


class UnknownEnrollment(StoreError):
    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"unknown enrollment {entry_id!r}: no run was enrolled with this entry id")


class UnknownMessage(StoreError):
    def __init__(self, idempotency_key: str) -> None:
        self.idempotency_key = idempotency_key
        super().__init__(f"unknown outbox message {idempotency_key!r}: it was never reserved")
