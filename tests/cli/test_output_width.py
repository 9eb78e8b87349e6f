"""Every table the CLI prints fits an 80-column terminal (COLUMNS=80): cells wrap at spaces
or end in "…", never cut mid-word without one, and `--wide` shows every cell whole."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from app.cases import CaseService
from app.journeys import JourneyService
from domain.cases import CaseState
from domain.contracts import RunSnapshot
from domain.loader import load_journey_file
from entrypoints import cli_common, cli_delivery
from entrypoints.cli import app
from entrypoints.cli_common import table
from entrypoints.cli_impact import print_report
from entrypoints.cli_simulate import print_result
from tests.cli.populated import (
    CHINESE,
    CUSTOMER,
    JOURNEYS,
    LONG_WORD,
    PROMO,
    SENTENCE,
    drift,
    impact,
    populate,
    simulation,
    snapshot,
)
from workers.settings import get_settings

WIDTH = 80
runner = CliRunner()


@pytest.fixture
def populated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A populated SQLite store; the terminal is 80 columns as COLUMNS says (Rich reads it)."""
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    for console in (cli_common.console, cli_common.errors):
        monkeypatch.setattr(console, "_width", None)  # no fixed width: COLUMNS decides
    get_settings.cache_clear()
    assert cli_common.console.width == WIDTH

    async def run_status(self: JourneyService, workflow_id: str) -> RunSnapshot:
        return snapshot()

    async def state(self: CaseService, case_id: str, handle: object = None) -> CaseState:
        found = self.store.cases.get(case_id)
        assert found is not None
        return found

    async def reconcile(*args: object, **kwargs: object) -> object:
        return drift()

    # The three answers that come from Temporal, as it would give them.
    monkeypatch.setattr(JourneyService, "run_status", run_status)
    monkeypatch.setattr(CaseService, "state", state)
    monkeypatch.setattr(cli_delivery, "reconcile", reconcile)
    promo = tmp_path / "promo.yaml"
    promo.write_text(PROMO)
    for path in (JOURNEYS, promo):
        code, out = journeys("publish", str(path))
        assert code == 0, out
    yield populate(cli_common.service().store)
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def commands(ids: dict[str, str]) -> list[list[str]]:
    return [
        ["list"],
        ["customers", "show", CUSTOMER],
        ["customers", "show", "bob"],
        ["cases", "list"],
        ["cases", "show", ids["case"]],
        ["callbacks", "list"],
        ["messages", "list"],
        ["messages", "decisions"],
        ["suppressions", "list"],
        ["report", "funnel", "promo"],
        ["report", "funnel", "onboarding"],
        ["report", "experiment", "promo"],
        ["report", "surveys"],
        ["segments", "summary"],
        ["segments", "list"],
        ["segments", "preview", "churn_risk"],
        ["events", "failed"],
        ["runs", "show", ids["workflow"]],
        ["runs", "reconcile"],
        ["impact", str(JOURNEYS / "onboarding.yaml"), "--sample", "0"],
    ]


def cell_words(output: str) -> list[str]:
    """The words inside table cells (rows start with a vertical rule)."""
    words: list[str] = []
    for line in output.splitlines():
        if line.startswith(("│", "┃")):
            for cell in re.split("[│┃]", line)[1:-1]:
                words += cell.split()
    return words


def cut_mid_word(narrow: str, wide: str) -> list[str]:
    """Words of the narrow output that are not whole words of the wide one and do not end in
    an ellipsis that says so (a bare "…" is a cell saying it has more). Chinese has no spaces:
    it may break between any two characters, so a piece of a Chinese word is whole."""
    whole = set(cell_words(wide))

    def known(piece: str) -> bool:
        if any(cell_len(char) == 2 for char in piece):
            return any(piece in word for word in whole)
        return piece in whole

    bad = []
    for word in cell_words(narrow):
        if known(word):
            continue
        if word.endswith("…") and any(w.startswith(word[:-1]) for w in whole):
            continue
        if word.endswith("…") and known(word[:-1]):
            continue
        bad.append(word)
    return bad


def test_every_table_fits_80_columns_and_cuts_only_with_an_ellipsis(
    populated: dict[str, str],
) -> None:
    for command in commands(populated):
        code, narrow = journeys(*command)
        assert code == 0, (command, narrow)
        code, wide = journeys(*command, "--wide")
        assert code == 0, (command, wide)
        too_wide = [line for line in narrow.splitlines() if cell_len(line) > WIDTH]
        assert not too_wide, (command, too_wide)
        assert cell_words(narrow), (command, narrow)  # a table was printed
        assert not cut_mid_word(narrow, wide), (command, cut_mid_word(narrow, wide), narrow)
        assert "…" not in "".join(cell_words(wide)), (command, wide)


def test_wide_shows_long_words_and_sentences_whole_on_one_line(
    populated: dict[str, str],
) -> None:
    code, narrow = journeys("customers", "show", CUSTOMER)
    assert code == 0 and "…" in narrow and "--wide shows every cell in full" in narrow
    assert LONG_WORD not in narrow
    code, wide = journeys("customers", "show", CUSTOMER, "--wide")
    assert code == 0 and LONG_WORD in wide and CHINESE in wide
    assert "cut short" not in wide
    code, wide = journeys("callbacks", "list", "--wide")
    assert SENTENCE in wide  # markup in it printed as written
    code, narrow = journeys("list")
    assert '"name"' in narrow and "left out to fit" in narrow and "Post-purchase" not in narrow
    code, wide = journeys("list", "--wide")
    assert "Post-purchase follow-up" in wide and "left out" not in wide


def test_simulate_tables_fit_and_say_nothing_was_stored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "console", Console(width=WIDTH))
    monkeypatch.setattr("entrypoints.cli_simulate.console", cli_common.console)
    print_result(load_journey_file(JOURNEYS / "onboarding.yaml"), simulation())
    out = capsys.readouterr().out
    assert all(cell_len(line) <= WIDTH for line in out.splitlines())
    assert "nothing was written to the store" in " ".join(out.split())


def test_impact_tables_fit_and_say_nothing_was_published(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "console", Console(width=WIDTH))
    monkeypatch.setattr("entrypoints.cli_impact.console", cli_common.console)
    print_report(impact())
    out = capsys.readouterr().out
    assert all(cell_len(line) <= WIDTH for line in out.splitlines()), out
    said = " ".join(out.split())
    assert "Nothing was published; nothing was written to the store." in said
    assert "stay pinned to the version they started with" in said
    assert "Expected funnel, 30 days, simulated" in said


def test_a_cell_too_long_for_its_column_ends_in_an_ellipsis_not_mid_word() -> None:
    console = Console(width=40, record=True)
    grid = table("id", "detail")
    grid.add_row("a-1", "supercalifragilisticexpialidocious-and-then-some words")
    console.print(grid)
    text = console.export_text()
    assert "…" in text
    assert all(w in {"a-1", "words", "id", "detail"} or w.endswith("…") for w in cell_words(text))
