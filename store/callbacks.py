"""The callback queue. Claiming is one conditional UPDATE (only an unclaimed, unfinished task
changes), so two agents racing for a task cannot both hold it; only the holder completes it."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import Engine, select, update

from domain.callbacks import SUPERVISORS, CallbackTask, Completion, CreateCallback
from store.db import insert_ignoring, reading, writing
from store.schema import callbacks


class CallbackRefused(ValueError):
    """A claim or completion the task's state does not allow (nothing was changed)."""


class UnknownCallback(LookupError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"unknown callback task {task_id!r}")


class CallbackRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, request: CreateCallback) -> CallbackTask:
        """Create the task once; a retried create returns the first one."""
        values = request.model_dump() | {"status": "open", "escalated": False, "notes": ""}
        with writing(self._engine) as conn:
            conn.execute(insert_ignoring(conn, callbacks, "task_id").values(values))
        task = self.get(request.task_id)
        assert task is not None
        return task

    def get(self, task_id: str) -> CallbackTask | None:
        with reading(self._engine) as conn:
            row = conn.execute(select(callbacks).where(callbacks.c.task_id == task_id)).first()
            return None if row is None else CallbackTask.model_validate(dict(row._mapping))

    def list(
        self, queue: str | None = None, agent: str | None = None, include_done: bool = False
    ) -> builtins.list[CallbackTask]:
        """By due time, soonest (most overdue) first."""
        c = callbacks.c
        query = select(callbacks).order_by(c.due_at, c.task_id)
        if queue is not None:
            query = query.where(c.queue == queue)
        if agent is not None:
            query = query.where(c.claimed_by == agent)
        if not include_done:
            query = query.where(c.status != "done")
        with reading(self._engine) as conn:
            return [CallbackTask.model_validate(dict(row._mapping)) for row in conn.execute(query)]

    def claim(self, task_id: str, agent: str, now: datetime) -> CallbackTask:
        c = callbacks.c
        with writing(self._engine) as conn:
            claimed = conn.execute(
                update(callbacks)
                .where(c.task_id == task_id, c.status == "open", c.claimed_by.is_(None))
                .values(status="claimed", claimed_by=agent, claimed_at=now)
                .returning(c.task_id)
            ).first()
        task = self.get(task_id)
        if task is None:
            raise UnknownCallback(task_id)
        if claimed is None and task.claimed_by != agent:
            holder = f"claimed by {task.claimed_by}" if task.claimed_by else task.status
            raise CallbackRefused(f"callback {task_id} is {holder}")
        return task

    def complete(self, task_id: str, completion: Completion, now: datetime) -> CallbackTask:
        c = callbacks.c
        with writing(self._engine) as conn:
            done = conn.execute(
                update(callbacks)
                .where(
                    c.task_id == task_id,
                    c.status == "claimed",
                    c.claimed_by == completion.agent,
                )
                .values(
                    status="done",
                    outcome=completion.outcome,
                    notes=completion.notes,
                    call_back_at=completion.call_back_at,
                    completed_at=now,
                )
                .returning(c.task_id)
            ).first()
        task = self.get(task_id)
        if task is None:
            raise UnknownCallback(task_id)
        if done is None:
            if task.status == "done":
                raise CallbackRefused(f"callback {task_id} is already completed ({task.outcome})")
            if task.claimed_by is None:
                raise CallbackRefused(f"callback {task_id} is not claimed: claim it first")
            raise CallbackRefused(
                f"callback {task_id} is claimed by {task.claimed_by}, not {completion.agent}"
            )
        return task

    def escalate(self, task_id: str) -> CallbackTask | None:
        """Flag an overdue task and move it to the supervisors' queue (unless it is done)."""
        c = callbacks.c
        with writing(self._engine) as conn:
            conn.execute(
                update(callbacks)
                .where(c.task_id == task_id, c.status != "done")
                .values(escalated=True, queue=SUPERVISORS)
            )
        return self.get(task_id)
