"""`journeys impact FILE` and `journeys publish FILE --dry-run` over a store of their own: runs
in flight per version and step and which of those steps the file removes or changes, the
audience it would enroll now, the simulated funnels side by side; nothing is published and no
row of the store changes (a projection rebuilt to count the audience is rolled back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.runs import Enrollment, StepEvent
from entrypoints import cli, cli_common
from entrypoints.cli import app
from entrypoints.cli_audiences import load_segments
from store.schema import metadata
from store.store import Store
from workers.settings import get_settings

runner = CliRunner()
JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
NURTURE = JOURNEYS / "nurture.yaml"
NOW = datetime.now(UTC).replace(microsecond=0)
REVIEWS = """  - id: wait_reviews
    wait: {for: 3d, until: "10:00", on_days: [mon, tue, wed, thu, fri]}
  - id: reviews
    send: {channel: email, template: reviews}
"""


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    monkeypatch.delenv("JOURNEYS_SEGMENTS_FILE", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    # Publishing a journey with an audience syncs its schedule; no Temporal here to wait for.
    monkeypatch.setattr(cli, "_sync_quietly", lambda svc: None)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def store() -> Store:
    return Store.open(get_settings().db_url)


def row_counts() -> dict[str, int]:
    with store() as s, s.engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_at(s: Store, customer: str, version: int, step: str | None) -> None:
    """A run in flight as the run's own activities record it: enrolled, then its steps."""
    entry = f"entry-{customer}"
    workflow = f"journey/nurture/{customer}"
    s.runs.enroll(
        Enrollment(
            entry_id=entry,
            workflow_id=workflow,
            journey_id="nurture",
            version=version,
            customer_id=customer,
            entered_at=NOW - timedelta(days=1),
        )
    )
    if step is not None:
        event = StepEvent(
            workflow_id=workflow,
            entry_id=entry,
            journey_id="nurture",
            version=version,
            customer_id=customer,
            step_id=step,
            kind="wait",
            status="entered",
            at=NOW,
        )
        s.runs.record_steps(entry, [event], step)


def customers(s: Store, *ids: str) -> None:
    for customer in ids:
        s.customers.upsert(
            CustomerUpsert(customer_id=customer, email=f"{customer}@example.com"), NOW
        )


@pytest.fixture
def nurture_live(tmp_path: Path) -> Path:
    """nurture v1 and v2 published, runs in flight on both, customers with and without orders;
    returns the new file: reviews removed, the first wait shortened."""
    assert journeys("publish", str(NURTURE))[0] == 0
    v2 = write(
        tmp_path,
        "v2.yaml",
        NURTURE.read_text().replace('for: 4d, until: "10:00"', 'for: 5d, until: "10:00"'),
    )
    assert journeys("publish", str(v2))[0] == 0
    with store() as s:
        customers(s, *(f"c{n}" for n in range(1, 10)))
        s.events.append_many(
            [
                CustomerEvent(
                    event_id="order-c9",
                    customer_id="c9",
                    type="order_completed",
                    occurred_at=NOW - timedelta(days=3),
                    properties={"order_id": "A1"},
                )
            ],
            NOW,
        )
        for customer, version, step in [
            ("c1", 1, "wait_reviews"),
            ("c2", 1, "wait_reviews"),
            ("c3", 1, "wait_last_reminder"),
            ("c4", 2, "wait_best_sellers"),
            ("c5", 2, "wait_discount"),
            ("c6", 2, None),
        ]:
            run_at(s, customer, version, step)
        s.privacy.begin("c8", NOW)  # being erased: never enrolled again
    text = NURTURE.read_text()
    assert REVIEWS in text
    new = text.replace(REVIEWS, "").replace(
        'wait: {for: 2d, until: "10:00"', 'wait: {for: 1d, until: "10:00"', 1
    )
    return write(tmp_path, "nurture.yaml", new)


