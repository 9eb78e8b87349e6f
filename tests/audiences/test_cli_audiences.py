"""`journeys import cdnow` and `journeys segments ...` against a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from entrypoints import cli_common
from entrypoints.cli_audiences import register
from workers.settings import get_settings

runner = CliRunner()
app = typer.Typer()
register(app)

ROWS = """\
 customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19980612  5   77.00
 00003 19970102  2   oops
 00004 19980601  2   29.33
"""


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def cdnow(tmp_path: Path) -> Path:
    path = tmp_path / "CDNOW_sample.txt"
    path.write_text(ROWS, encoding="utf-8")
    return path


def test_import_reports_bad_rows_by_line_and_keeps_the_good_ones(tmp_path: Path) -> None:
    path = cdnow(tmp_path)
    code, out = journeys("import", "cdnow", str(path), "--batch", "2")
    assert code == 1
    assert f"{path}:5: dollar_value 'oops' is not a number" in out
    assert "4 imported, 0 duplicates ignored, 3 customers created, 1 bad rows" in out
    code, out = journeys("import", "cdnow", str(path))
    assert "0 imported, 4 duplicates ignored, 0 customers created, 1 bad rows" in out


def test_import_of_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    code, out = journeys("import", "cdnow", str(tmp_path / "nope.txt"))
    # Typer's own usage error wraps to the terminal's width: compare without the frame.
    flat = "".join(ch for ch in out if not ch.isspace() and ch not in "│╭╮╰╯─")
    assert code == 2 and "doesnotexist" in flat


def test_summary_rebuilds_and_shows_tier_by_stage(tmp_path: Path) -> None:
    journeys("import", "cdnow", str(cdnow(tmp_path)))
    code, out = journeys("segments", "summary", "--as-of", "1998-07-01")
    assert code == 0, out
    assert "projections rebuilt as of 1998-07-01: 3 customers" in out
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").replace("┃", "│").split("│")]) == 6
    }
    assert rows["stage"] == ["high", "mid", "low", "none", "total"]
    assert rows["reactivated"] == ["0", "1", "0", "0", "1"]  # cdnow-2: back after 17 months
    assert rows["new"] == ["0", "0", "1", "0", "1"]  # cdnow-4: first order on 1998-06-01
    assert rows["churned"] == ["0", "0", "1", "0", "1"]  # cdnow-1: one order in January 1997
    assert rows["total"] == ["0", "1", "2", "0", "3"]
    assert "churn risk flagged: 0" in out


def test_preview_shows_size_and_a_sample(tmp_path: Path) -> None:
    journeys("import", "cdnow", str(cdnow(tmp_path)))
    code, out = journeys(
        "segments", "preview", "reactivated", "--as-of", "1998-07-01", "--sample", "5"
    )
    assert code == 0, out
    assert "projections rebuilt as of 1998-07-01 (3 customers)" in out
    assert "reactivated: 1 members as of 1998-07-01" in out
    assert "cdnow-2" in out and "cdnow-1 " not in out and "cdnow-4" not in out
    code, out = journeys("segments", "preview", "recent_buyers", "--as-of", "1998-07-01")
    assert code == 0 and "recent_buyers: 1 members" in out  # 1998-06-01 is 30 days before
    assert "projections rebuilt" not in out
    code, out = journeys("segments", "preview", "never_ordered", "--as-of", "1998-07-01")
    assert code == 0 and "never_ordered: 0 members" in out


def test_summary_of_an_empty_base_is_an_empty_table() -> None:
    code, out = journeys("segments", "summary", "--as-of", "1998-07-01")
    assert code == 0, out
    assert "0 customers" in out and "churn risk flagged: 0" in out


def test_preview_of_an_unknown_segment_lists_the_known_ones() -> None:
    code, out = journeys("segments", "preview", "vips", "--as-of", "1998-07-01")
    assert code == 1
    assert "unknown segment 'vips'; known segments: high_value, vip," in out


def test_a_bad_segments_file_is_reported_with_segment_path_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "segments.yaml"
    bad.write_text("segments:\n  - name: x\n    where: {field: stage, in: [gold]}\n")
    code, out = journeys("segments", "preview", "x", "--file", str(bad))
    assert code == 1
    assert f"{bad}: segment 'x': where.in: field 'stage': 'gold' is not one of" in out
    code, out = journeys("segments", "list")
    assert code == 0 and "at_risk_buyers" in out
