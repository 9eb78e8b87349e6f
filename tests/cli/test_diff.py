"""`journeys diff` over a store of its own: file against the newest version, two versions,
--unified, and the refusals that name their cause."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints import cli_common
from entrypoints.cli import app
from workers.settings import get_settings

runner = CliRunner()
ONBOARDING = Path(__file__).resolve().parents[2] / "journeys" / "onboarding.yaml"


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def edited(tmp_path: Path) -> Path:
    text = ONBOARDING.read_text()
    assert "timeout: 3d" in text
    changed = tmp_path / "onboarding.yaml"
    changed.write_text(text.replace("timeout: 3d", "timeout: 4d", 1))
    return changed


def test_a_file_against_the_newest_version_then_two_published_versions(tmp_path: Path) -> None:
    assert journeys("publish", str(ONBOARDING))[0] == 0
    draft = edited(tmp_path)
    code, out, err = journeys("diff", "onboarding", str(draft))
    assert code == 0, err
    assert out.splitlines()[0] == f"onboarding v1 -> {draft}"
    assert "wait_for.timeout: 3d -> 4d" in out and "1 step changed" in out
    assert journeys("publish", str(draft))[0] == 0
    code, out, _ = journeys("diff", "onboarding")
    assert code == 0 and out.splitlines()[0] == "onboarding v1 -> onboarding v2"
    code, out, _ = journeys("diff", "onboarding", "--from", "2", "--to", "1", "--unified")
    assert code == 0
    assert "-    timeout: 4d" in out and "+    timeout: 3d" in out


def test_refusals_name_their_cause(tmp_path: Path) -> None:
    code, _, err = journeys("diff", "onboarding")
    assert code == 1 and "never been published" in err
    assert journeys("publish", str(ONBOARDING))[0] == 0
    code, _, err = journeys("diff", "onboarding")
    assert code == 1 and "only version 1" in err
    code, _, err = journeys("diff", "onboarding", "--to", "3")
    assert code == 1 and "no version 3" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: onboarding\nname: x\ntrigger: {event: signed_up}\nsteps: []\n")
    code, _, err = journeys("diff", "onboarding", str(bad))
    assert code == 1 and "bad.yaml" in err and "steps" in err
    code, _, err = journeys("diff", "win_back", str(edited(tmp_path)))
    assert code == 1 and "defines journey 'onboarding'" in err
