"""The console's reports: NPS and CSAT by week or month (charts and a table with the numbers
of `journeys report surveys`), and the segments summary read from the stored projections,
rebuilt only by an explicit POST that needs an ops key."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from domain.projections import STAGES, TIERS
from entrypoints import cli_common
from entrypoints.cli import app as cli_app
from store.db import reading
from store.schema import customer_metrics
from tests.console.test_overview_pages import Light, cells, customers, light, survey
from workers.settings import get_settings

__all__ = ["light"]


def _built(light: Light) -> date | None:
    return light.store.projections.built_as_of()


def _rows(light: Light) -> int:
    with reading(light.store.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(customer_metrics)) or 0)


async def test_scores_by_week_and_by_month_are_the_survey_reports_numbers(light: Light) -> None:
    now = datetime.now(UTC)
    people = customers(light, 5)
    for person, score in zip(people, (10, 9, 8, 2, 0), strict=True):
        survey(light, person, "nps", "win_back", score, now)
    survey(light, people[0], "nps", "win_back", 10, now - timedelta(days=40))
    survey(light, people[1], "csat", "complaint_recovery", 4, now)
    survey(light, people[2], "csat", "complaint_recovery", 3, now)
    client = await light.client()

    for by in ("week", "month"):
        page = await client.get(f"/console/reports?by={by}")
        assert page.status_code == 200
        every = page.text[page.text.index('<details class="all-scores"') :]
        table = every[every.index("<tbody>") :]
        expected = light.store.surveys.scores(None, by)  # what `journeys report surveys` prints
        assert len(re.findall(r"<tr>", table.split("</table>")[0])) == len(expected)
        newest = max(r.period for r in expected)
        win_back = next(r for r in expected if r.journey_id == "win_back" and r.period == newest)
        assert win_back.nps == 0.0  # 2 promoters, 2 detractors of 5
        row = cells(table, "Win")  # the newest period's win_back row comes first
        assert row[2:] == ["NPS", str(win_back.sent), "5", "0.0", "—"]
        csat = next(r for r in expected if r.kind == "csat")
        assert csat.csat == 3.5 and csat.satisfied == 50.0
        row = cells(table, "CSAT")
        assert row[3:] == [str(csat.sent), "2", "3.50", "50.0%"]
        assert page.text.count("<svg") >= 2  # the NPS and the CSAT chart
        beside = page.text[: page.text.index('<details class="all-scores"')]
        assert cells(beside, '<th scope="row">Win-back</th>')[1] == "0.0 (5)"


async def test_a_journey_filter_keeps_that_journeys_scores(light: Light) -> None:
    now = datetime.now(UTC)
    a, b = customers(light, 2)
    survey(light, a, "nps", "win_back", 10, now)
    survey(light, b, "csat", "complaint_recovery", 5, now)
    page = (await (await light.client()).get("/console/reports?journey=win_back")).text
    every = page[page.index('<details class="all-scores" open>') :]
    table = every[every.index("<tbody>") : every.index("</table>")]
    assert "NPS" in table and "CSAT" not in table
    assert '<option value="win_back" selected>' in page


async def test_bad_filters_are_refused_with_a_message(light: Light) -> None:
    client = await light.client()
    bad_period = await client.get("/console/reports?by=year")
    assert bad_period.status_code == 400 and "by week or by month" in bad_period.text
    unknown = await client.get("/console/reports?journey=no_such_journey")
    assert unknown.status_code == 404 and "no_such_journey" in unknown.text
    bad_day = await client.get("/console/reports?as_of=2026-13-45")
    assert bad_day.status_code == 400 and "2026-13-45" in bad_day.text
    hostile = await client.get("/console/reports?as_of=<script>alert(1)</script>")
    assert hostile.status_code == 400
    assert "<script>alert(1)" not in hostile.text and "&lt;script&gt;" in hostile.text


async def test_the_segments_summary_shows_the_stored_projections_and_a_view_never_rebuilds(
    light: Light,
) -> None:
    customers(light, 3)
    built = date(2026, 1, 15)
    light.store.projections.rebuild(built)
    summary = light.store.projections.summary(None)
    client = await light.client("ops")

    page = (await client.get("/console/reports")).text
    assert "Jan 15, 2026" in page
    segments = page[page.index('id="segments"') :]
    assert cells(segments.split("</thead>")[1], ">Total<")[-1] == str(summary.total)
    prospects = cells(segments, ">prospect<")
    assert prospects[1:] == [str(summary.count(t, "prospect")) for t in (*TIERS, "none")] + [
        str(sum(summary.count(t, "prospect") for t in (*TIERS, "none")))
    ]
    assert len(STAGES) + 1 == segments.count('<th scope="row">')

    other = (await client.get("/console/reports?as_of=2026-02-01")).text
    assert _built(light) == built  # looking never writes
    assert "not Feb 1, 2026" in other
    assert 'action="/console/reports/segments/rebuild"' in other
    assert 'name="as_of" value="2026-02-01"' in other


async def test_ops_rebuilds_the_projections_with_an_explicit_post(light: Light) -> None:
    customers(light, 3)
    light.store.projections.rebuild(date(2026, 1, 15))
    ops = await light.client("ops")
    await ops.get("/console/reports?as_of=2026-02-01")
    response = await ops.post("/console/reports/segments/rebuild", {"as_of": "2026-02-01"})
    assert response.status_code == 200
    assert response.url.path == "/console/reports"
    assert _built(light) == date(2026, 2, 1)
    assert "Customer projections rebuilt as of Feb 1, 2026: 3 customers." in response.text
    assert "not Feb 1, 2026" not in response.text


async def test_a_rebuild_is_refused_without_an_ops_key_or_a_genuine_form(light: Light) -> None:
    customers(light, 2)
    light.store.projections.rebuild(date(2026, 1, 15))
    before = _rows(light)
    for role in ("viewer", "support"):
        client = await light.client(role)
        page = (await client.get("/console/reports?as_of=2026-02-01")).text
        assert 'action="/console/reports/segments/rebuild"' not in page
        assert "A rebuild needs an ops key." in page
        refused = await client.post("/console/reports/segments/rebuild", {"as_of": "2026-02-01"})
        assert refused.status_code == 403 and "ops" in refused.text
    ops = await light.client("ops")
    forged = await ops.post(
        "/console/reports/segments/rebuild", {"as_of": "2026-02-01", "csrf_token": "x"}
    )
    assert forged.status_code == 403
    not_a_day = await ops.post("/console/reports/segments/rebuild", {"as_of": "soon"})
    assert not_a_day.status_code == 400
    assert _built(light) == date(2026, 1, 15) and _rows(light) == before


async def test_reports_in_chinese_have_chinese_labels_dates_and_periods(light: Light) -> None:
    now = datetime.now(UTC)
    (a,) = customers(light, 1)
    survey(light, a, "nps", "win_back", 9, now)
    light.store.projections.rebuild(date(2026, 1, 15))
    client = await light.client("viewer", locale="zh-CN")
    page = (await client.get("/console/reports")).text
    assert "客群概览" in page and "按周" in page
    assert "2026年1月15日" in page
    assert re.search(r"\d{4} 年第 \d+ 周", page)
    month = (await client.get("/console/reports?by=month")).text
    assert f"{now.year}年{now.month}月" in month


async def test_the_page_and_journeys_report_surveys_print_the_same_scores(
    light: Light, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    people = customers(light, 4)
    for person, score in zip(people, (10, 7, 5, 9), strict=True):
        survey(light, person, "nps", "win_back", score, now)
    survey(light, people[0], "csat", "win_back", 4, now)
    survey(light, people[1], "csat", "win_back", 1, now - timedelta(days=7))
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", str(light.store.engine.url))
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["report", "surveys", "--by", "week", "--journey", "win_back"],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    printed = {
        (kind.lower(), period): (nps, csat)
        for kind, period, nps, csat in re.findall(
            r"win_back\s+│?\s*(NPS|CSAT)\s+│?\s*(\d{4}-W\d\d)\s+│?\s*\d+\s+│?\s*\d+\s+│?\s*(\S+)\s+│?\s*(\S+)",
            result.output,
        )
    }
    assert len(printed) == 3, result.output

    page = (await (await light.client()).get("/console/reports?by=week&journey=win_back")).text
    every = page[page.index('<details class="all-scores" open>') :]
    for (kind, period), (nps, csat) in printed.items():
        label = f"{period[:4]} week {int(period[-2:])}"
        rows = [
            [
                " ".join(re.sub(r"<[^>]+>", " ", c).split())
                for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
            ]
            for r in re.findall(r"<tr>(.*?)</tr>", every, re.S)
        ]
        row = next(r for r in rows if r and r[0] == label and r[2] == kind.upper())
        shown = row[5]
        assert shown == (nps if kind == "nps" else csat), (row, nps, csat)
