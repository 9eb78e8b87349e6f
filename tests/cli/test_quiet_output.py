"""What `journeys dev` and `journeys simulate` print around their own output (issue 12):
libraries' chatter (one line per SMTP connection, each migration) only at
JOURNEYS_LOG_LEVEL=DEBUG, and none of the Temporal core's notes meant for server operators,
which came with raw terminal colour codes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers.client import core_logger
from workers.logging_setup import levels

REPO = Path(__file__).resolve().parents[2]

# The process's logging as `journeys dev` sets it up, then what aiosmtpd, Alembic, our own
# activities (through temporalio's activity logger) and a library warning log.
LOGS = """
import logging
from workers.logging_setup import configure
from workers.settings import Settings
configure(Settings())
logging.getLogger("mail.log").info("('127.0.0.1', 5) handling connection")
logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
logging.getLogger("temporalio.activity").info("message sent")
logging.getLogger("httpx").warning("a library warning")
logging.getLogger("mail.log").debug("('127.0.0.1', 5) >> b'QUIT'")
"""


def logged(level: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_LOG_LEVEL"}
    if level is not None:
        env["JOURNEYS_LOG_LEVEL"] = level
    done = subprocess.run(
        [sys.executable, "-c", LOGS], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_by_default_libraries_log_warnings_only_and_ours_log_info() -> None:
    out = logged(None)
    assert "handling connection" not in out and "Running upgrade" not in out
    assert "message sent" in out and "a library warning" in out


def test_debug_shows_the_libraries_too() -> None:
    out = logged("debug")
    assert "handling connection" in out and "Running upgrade" in out and "QUIT" in out


def test_warning_quiets_our_info_as_well() -> None:
    out = logged("WARNING")
    assert "message sent" not in out and "a library warning" in out


def test_levels() -> None:
    assert levels("INFO") == (logging.INFO, logging.WARNING)
    assert levels("debug") == (logging.DEBUG, logging.DEBUG)
    assert levels("ERROR") == (logging.ERROR, logging.ERROR)
    with pytest.raises(ValueError, match="JOURNEYS_LOG_LEVEL='loud'"):
        levels("loud")


def test_an_unknown_level_logs_at_info_and_says_so() -> None:
    out = logged("loud")
    assert "JOURNEYS_LOG_LEVEL='loud' is not one of" in out and "message sent" in out


def test_core_notes_for_server_operators_are_dropped_and_real_warnings_kept() -> None:
    logger = core_logger()
    note = logger.makeRecord(
        logger.name,
        logging.WARNING,
        "(sdk-core)",
        0,
        "[sdk_core::temporalio_sdk_core::worker] Temporal Server 1.16.0 or newer is required "
        "...; the server did not advertise the activity_failure_include_heartbeat capability",
        (),
        None,
    )
    real = logger.makeRecord(
        logger.name, logging.WARNING, "(sdk-core)", 0, "Network error while polling", (), None
    )
    error = logger.makeRecord(
        logger.name, logging.ERROR, "(sdk-core)", 0, note.getMessage(), (), None
    )
    assert [logger.filter(r) for r in (note, real, error)] == [False, True, True]


def test_simulate_prints_no_core_warnings(tmp_path: Path) -> None:
    env = {**os.environ, "JOURNEYS_DATA_DIR": str(tmp_path), "JOURNEYS_DATABASE_URL": ""}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "entrypoints.cli",
            "simulate",
            str(REPO / "journeys" / "onboarding.yaml"),
            "--customers",
            "4",
            "--days",
            "2",
            "--processes",
            "2",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "onboarding: 4 customers over 2 days" in done.stdout
    assert "\x1b[" not in done.stderr and "WARN" not in done.stderr, done.stderr
    assert "temporalio_sdk_core" not in done.stdout + done.stderr
