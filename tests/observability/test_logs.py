"""Logs: with JOURNEYS_LOG_JSON=true every line a run's workflow and activities log is one JSON
object carrying journey, version, customer, step and workflow_id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from temporalio import activity, workflow

from tests.api.conftest import event, eventually, new_customer
from tests.observability.conftest import Observed
from workers.logging_setup import JOURNEY_FIELDS, OWN_LOGGERS, configure
from workers.settings import Settings


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """This process logs JSON at DEBUG into a buffer for the test; then as it did before."""
    root = logging.getLogger()
    saved: dict[str, Any] = {
        "handlers": list(root.handlers),
        "level": root.level,
        "levels": {name: logging.getLogger(name).level for name in OWN_LOGGERS},
        "structlog": structlog.get_config(),
        "on_message": (
            activity.logger.activity_info_on_message,
            workflow.logger.workflow_info_on_message,
        ),
    }
    buffer = io.StringIO()
    configure(Settings(log_json=True, log_level="DEBUG"), stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved["handlers"]
        root.setLevel(saved["level"])
        for name, level in saved["levels"].items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved["structlog"])
        activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message = saved[
            "on_message"
        ]


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_every_line_of_a_run_is_json_with_the_journey_fields(
    json_log: io.StringIO, observed: Observed
) -> None:
    customer_id = await new_customer(observed.api)
    response = await observed.api.post("/events", json=event(customer_id, "signed_up"))
    assert response.status_code == 202, response.text
    workflow_id = f"journey/onboarding/{customer_id}"

    async def run_lines() -> list[dict[str, Any]] | None:
        ours = [line for line in lines(json_log) if line.get("workflow_id") == workflow_id]
        sent = [line for line in ours if line["event"] == "message sent"]
        waiting = [line for line in ours if line.get("step") == "wait_getting_started"]
        return ours if sent and waiting else None

    ours = await eventually(run_lines, what="the run's log lines")
    for line in ours:
        assert set(JOURNEY_FIELDS) <= set(line), line
        assert (line["journey"], line["customer"]) == ("onboarding", customer_id), line
    [sent] = [line for line in ours if line["event"] == "message sent"]
    assert sent["logger"] == "temporalio.activity"
    assert (sent["step"], sent["version"]) == ("welcome", 1), sent
    assert sent["key"] and "(" not in sent["event"]  # the activity's details are fields
    steps = [line for line in ours if line["logger"] == "temporalio.workflow"]
    assert {"step entered", "step completed"} <= {line["event"] for line in steps}, steps
    assert all(isinstance(line["version"], int) and line["step"] for line in steps), steps
    assert {line["level"] for line in steps} == {"debug"}
