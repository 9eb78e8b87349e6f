"""What the console's cases, callbacks and messages pages read: keyset pages over the store
(store/console_support.py) with the clock they are read against. Changes go through the
services the API and CLI use (CaseService, SupportService), never through here."""

from __future__ import annotations

from datetime import UTC, datetime

from store.console_support import ConsoleSupportReads
from store.store import Store


class SupportReads(ConsoleSupportReads):
    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
