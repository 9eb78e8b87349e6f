"""The benchmark's baseline: a bare workflow running the same three send activities."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts import SEND_MESSAGE, MessageOutcome, SendMessage


@workflow.defn(name="BareThreeSends")
class BareThreeSends:
    @workflow.run
    async def run(self, requests: list[SendMessage]) -> int:
        for request in requests:
            await workflow.execute_activity(
                SEND_MESSAGE,
                request,
                result_type=MessageOutcome,
                start_to_close_timeout=timedelta(minutes=2),
            )
        return len(requests)


@workflow.defn(name="BareParked")
class BareParked:
    """The memory baseline: a workflow that only sleeps (a timer, like a parked journey)."""

    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.sleep(timedelta(seconds=seconds))
