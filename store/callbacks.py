"""The callback queue. Claiming is one conditional UPDATE (only an unclaimed, unfinished task
changes), so two agents racing for a task cannot both hold it; only the holder completes it.

"Call back later" completes the task and, in the same transaction, opens its follow-up: due
at the time the customer asked for, in the same queue, with the same context. A journey that
stopped waiting closes its task (expired or cancelled, with the reason), so nobody works it."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from domain.callbacks import (
    ACTIVE,
    SUPERVISORS,
    CallbackTask,
    CloseCallback,
    Completion,
    CreateCallback,
    follow_up_id,
)
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

    def get(self, task_id: str, conn: Connection | None = None) -> CallbackTask | None:
        """The task; given `conn`, as the caller's transaction sees it."""
        if conn is None:
            with reading(self._engine) as own:
                return self.get(task_id, own)
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
            query = query.where(c.status.in_(ACTIVE))
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

    def complete(
        self,
        task_id: str,
        completion: Completion,
        now: datetime,
        conn: Connection | None = None,
    ) -> CallbackTask:
        """Record the outcome (once, by the holder); call_back_later opens the follow-up task.

        A call-back time in the past or too far ahead is refused before anything changes.
        Given `conn`, the completion joins the caller's transaction.
        """
        try:
            completion.check_call_back_at(now)
        except ValueError as exc:
            raise CallbackRefused(str(exc)) from exc
        if conn is None:
            with writing(self._engine) as own:
                return self.complete(task_id, completion, now, own)
        c = callbacks.c
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
        if done is not None and completion.call_back_at is not None:
            self._follow_up(conn, task_id, completion.call_back_at, now)
        task = self.get(task_id, conn)
        if task is None:
            raise UnknownCallback(task_id)
        if done is None:
            if task.status == "done":
                raise CallbackRefused(f"callback {task_id} is already completed ({task.outcome})")
            if task.status not in ACTIVE:
                raise CallbackRefused(f"callback {task_id} is {task.status}: {task.notes}")
            if task.claimed_by is None:
                raise CallbackRefused(f"callback {task_id} is not claimed: claim it first")
            raise CallbackRefused(
                f"callback {task_id} is claimed by {task.claimed_by}, not {completion.agent}"
            )
        return task

    def follow_up(self, task: CallbackTask, conn: Connection | None = None) -> CallbackTask | None:
        """The task opened when `task` was completed with call_back_later, if any."""
        return self.get(follow_up_id(task), conn)

    @staticmethod
    def _follow_up(conn: Connection, task_id: str, due_at: datetime, now: datetime) -> None:
        row = conn.execute(select(callbacks).where(callbacks.c.task_id == task_id)).one()
        earlier = CallbackTask.model_validate(dict(row._mapping))
        keep = ("queue", "reason", "customer_id", "journey_id", "workflow_id", "step_id")
        values = earlier.model_dump(include=set(keep)) | {
            "task_id": follow_up_id(earlier),
            "due_at": due_at,
            "status": "open",
            "escalated": False,
            "notes": "",
            "context": {**earlier.context, "follows": earlier.task_id},
            "created_at": now,
        }
        conn.execute(insert_ignoring(conn, callbacks, "task_id").values(values))

    def escalate(self, task_id: str) -> CallbackTask | None:
        """Flag an overdue task and move it to the supervisors' queue (unless it is finished)."""
        c = callbacks.c
        with writing(self._engine) as conn:
            conn.execute(
                update(callbacks)
                .where(c.task_id == task_id, c.status.in_(ACTIVE))
                .values(escalated=True, queue=SUPERVISORS)
            )
        return self.get(task_id)

    def close(self, request: CloseCallback) -> CallbackTask | None:
        """Expire or cancel a task that is still open or claimed; a finished one stays as is."""
        c = callbacks.c
        with writing(self._engine) as conn:
            conn.execute(
                update(callbacks)
                .where(c.task_id == request.task_id, c.status.in_(ACTIVE))
                .values(status=request.status, notes=request.reason, completed_at=request.at)
            )
        return self.get(request.task_id)
