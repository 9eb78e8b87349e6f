"""The README's quickstart block, run as a newcomer runs it, against `journeys dev`.

The block is read from README.md (the fenced block after the `quickstart` marker) and run
command by command in bash, in the repository, against a `journeys dev` stack on free ports
with the workspace's own send policy (quiet hours included). The customer lives in a timezone
where it is the middle of the night as the test runs, so the story must hold at any hour.

After each command the README says what it shows, on `# →` lines; every `backticked` piece of
those lines must be in what the command printed. Commands that only read (a `sleep` before a
look, a list, a show) are repeated for a while until it is there: delivery is asynchronous.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_dev_stack import _wait_until_healthy
from workers.mail_capture import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- quickstart:"
# Offsets from -10 to +13 hours: some of them is always between 22:00 and 05:30.
ZONES = [
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Noumea",
    "Pacific/Auckland",
]
READ_ONLY = (
    "sleep ",
    "grep ",
    "journeys callbacks list",
    "journeys cases show",
    "journeys customers show",
)


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def quickstart_steps(readme: str) -> list[Step]:
    """The commands of the README's quickstart block, each with the pieces it promises."""
    after = readme[readme.index(MARKER) :]
    block = after[after.index("```bash\n") + len("```bash\n") :]
    block = block[: block.index("```")]
    steps: list[Step] = []
    for line in block.splitlines():
        if line.startswith("# →"):
            steps[-1].expected += re.findall(r"`([^`]+)`", line)
        elif line.strip() and not line.startswith("#"):
            steps.append(Step(line))
    return steps


def night_zone(now: datetime) -> str:
    """A timezone where it is now between 22:00 and 05:30: quiet hours hold marketing email."""
    for name in ZONES:
        local = now.astimezone(ZoneInfo(name))
        minutes = local.hour * 60 + local.minute
        if minutes >= 22 * 60 or minutes < 5 * 60 + 30:
            return name
    raise AssertionError(f"no zone of {ZONES} is at night at {now}")


@dataclass
class Stack:
    data: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    api: str

    def log(self) -> str:
        return (self.data / "stack.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("quickstart") / ".journeys"
    data.mkdir()
    ports = {name: free_port() for name in ("temporal", "ui", "smtp", "api", "provider")}
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "COLUMNS": "200",
        "JOURNEYS_DATA_DIR": str(data),
        "JOURNEYS_DATABASE_URL": "",
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "JOURNEYS_TEMPORAL_UI_PORT": str(ports["ui"]),
        "JOURNEYS_TEMPORAL_TASK_QUEUE": "quickstart",
        "JOURNEYS_SMTP_PORT": str(ports["smtp"]),
        "JOURNEYS_API_PORT": str(ports["api"]),
        "JOURNEYS_PROVIDER_PORT": str(ports["provider"]),
    }
    for name in ("JOURNEYS_API_KEY", "JOURNEYS_POLICY_FILE", "JOURNEYS_JOURNEYS_DIR"):
        env.pop(name, None)  # the embedded defaults, as a newcomer has them
    log = (data / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "dev"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Stack(data, env, process, f"http://127.0.0.1:{ports['api']}")
    try:
        _wait_until_healthy(running)  # type: ignore[arg-type]  # the same fields it reads
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_readme_quickstart_tells_one_true_story_at_night(stack: Stack) -> None:
    steps = quickstart_steps((REPO / "README.md").read_text(encoding="utf-8"))
    assert steps[0].command == "source .venv/bin/activate"
    zone = night_zone(datetime.now(UTC))
    variables: dict[str, str] = {}
    for step in steps[1:]:
        command = step.command.replace(".journeys/", f"{stack.data}/")
        command = command.replace("--timezone Europe/Berlin", f"--timezone {zone}")
        assignment = re.fullmatch(r"([A-Z_]+)=\$\((.*)\)", command)
        inner = assignment.group(2) if assignment else command
        prefix = "".join(f"export {name}={value!r}; " for name, value in variables.items())
        deadline = time.monotonic() + (30 if inner.startswith(READ_ONLY) else 0)
        while True:
            done = subprocess.run(
                ["bash", "-c", "set -o pipefail; " + prefix + inner],
                cwd=REPO,
                env=stack.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            shown = " ".join((done.stdout + done.stderr).split())
            missing = [piece for piece in step.expected if piece not in shown]
            if (done.returncode == 0 and not missing) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert done.returncode == 0, f"{step.command}\n{done.stdout}\n{done.stderr}"
        assert not missing, f"{step.command} did not show {missing}:\n{done.stdout}"
        assert "Traceback" not in done.stderr, done.stderr
        if assignment:
            variables[assignment.group(1)] = done.stdout.strip()
            assert variables[assignment.group(1)], f"{step.command} printed no id"

    # It was night for Ada: the welcome went at once, the marketing guide would wait.
    preview = subprocess.run(
        ["journeys", "preview", "onboarding", "getting_started", "--customer", "ada"],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
    )
    assert "Now: would wait until " in " ".join(preview.stdout.split()), preview.stdout
    subjects = [
        line
        for path in sorted(stack.data.joinpath("mail").glob("*.eml"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("Subject:")
    ]
    assert subjects[0] == "Subject: Welcome aboard, Ada"
    assert any(line.startswith("Subject: We have your message") for line in subjects), subjects


def test_the_quickstart_block_is_found_and_each_command_promises_something() -> None:
    steps = quickstart_steps((REPO / "README.md").read_text(encoding="utf-8"))
    commands = [s.command for s in steps]
    assert any(
        c.startswith("journeys events send --customer ada --type signed_up") for c in commands
    )
    silent = [s.command for s in steps[1:] if not s.expected and "=$(" not in s.command]
    assert silent == [], "every command says what it shows"


@pytest.mark.parametrize("hour", range(24))
def test_some_zone_is_always_at_night(hour: int) -> None:
    zone = night_zone(datetime(2026, 12, 2, hour, 40, tzinfo=UTC))
    local = datetime(2026, 12, 2, hour, 40, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert local.hour >= 22 or local.hour < 6
    zone = night_zone(datetime(2026, 7, 2, hour, 10, tzinfo=UTC))
    assert zone
