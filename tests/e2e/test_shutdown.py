"""SIGTERM (what systemd, Docker and Kubernetes send) stops every process as cleanly as Ctrl-C.

Real processes on free ports: `journeys dev` (whose Temporal server must not outlive it),
`journeys worker` and `journeys api`. Each must exit 0 within a bound and leave no child.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from workers.dev_server import DevServer
from workers.mail_capture import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STOP_WITHIN = 20.0
SECRET = "shutdown-test-secret-key-0123456789"


def children(pid: int) -> dict[int, int]:
    """Each process's parent, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> set[int]:
    parents = children(pid)
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"did not become healthy:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes], signum: int, *, group: bool = False) -> float:
    """Send `signum` (to the process group, as a terminal's Ctrl-C does, when `group`) and
    return how long the process took to exit."""
    started = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    try:
        process.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running {STOP_WITHIN}s after {signal.Signals(signum).name}")
    return time.monotonic() - started


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Its own session: as a service manager starts it, with SIGINT not ignored.
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", command],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def base_env(data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "JOURNEYS_DATA_DIR": str(data),
        "JOURNEYS_DATABASE_URL": "",
        "JOURNEYS_TEMPORAL_TASK_QUEUE": "shutdown",
        "JOURNEYS_SMTP_PORT": str(free_port()),
        "JOURNEYS_API_PORT": str(free_port()),
        "JOURNEYS_PROVIDER_PORT": str(free_port()),
    }
    for name in ("JOURNEYS_API_KEY", "JOURNEYS_SECRET_KEY", "JOURNEYS_WEBHOOK_URL"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGINT", "Ctrl-C to the process group"],
)
def test_journeys_dev_stops_every_child_on_a_signal(
    tmp_path: Path, signum: int, group: bool
) -> None:
    data = tmp_path / ".journeys"
    env = {
        **base_env(data),
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "JOURNEYS_TEMPORAL_UI_PORT": str(free_port()),
    }
    data.mkdir()
    log = tmp_path / "dev.log"
    process = start("dev", env, log)
    try:
        wait_healthy(process, f"http://127.0.0.1:{env['JOURNEYS_API_PORT']}/health", log)
        spawned = descendants(process.pid)
        assert spawned, "journeys dev runs its Temporal server as a child process"
        took = stop(process, signum, group=group)
    finally:
        if process.poll() is None:
            process.kill()
    survivors = {pid for pid in spawned if alive(pid)}
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert not survivors, f"children still running after journeys dev exited:\n{output}"
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert output.rstrip().endswith("stopped"), output
    assert took < STOP_WITHIN


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path / "temporal.db", "127.0.0.1", free_port(), free_port())
    asyncio.run(server.start(tmp_path / "temporal.log"))
    try:
        yield server
    finally:
        server.stop()


def test_journeys_worker_exits_0_on_sigterm_after_stopping_its_polls(
    tmp_path: Path, temporal: DevServer
) -> None:
    env = {
        **base_env(tmp_path / "data"),
        "JOURNEYS_TEMPORAL_ADDRESS": temporal.address,
        "JOURNEYS_SECRET_KEY": SECRET,
        "JOURNEYS_WORKER_SHUTDOWN_GRACE_SECONDS": "3",
    }
    log = tmp_path / "worker.log"
    process = start("worker", env, log)
    try:
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        stop(process, signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(errors="replace")
    assert process.returncode == 0, output
    assert "worker stopping" in output and "worker stopped" in output, output
    assert "Traceback" not in output


def test_journeys_api_exits_0_on_sigterm(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path / "data"),
        "JOURNEYS_API_KEY": "shutdown-api-key",
        "JOURNEYS_SECRET_KEY": SECRET,
    }
    log = tmp_path / "api.log"
    process = start("api", env, log)
    try:
        wait_healthy(process, f"http://127.0.0.1:{env['JOURNEYS_API_PORT']}/health", log)
        stop(process, signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(errors="replace")
    assert process.returncode == 0, output
    assert "Traceback" not in output


GREETING = """\
id: shutdown_greeting
name: Shutdown greeting
category: transactional
trigger: {event: shutdown_test_started, re_entry: always}
templates:
  hello:
    subject: "Hello"
    text: "Hello from a worker that is stopping."
steps:
  - id: hello
    send: {channel: email, template: hello}
"""


def test_a_worker_stopped_mid_send_lets_the_send_finish_first(
    tmp_path: Path, temporal: DevServer
) -> None:
    from app.journeys import JourneyService
    from domain.customers import CustomerUpsert
    from domain.loader import load_journey_file
    from store.store import Store
    from workers.client import connect
    from workers.mail_capture import MailCapture
    from workers.settings import Settings

    database = f"sqlite:///{tmp_path}/store.db"
    queue = "shutdown-grace"
    journey = tmp_path / "greeting.yaml"
    journey.write_text(GREETING)
    store = Store.open(database)
    settings = Settings(temporal_address=temporal.address, temporal_task_queue=queue)
    service = JourneyService(store, lambda: connect(settings), queue)
    service.publish_definition(load_journey_file(journey))
    service.upsert_customer(CustomerUpsert(customer_id="grace-ada", email="ada@example.com"))
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("{}\n")
    with MailCapture(tmp_path / "mail") as capture:
        capture.stall("DATA", 3.0)  # the send is in flight when the worker is told to stop
        env = {
            **base_env(tmp_path / "data"),
            "JOURNEYS_DATABASE_URL": database,
            "JOURNEYS_TEMPORAL_ADDRESS": temporal.address,
            "JOURNEYS_TEMPORAL_TASK_QUEUE": queue,
            "JOURNEYS_SMTP_HOST": capture.host,
            "JOURNEYS_SMTP_PORT": str(capture.port),
            "JOURNEYS_POLICY_FILE": str(policy_file),
            "JOURNEYS_SECRET_KEY": SECRET,
            "JOURNEYS_WORKER_SHUTDOWN_GRACE_SECONDS": "10",
        }
        log = tmp_path / "worker.log"
        process = start("worker", env, log)
        try:
            asyncio.run(service.enroll("shutdown_greeting", "grace-ada"))
            deadline = time.monotonic() + 60
            while capture.commands("DATA") < 1:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            stop(process, signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
        output = log.read_text(errors="replace")
        assert process.returncode == 0, output
        assert len(list(capture.directory.glob("*.eml"))) == 1
    statuses = [message.status for message in store.outbox.for_customer("grace-ada")]
    store.close()
    assert statuses == ["sent"], output


def test_journeys_api_answers_the_request_in_flight_when_told_to_stop(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path / "data"),
        "JOURNEYS_API_KEY": "shutdown-api-key",
        "JOURNEYS_SECRET_KEY": SECRET,
    }
    log = tmp_path / "api.log"
    process = start("api", env, log)
    body = b'{"email": "drain@example.com"}'
    try:
        port = int(env["JOURNEYS_API_PORT"])
        wait_healthy(process, f"http://127.0.0.1:{port}/health", log)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            # The headers are in; the body is still on its way when SIGTERM arrives.
            conn.sendall(
                b"PUT /customers/drained HTTP/1.1\r\nHost: api\r\n"
                b"X-API-Key: shutdown-api-key\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "the API exited with a request in flight"
            conn.sendall(body)
            reply = conn.recv(65536)
        stop(process, signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(errors="replace")
    assert reply.startswith(b"HTTP/1.1 200 "), reply
    assert process.returncode == 0, output
