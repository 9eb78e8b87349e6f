"""The `journeys` CLI against a real SQLite store (commands that need no Temporal server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints import cli_common
from entrypoints.cli import app
from workers.settings import get_settings

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
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


def test_validate_accepts_the_built_in_journeys() -> None:
    code, out = journeys("validate", str(JOURNEYS))
    assert code == 0, out
    assert "onboarding" in out and "win_back" in out


def test_validate_names_the_file_step_and_field_of_a_bad_goto(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nname: Bad\ncategory: marketing\ntrigger: {event: x}\n"
        "steps:\n  - id: jump\n    goto: nowhere\n"
    )
    code, out = journeys("validate", str(bad))
    assert code == 1
    assert "bad.yaml" in out and "'jump'" in out and "nowhere" in out


def test_validate_and_publish_refuse_an_audience_naming_an_unknown_segment(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        (JOURNEYS / "win_back.yaml")
        .read_text()
        .replace("segment: at_risk_buyers", "segment: at_risk_buyer")
    )
    assert "at_risk_buyer" in typo.read_text()
    code, out = journeys("validate", str(typo))
    assert code == 1
    assert "typo.yaml" in out and "audience.segment" in out and "'at_risk_buyer'" in out
    code, out = journeys("publish", str(typo))
    assert code == 1 and "nothing was published" in out
    code, out = journeys("list")
    assert "win_back" not in out


def test_publish_is_all_or_nothing_when_one_file_is_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: broken\nsteps: [\n")
    code, out = journeys("publish", str(JOURNEYS / "onboarding.yaml"), str(bad))
    assert code == 1
    assert "invalid YAML" in out and "nothing was published" in out
    code, out = journeys("list")
    assert "onboarding" not in out


def test_publish_twice_keeps_the_version_and_list_shows_it() -> None:
    code, out = journeys("publish", str(JOURNEYS))
    assert code == 0, out
    assert "onboarding v1: published" in out
    code, out = journeys("publish", str(JOURNEYS / "onboarding.yaml"))
    assert "onboarding v1: unchanged" in out
    code, out = journeys("list")
    assert code == 0 and "post_purchase" in out and "active" in out


def test_pause_and_resume_change_the_status_and_unknown_ids_fail_clearly() -> None:
    journeys("publish", str(JOURNEYS / "nurture.yaml"))
    assert "nurture: paused" in journeys("pause", "nurture")[1]
    assert "paused" in journeys("list")[1]
    assert "nurture: active" in journeys("resume", "nurture")[1]
    code, out = journeys("pause", "nope")
    assert code == 1 and "unknown journey 'nope'" in out


def test_show_prints_the_published_definition() -> None:
    journeys("publish", str(JOURNEYS / "win_back.yaml"))
    code, out = journeys("show", "win_back")
    assert code == 0 and "id: win_back" in out and "steps:" in out


def test_schema_is_json_schema_of_a_journey_file() -> None:
    code, out = journeys("schema")
    schema = json.loads(out)
    assert code == 0 and "steps" in schema["properties"]


def test_customers_upsert_refuses_a_phone_that_is_not_e164() -> None:
    code, out = journeys("customers", "upsert", "ada", "--phone", "0151 123")
    assert code == 1 and "E.164" in out
    code, out = journeys("customers", "show", "ada")
    assert code == 1 and "unknown customer 'ada'" in out


def test_customers_upsert_then_show_prints_the_timeline() -> None:
    code, out = journeys(
        "customers",
        "upsert",
        "ada",
        "--email",
        "ada@example.com",
        "--timezone",
        "Asia/Shanghai",
        "--attr",
        "plan=pro",
        "--attr",
        "seats=3",
    )
    assert code == 0, out
    assert " ".join(out.split()) == (
        "ada created: ada@example.com, no phone, Asia/Shanghai, en, "
        'attributes {"plan": "pro", "seats": 3}'
    )
    code, out = journeys("customers", "upsert", "ada", "--locale", "zh-CN")
    assert code == 0 and out.startswith("ada updated: ada@example.com") and "zh-CN" in out
    code, out = journeys("events", "send", "--customer", "ada", "--type", "page_viewed")
    assert code == 0 and "appended" in out
    code, out = journeys("customers", "show", "ada")
    assert code == 0 and "Asia/Shanghai" in out and "page_viewed" in out


def test_events_file_keeps_good_lines_and_reports_bad_ones_by_line(tmp_path: Path) -> None:
    journeys("customers", "upsert", "bob")
    lines = [
        {
            "event_id": "f-1",
            "customer_id": "bob",
            "type": "visit",
            "occurred_at": "2026-11-25T10:00:00+08:00",
        },
        {
            "event_id": "f-2",
            "customer_id": "bob",
            "type": "visit",
            "occurred_at": "2026-11-25T10:00:00",
        },
        {
            "event_id": "f-3",
            "customer_id": "ghost",
            "type": "visit",
            "occurred_at": "2026-11-25T10:00:00Z",
        },
        {
            "event_id": "f-1",
            "customer_id": "bob",
            "type": "visit",
            "occurred_at": "2026-11-25T10:00:00+08:00",
        },
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, out = journeys("events", "send", "--file", str(file))
    assert code == 1
    assert "events.jsonl:2" in out and "occurred_at" in out
    assert "unknown customer 'ghost'" in out
    assert "1 appended, 1 duplicates ignored" in out
    code, out = journeys("customers", "show", "bob")
    assert out.count("f-1") == 1 and "f-2" not in out


def test_report_experiment_shows_lift_over_holdout_and_funnel_writes_a_chart(
    tmp_path: Path,
) -> None:
    from entrypoints.cli_common import service
    from tests.store.test_reports import _fill

    promo = tmp_path / "promo.yaml"
    promo.write_text(
        "id: promo\nname: Promo\ntrigger: {event: signed_up}\n"
        "exit_when: [{event: order_completed}]\n"
        "steps:\n  - {id: control, holdout: {percent: 40}}\n"
        "  - id: offer\n    split: [{name: discount, goto: done}, {name: shipping, goto: done}]\n"
        "  - {id: done, end: done}\n"
    )
    assert journeys("publish", str(promo))[0] == 0
    _fill(service().store)
    code, out = journeys("report", "experiment", "promo")
    assert code == 0, out
    assert "discount" in out and "66.7%" in out and "+166.7% vs holdout" in out
    chart = tmp_path / "funnel.png"
    code, out = journeys("report", "funnel", "promo", "--chart", str(chart))
    assert code == 0, out
    assert "converted" in out and "3 (30.0%)" in out
    offer = next(line for line in out.splitlines() if " offer " in line)
    assert "2 (33.3%)" in offer  # of the 6 runs that reached the split, 2 ordered
    assert chart.read_bytes().startswith(b"\x89PNG")
    code, out = journeys("report", "experiment", "onboarding")
    assert code == 1 and "unknown journey" in out


def test_validate_and_publish_print_markup_in_user_text_as_it_is(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nname: Bad\ntrigger: {event: x}\n"
        'steps:\n  - id: "[/bogus]"\n    wait: {for: 1d}\n  - {id: "[red]", wait: {for: 1d}}\n'
    )
    for command in ("validate", "publish"):
        result = runner.invoke(app, [command, str(bad)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "[/bogus]" in result.output and "[red]" in result.output
        assert "'^[a-z][a-z0-9_]*$'" in result.output


def test_fail_prints_markup_in_its_message_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    exit_ = cli_common.fail("unknown customer '[/bogus]'")
    assert exit_.exit_code == 1
    assert "[/bogus]" in capsys.readouterr().err
