"""Group commit: writes that many threads ask for at once share one transaction.

A thread that asks while no batch is being written writes at once, alone; the threads that
ask meanwhile queue, and the first of them writes the whole queue in the next transaction
when the one before commits. So one caller alone waits for nothing more than its own
transaction, and a burst (a tenth of the parked runs waking, an audience page's runs all
parking) costs a few transactions instead of one each: SQLite has one writer, and each
transaction pays BEGIN, COMMIT and the wait for the lock.

Each caller gets its own outcome: when a batch fails, its writes are retried one transaction
each, so the one that fails raises in its own caller and the others commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from store.db import writing

T = TypeVar("T")

MAX_BATCH = 256


class Unwritten(RuntimeError):
    """The write was not committed: the thread writing its batch was interrupted."""


@dataclass
class _Ask(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(
        self, engine: Engine, write: Callable[[Connection, T], None], max_batch: int = MAX_BATCH
    ) -> None:
        self._engine = engine
        self._write = write
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ask[T]] = []
        self._busy = False

    def submit(self, item: T) -> None:
        """Write `item` (in a transaction shared with others asking now); raises its error."""
        ask = _Ask(item)
        with self._lock:
            self._queue.append(ask)
            lead = not self._busy
            self._busy = True
        if not lead:
            ask.done.wait()
        if lead or ask.lead:
            self._write_next()
        if ask.error is not None:
            raise ask.error

    def _write_next(self) -> None:
        """Write the queue's head (the caller is its first) and hand on to whoever is next."""
        with self._lock:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        for ask in batch:  # until its transaction commits
            ask.error = Unwritten("the batch holding this write was interrupted")
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
            for ask in batch:
                ask.done.set()

    def _commit(self, batch: list[_Ask[T]]) -> None:
        try:
            self._transaction(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
        for ask in batch:  # one of them failed the batch: each alone, each its own outcome
            try:
                self._transaction([ask])
            except Exception as exc:
                ask.error = exc

    def _transaction(self, asks: list[_Ask[T]]) -> None:
        with writing(self._engine) as conn:
            for ask in asks:
                self._write(conn, ask.item)
        for ask in asks:
            ask.error = None
