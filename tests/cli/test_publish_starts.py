"""`journeys publish` checks start steps across journeys: the journey started must exist (or be
published together), and journeys must not start each other round a cycle with no wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

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


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def journey_file(folder: Path, journey_id: str, steps: str) -> Path:
    path = folder / f"{journey_id}.yaml"
    path.write_text(
        f"id: {journey_id}\nname: {journey_id}\ntrigger: {{event: {journey_id}_due}}\n"
        f"steps:\n{steps}",
        encoding="utf-8",
    )
    return path


def published(*journey_ids: str) -> set[str]:
    code, out = journeys("list")
    assert code == 0, out
    return {journey_id for journey_id in journey_ids if journey_id in out}


def test_publish_refuses_a_start_of_a_journey_that_does_not_exist(tmp_path: Path) -> None:
    path = journey_file(tmp_path, "welcome", "  - {id: hand_over, start: {journey: nurtur}}\n")
    code, out = journeys("publish", str(path))
    assert code == 1
    assert f"{path}: step 'hand_over': start.journey: starts unknown journey 'nurtur'" in out
    assert "nothing was published" in out
    assert published("welcome") == set()


def test_a_journey_started_by_another_may_be_published_with_it_or_before_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "together"
    folder.mkdir()
    journey_file(folder, "welcome", "  - {id: hand_over, start: {journey: nurture}}\n")
    journey_file(folder, "nurture", "  - {id: pause, wait: {for: 1d}}\n")
    code, out = journeys("publish", str(folder))
    assert code == 0, out
    assert published("welcome", "nurture") == {"welcome", "nurture"}

    later = journey_file(tmp_path, "vip", "  - {id: to_nurture, start: {journey: nurture}}\n")
    code, out = journeys("publish", str(later))
    assert code == 0, out


def test_publish_refuses_journeys_that_start_each_other_with_no_wait(tmp_path: Path) -> None:
    first = journey_file(tmp_path, "ping", "  - {id: to_pong, start: {journey: pong}}\n")
    journey_file(
        tmp_path,
        "pong",
        "  - {id: pause, wait: {for: 1d}}\n  - {id: back, start: {journey: ping}}\n",
    )
    code, out = journeys("publish", str(tmp_path))
    assert code == 0, out  # a wait in pong: a start each day at most

    hurried = journey_file(tmp_path, "pong", "  - {id: back, start: {journey: ping}}\n")
    code, out = journeys("publish", str(hurried))
    assert code == 1
    assert (
        f"{hurried}: step 'back': start.journey: journeys start each other with no wait "
        "between: pong -> ping -> pong"
    ) in out
    assert str(first) not in out  # the published ping is not the file being refused
    code, out = journeys("show", "pong")
    assert "pause" in out  # pong kept its published version


def test_validate_checks_start_steps_across_the_files_and_the_published_journeys(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "drafts"
    folder.mkdir()
    ping = journey_file(folder, "ping", "  - {id: to_pong, start: {journey: pong}}\n")
    pong = journey_file(folder, "pong", "  - {id: back, start: {journey: ping}}\n")
    lost = journey_file(folder, "lost", "  - {id: away, start: {journey: elsewhere}}\n")
    fine = journey_file(folder, "fine", "  - {id: pause, wait: {for: 1d}}\n")
    code, out = journeys("validate", str(folder))
    assert code == 1
    assert f"{ping}: step 'to_pong': start.journey: journeys start each other" in out
    assert f"{pong}: step 'back': start.journey: journeys start each other" in out
    assert f"{lost}: step 'away': start.journey: starts unknown journey 'elsewhere'" in out
    assert f"✓ {fine}: fine (1 steps)" in out

    code, out = journeys("publish", str(fine))
    assert code == 0, out
    to_fine = journey_file(tmp_path, "to_fine", "  - {id: hand_over, start: {journey: fine}}\n")
    code, out = journeys("validate", str(to_fine))
    assert code == 0, out