def test_runs_in_flight_per_version_and_step_and_what_the_file_does_to_their_steps(
    nurture_live: Path,
) -> None:
    before = row_counts()
    code, out, err = journeys("impact", str(nurture_live), "--sample", "0")
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    text = "\n".join(lines)
    assert lines[0].startswith(f"nurture: {nurture_live} against v2 (active): ")
    assert "Nothing was published; nothing was written to the store." in text
    assert "publishing would create nurture v3" in text
    assert "│ v1 │ wait_reviews │ wait │ 2 │ removed │" in text
    assert "│ v1 │ wait_last_reminder │ wait │ 1 │ unchanged │" in text
    assert "│ v2 │ wait_best_sellers │ wait │ 1 │ changed: wait.for: 2d -> 1d │" in text
    # v2 waited 5d before the discount; the file (like v1) waits 4d.
    assert "│ v2 │ wait_discount │ wait │ 1 │ changed: wait.for: 5d -> 4d │" in text
    assert "│ v2 │ - │ │ 1 │ (not yet at a step) │" in text
    assert "v1: 3 in flight, 2 on removed steps, 0 on changed steps" in text
    assert "v2: 3 in flight, 0 on removed steps, 2 on changed steps" in text
    assert "4 of 6 runs sit on a removed or changed step" in text
    assert "stay pinned to the version they started with" in text
    # Members: c1..c8 have no order (c9 has); c1..c6 are in the journey (re-entry once),
    # c8 is being erased: c7 alone would be enrolled.
    assert "segment never_ordered as of" in text
    assert "8 members; 1 would be enrolled now (6 already in the journey" in text
    assert "1 erased). Nobody was enrolled." in text
    assert row_counts() == before

    code, out, err = journeys("impact", str(nurture_live), "--sample", "0", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["published_version"] == 2
    assert [v["version"] for v in report["in_flight"]] == [1, 2]
    assert report["audience"]["would_enroll"] == 1 and report["funnel"] is None

    code, out, err = journeys("publish", str(nurture_live), "--dry-run")
    assert code == 0, err
    assert "4 of 6 runs sit on a removed or changed step" in " ".join(out.split())
    assert row_counts() == before
    with store() as s:
        summary = s.journeys.get("nurture")
        assert summary is not None and summary.latest_version == 2

    assert journeys("pause", "nurture")[0] == 0
    code, out, err = journeys("impact", str(nurture_live), "--sample", "0")
    assert code == 0, err
    text = " ".join(out.split())
    assert "none would be enrolled now (the journey is paused), 1 otherwise" in text
    assert "its audience enrolls no one now: the journey is paused" in text


def test_a_new_journey_says_so_and_counts_its_audience_on_a_projection_it_rolls_back(
    tmp_path: Path,
) -> None:
    with store() as s:
        customers(s, "old-buyer", "recent-buyer", "never")
        s.events.append_many(
            [
                CustomerEvent(
                    event_id=f"order-{customer}-{n}",
                    customer_id=customer,
                    type="order_completed",
                    occurred_at=NOW - timedelta(days=days + 30 * n),
                    properties={"order_id": f"{customer}-{n}", "amount": 20},
                )
                for customer, days in (("old-buyer", 200), ("recent-buyer", 2))
                for n in range(3)
            ],
            NOW,
        )
        assert s.projections.built_as_of() is None
    before = row_counts()
    code, out, err = journeys("impact", str(JOURNEYS / "win_back.yaml"), "--sample", "0")
    assert code == 0, err
    text = " ".join(out.split())
    assert "win_back: " in text and "a new journey, never published" in text
    assert "publishing would create win_back v1" in text
    assert "Runs in flight" not in text
    assert row_counts() == before
    with store() as s:
        assert s.projections.built_as_of() is None  # the rebuild was rolled back
        s.projections.rebuild(NOW.date())
        expected = s.segments.count(load_segments(None)["at_risk_buyers"], NOW.date())
    assert f"segment at_risk_buyers as of {NOW.date().isoformat()}: {expected} member" in text


def test_a_file_that_is_not_a_journey_gets_the_problems_validate_prints(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        "id: drip\nname: Drip\ntrigger: {event: signed_up}\nsteps:\n  - {id: a, goto: nowhere}\n",
    )
    _, _, validated = journeys("validate", str(bad))
    before = row_counts()
    for command in (["impact", str(bad)], ["publish", str(bad), "--dry-run"]):
        code, out, err = journeys(*command)
        assert code == 1 and out == ""
        problems = [line for line in err.splitlines() if line.startswith("✗")]
        assert problems and problems == [
            line for line in validated.splitlines() if line.startswith("✗")
        ]
        assert "bad.yaml" in problems[0] and "nowhere" in " ".join(problems)
    assert row_counts() == before
    unknown = write(
        tmp_path,
        "unknown.yaml",
        NURTURE.read_text().replace("segment: never_ordered", "segment: no_such_segment"),
    )
    code, _, err = journeys("impact", str(unknown))
    assert code == 1 and "audience.segment" in err and "no_such_segment" in err


DRIP = """id: drip
name: Drip
trigger: {event: signed_up}
category: transactional
templates:
  hello: {subject: Hello, text: Hi}
  nudge: {subject: Nudge, text: Come back}
steps:
  - {id: hello, send: {channel: email, template: hello}}
  - {id: pause, wait: {for: 2d}}
  - {id: nudge, send: {channel: email, template: nudge}}
  - {id: done, end: finished}
"""


def test_the_simulated_funnel_of_the_file_next_to_the_newest_version(tmp_path: Path) -> None:
    assert journeys("publish", str(write(tmp_path, "drip_v1.yaml", DRIP)))[0] == 0
    with store() as s:
        customers(s, *(f"m{n:02d}" for n in range(30)))
    new = write(
        tmp_path,
        "drip.yaml",
        DRIP.replace("  - {id: nudge, send: {channel: email, template: nudge}}\n", ""),
    )
    before = row_counts()
    args = ("impact", str(new), "--sample", "20", "--days", "10", "--processes", "1")
    code, out, err = journeys(*args, "--json")
    assert code == 0, err
    funnel = json.loads(out)["funnel"]
    assert funnel["sample"].startswith("20 customers in the store")
    assert funnel["current"]["label"] == "v1" and funnel["current"]["customers"] == 20
    rows = {row["step_id"]: row for row in funnel["rows"]}
    assert list(rows) == ["hello", "pause", "done", "nudge"]
    assert rows["hello"]["current"]["completed"] == rows["hello"]["new"]["completed"] == 20
    assert rows["nudge"]["current"]["completed"] == 20 and rows["nudge"]["new"] is None
    assert rows["done"]["new"]["entered"] == 20
    assert funnel["current"]["messages"] == {"sent": 40}
    assert funnel["new"]["messages"] == {"sent": 20}
    assert row_counts() == before

    code, out, err = journeys(*args)
    assert code == 0, err
    text = " ".join(out.split())
    assert "Expected funnel, 10 days, simulated" in text
    assert "│ nudge │ send email │ 20 │ 20 │ 0 │ - │ - │ - │" in text
    assert "Sample: 20 customers in the store, seeded sample (seed 7)" in text
    assert row_counts() == before
