"""The real CDNOW base: full import and projection on SQLite, in seconds, and idempotent."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from domain.importing import cdnow_profile, parse_cdnow
from domain.segments import load_segments_file
from store.store import Store
from tests.audiences.conftest import SEGMENTS_FILE, cdnow_file

DATA = cdnow_file()
AS_OF = date(1998, 7, 1)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(DATA is None, reason="CDNOW_master.txt not found")


def test_full_cdnow_import_and_projection_as_of_july_1998(tmp_path: Path) -> None:
    assert DATA is not None
    started = time.perf_counter()
    with DATA.open(encoding="utf-8") as lines:
        parsed = parse_cdnow(lines)
    assert (len(parsed.events), parsed.problems, len(parsed.customer_ids)) == (69_659, [], 23_570)
    parsed_at = time.perf_counter()

    with Store.open(f"sqlite:///{tmp_path}/cdnow.db") as store:
        counts = store.events.import_events(
            parsed.events, NOW, new_customer=lambda cid: cdnow_profile(cid, NOW)
        )
        imported_at = time.perf_counter()
        assert (counts.imported, counts.duplicates, counts.customers_created) == (69_659, 0, 23_570)

        assert store.projections.rebuild(AS_OF) == 23_570
        rebuilt_at = time.perf_counter()
        summary = store.projections.summary(AS_OF)

        again = store.events.import_events(
            parsed.events, NOW, new_customer=lambda cid: cdnow_profile(cid, NOW)
        )
        assert (again.imported, again.duplicates, again.customers_created) == (0, 69_659, 0)

        first = store.projections.all()
        store.projections.rebuild(AS_OF)
        assert store.projections.all() == first

        segments = load_segments_file(SEGMENTS_FILE)
        sizes = {name: store.segments.count(s, AS_OF) for name, s in segments.items()}

    print(
        f"\nCDNOW: parse {parsed_at - started:.1f}s, import {imported_at - parsed_at:.1f}s, "
        f"rebuild {rebuilt_at - imported_at:.1f}s; churn risk {summary.churn_risk}"
    )
    for tier, stages in summary.counts.items():
        print(f"  {tier:5} {stages}")
    print(f"  segments {sizes}")

    assert summary.total == 23_570
    stage_totals = {
        stage: sum(summary.count(tier, stage) for tier in summary.counts)
        for stage in ("active", "reactivated", "at_risk", "lapsed", "churned", "new", "prospect")
    }
    # Pinned: a change here is a change of the documented rules in domain/projections.py.
    assert stage_totals == {
        "active": 2811,
        "reactivated": 1319,
        "at_risk": 1230,
        "lapsed": 2972,
        "churned": 15_238,
        "new": 0,  # every CDNOW customer first bought in Q1 1997
        "prospect": 0,
    }
    assert {tier: sum(s.values()) for tier, s in summary.counts.items()} == {
        "high": 5524,
        "mid": 5357,
        "low": 12_689,
    }
    assert summary.churn_risk == 2175
    assert sizes["vip"] == 5524 and sizes["never_ordered"] == 0
    assert sizes["at_risk_buyers"] == 1230 + 2972
