"""`journeys runs show ID` with an id that names no run: one line saying so, exit 1, never a
traceback: a wrong kind of id (a case's), an unknown run, a Temporal that is not there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from entrypoints import cli_common
from entrypoints.cli import app
from workers.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    yield tmp_path
    get_settings.cache_clear()


async def runs_show(workflow_id: str) -> Result:
    # In a thread: the CLI runs an event loop of its own.
    return await asyncio.to_thread(runner.invoke, app, ["runs", "show", workflow_id])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


async def test_a_case_id_is_not_a_run_and_says_where_to_look_instead() -> None:
    line = one_line_error(await runs_show("case/cs-1a2b3c4d"))
    assert "case/cs-1a2b3c4d is not a journey run but a complaint case" in line
    assert "journeys cases show cs-1a2b3c4d" in line
    line = one_line_error(await runs_show("cs-1a2b3c4d"))
    assert "run ids look like journey/<journey>/<customer>" in line


async def test_an_unknown_run_is_one_line(
    time_skipping_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = time_skipping_env.client.service_client.config.target_host
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", target)
    get_settings.cache_clear()
    line = one_line_error(await runs_show("journey/onboarding/nobody"))
    assert "no run journey/onboarding/nobody in Temporal" in line


async def test_a_temporal_that_is_not_there_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", "127.0.0.1:9")
    get_settings.cache_clear()
    line = one_line_error(await runs_show("journey/onboarding/ada"))
    assert "cannot reach Temporal at 127.0.0.1:9" in line
