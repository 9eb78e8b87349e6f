"""Secrets every process shares: a survey link a worker signed is answered at an API.

`journeys worker` and `journeys api` run as two processes with their own data directories,
the same store file, Temporal dev server and JOURNEYS_SECRET_KEY; neither may make up a key
of its own, so each refuses to start without one (exit 2, one line naming the variable).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_shutdown import start, wait_healthy
from workers.dev_server import DevServer
from workers.mail_capture import MailCapture, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SECRET = "two-processes-share-this-secret-key"
OLD_SECRET = "the-key-before-the-rotation-0123456"
API_KEY = "two-process-api-key"
JOURNEY = """\
id: two_process_csat
name: Two-process CSAT
category: transactional
trigger: {event: order_completed, re_entry: always}
templates:
  ask:
    subject: "How was your order?"
    text: "Tell us how it went: {{ survey.url }}"
steps:
  - id: ask
    survey: {kind: csat, channel: email, template: ask, timeout: 1d}
    on_timeout: done
  - id: done
    end: asked
"""
LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_.-]+")


def bare_env(tmp: Path, name: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "JOURNEYS_DATA_DIR": str(tmp / name),
        "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp}/store.db",
    }
    for variable in (
        "JOURNEYS_SECRET_KEY",
        "JOURNEYS_SECRET_KEY_PREVIOUS",
        "JOURNEYS_WEBHOOK_URL",
        "JOURNEYS_WEBHOOK_SECRET",
        "JOURNEYS_API_KEY",
    ):
        env.pop(variable, None)
    return env


def refusal(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["worker", "api"])
def test_a_process_refuses_to_start_without_the_shared_secrets(
    tmp_path: Path, command: str
) -> None:
    env = {**bare_env(tmp_path, command), "JOURNEYS_API_KEY": API_KEY}
    missing = refusal(command, env)
    assert missing.returncode == 2, missing.stderr
    assert "JOURNEYS_SECRET_KEY" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    assert not (tmp_path / command / "secret_key").exists()  # nothing generated on the side

    webhook = refusal(
        command,
        {**env, "JOURNEYS_SECRET_KEY": SECRET, "JOURNEYS_WEBHOOK_URL": "http://127.0.0.1:9/h"},
    )
    assert webhook.returncode == 2, webhook.stderr
    assert "JOURNEYS_WEBHOOK_SECRET" in webhook.stderr
    assert len(webhook.stderr.strip().splitlines()) == 1, webhook.stderr
    assert "Traceback" not in webhook.stderr + webhook.stdout


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path / "temporal.db", "127.0.0.1", free_port(), free_port())
    asyncio.run(server.start(tmp_path / "temporal.log"))
    try:
        yield server
    finally:
        server.stop()


def survey_link(mail: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        for path in sorted(mail.glob("*.eml")):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(preferencelist=("plain",))
            found = LINK.search(body.get_content() if body is not None else "")
            if found:
                return found.group(0)
        time.sleep(0.3)
    raise AssertionError("no survey mail arrived")


@pytest.mark.parametrize(
    "keys",
    [
        {"worker": {}, "api": {}},
        # Mid-rotation: the API already has the new key, a worker still signs with the old one.
        {
            "worker": {"JOURNEYS_SECRET_KEY": OLD_SECRET},
            "api": {"JOURNEYS_SECRET_KEY_PREVIOUS": OLD_SECRET},
        },
    ],
    ids=["one shared key", "API rotated before the worker"],
)
def test_a_survey_link_the_worker_signed_is_answered_at_the_api(
    tmp_path: Path, temporal: DevServer, keys: dict[str, dict[str, str]]
) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("{}\n")
    journeys_dir = tmp_path / "journeys"
    journeys_dir.mkdir()
    (journeys_dir / "two_process_csat.yaml").write_text(JOURNEY)
    with MailCapture(tmp_path / "mail") as capture:
        shared = {
            "JOURNEYS_SECRET_KEY": SECRET,
            "JOURNEYS_API_KEY": API_KEY,
            "JOURNEYS_TEMPORAL_ADDRESS": temporal.address,
            "JOURNEYS_TEMPORAL_TASK_QUEUE": "two-processes",
            "JOURNEYS_SMTP_HOST": capture.host,
            "JOURNEYS_SMTP_PORT": str(capture.port),
            "JOURNEYS_API_PORT": str(api_port),
            "JOURNEYS_PUBLIC_URL": api,
            "JOURNEYS_POLICY_FILE": str(policy_file),
        }
        # Each process has a data directory of its own: nothing is shared through files.
        worker_env = {**bare_env(tmp_path, "worker-data"), **shared, **keys["worker"]}
        api_env = {**bare_env(tmp_path, "api-data"), **shared, **keys["api"]}
        published = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "publish", str(journeys_dir)],
            cwd=REPO,
            env=api_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert published.returncode == 0, published.stdout + published.stderr
        worker = start("worker", worker_env, tmp_path / "worker.log")
        server = start("api", api_env, tmp_path / "api.log")
        try:
            wait_healthy(server, f"{api}/health", tmp_path / "api.log")
            headers = {"X-API-Key": API_KEY}
            customer = "two-process-ada"
            put = httpx.put(
                f"{api}/customers/{customer}",
                json={"email": "ada@example.com"},
                headers=headers,
            )
            assert put.status_code == 200, put.text
            sent = httpx.post(
                f"{api}/events",
                json={
                    "event_id": "two-process-order-1",
                    "customer_id": customer,
                    "type": "order_completed",
                    "occurred_at": "2026-12-01T09:00:00+00:00",
                    "properties": {"order_id": "o-1"},
                },
                headers=headers,
            )
            assert sent.status_code == 202, sent.text
            link = survey_link(capture.directory, time.monotonic() + 60)
            assert link.startswith(f"{api}/s/")
            answered = httpx.post(link, data={"score": "5", "comment": "fine"}, timeout=10)
            assert answered.status_code == 200, answered.text
            deadline = time.monotonic() + 30
            while True:
                timeline = httpx.get(f"{api}/customers/{customer}/timeline", headers=headers)
                if "survey_answered" in timeline.text:
                    break
                assert time.monotonic() < deadline, timeline.text
                time.sleep(0.3)
            # A link signed with a key no process has is refused at the same API.
            forged = link[: link.rindex(".") + 1] + "A" * 43
            assert httpx.get(forged, timeout=10).status_code >= 400
        finally:
            for process in (server, worker):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
    logs = (tmp_path / "worker.log").read_text() + (tmp_path / "api.log").read_text()
    assert "Traceback" not in logs, logs
