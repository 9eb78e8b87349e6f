"""`journeys events types`, `GET /events/types` and validate's warning of an event name no one
records or sends, against a real SQLite store (no Temporal server needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.journeys import JourneyService
from domain.event_catalog import BUSINESS_EVENTS, PRODUCT_EVENTS, EventCatalog
from domain.loader import load_journey_file
from entrypoints import cli_common
from entrypoints.api import create_app
from entrypoints.cli import app
from store.store import Store
from workers.settings import get_settings

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
API_KEY = "catalog-test-key-0123456789"
runner = CliRunner()


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 80)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    yield tmp_path / "data"
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def onboarding_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (JOURNEYS / "onboarding.yaml").read_text()
    assert old in text
    path = tmp_path / "onboarding.yaml"
    path.write_text(text.replace(old, new))
    return path


# --- journeys events types -----------------------------------------------------------------


def test_events_types_lists_every_known_event_and_who_listens_within_80_columns() -> None:
    assert journeys("publish", str(JOURNEYS))[0] == 0
    code, out = journeys("events", "types")
    assert code == 0, out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = {line.split()[0]: line for line in lines if line.strip() and line[1:2] != " "}
    # Every name is there whole, on its own row: none is cut.
    for known in (*PRODUCT_EVENTS, *BUSINESS_EVENTS):
        assert known.type in rows, known.type
    assert "product" in rows["case_resolved"] and "complaint_recovery" in rows["case_resolved"]
    assert "producers" in rows["order_delivered"] and "post_purchase" in rows["order_delivered"]
    assert "order_id" in rows["order_delivered"]
    # A cell may wrap between words; a word cut short shows an ellipsis.
    words = set(re.findall(r"[a-z_]+…?", out))
    cut = {word for word in words if word.endswith("…")}
    assert not cut, cut


def test_events_types_works_before_anything_is_published() -> None:
    code, out = journeys("events", "types")
    assert code == 0, out
    assert "survey_answered" in out and "signed_up" in out


def test_events_types_lists_an_event_only_a_published_journey_listens_for(
    tmp_path: Path,
) -> None:
    custom = onboarding_with(tmp_path, "event: profile_completed", "event: profile_filled_in")
    assert journeys("publish", str(custom))[0] == 0
    code, out = journeys("events", "types")
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "profile_filled_in" in line]
    assert "producers" in row and "onboarding" in row


# --- validate and publish ------------------------------------------------------------------


def test_validate_warns_of_a_typo_in_a_trigger_suggests_the_name_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboarding_with(tmp_path, "event: signed_up", "event: signed_upp")
    monkeypatch.chdir(tmp_path)
    code, out = journeys("validate", "onboarding.yaml")
    assert code == 0, out
    assert (
        'warning: onboarding.yaml: trigger.event: no one records or sends "signed_upp"; '
        'did you mean "signed_up"?'
    ) in out
    assert "✓ onboarding.yaml" in out


def test_validate_warns_of_wait_for_and_goal_names_with_their_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = onboarding_with(tmp_path, "event: profile_completed", "event: profile_complete")
    path.write_text(path.read_text().replace("event: onboarding_completed", "event: zqxjw"))
    monkeypatch.chdir(tmp_path)
    code, out = journeys("validate", path.name)
    assert code == 0, out
    assert (
        "step 'profile_completed': wait_for.event: no one records or sends "
        '"profile_complete"; did you mean "profile_completed"?'
    ) in out
    assert 'exit_when[1].event: no one records or sends "zqxjw"\n' in out
    assert "known events: `journeys events types`" in out


def test_validate_of_the_built_in_journeys_warns_of_nothing() -> None:
    code, out = journeys("validate", str(JOURNEYS))
    assert code == 0 and "warning" not in out, out


def test_validate_counts_an_event_another_published_journey_waits_for(tmp_path: Path) -> None:
    sender = onboarding_with(tmp_path, "event: profile_completed", "event: profile_filled_in")
    assert journeys("publish", str(sender))[0] == 0
    user = tmp_path / "user.yaml"
    user.write_text(
        "id: filled\nname: Filled\ncategory: marketing\n"
        "trigger: {event: profile_filled_in}\ntemplates: {}\n"
        "steps:\n  - id: tag\n    update: {add_tags: [filled]}\n"
    )
    code, out = journeys("validate", str(user))
    assert code == 0 and "warning" not in out, out
    # The journey's own published version does not vouch for its names.
    code, out = journeys("validate", str(sender))
    assert code == 0 and 'no one records or sends "profile_filled_in"' in out


def test_validate_works_offline_and_creates_no_store(tmp_path: Path, store_in: Path) -> None:
    typo = onboarding_with(tmp_path, "event: signed_up", "event: signed_upp")
    code, out = journeys("validate", str(typo))
    assert code == 0 and 'did you mean "signed_up"?' in out, out
    assert not (store_in / "journeys.db").exists()


def test_validate_works_when_the_store_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    get_settings.cache_clear()
    typo = onboarding_with(tmp_path, "event: signed_up", "event: signed_upp")
    code, out = journeys("validate", str(typo))
    assert code == 0, out
    assert 'did you mean "signed_up"?' in out and "published journeys not read" in out


def test_publish_prints_the_same_warnings_and_still_publishes(tmp_path: Path) -> None:
    typo = onboarding_with(tmp_path, "event: signed_up", "event: signed_upp")
    code, out = journeys("publish", str(typo))
    assert code == 0, out
    assert 'trigger.event: no one records or sends "signed_upp"' in out
    assert "onboarding v1: published" in out


# --- GET /events/types ---------------------------------------------------------------------


async def test_the_api_answers_the_catalog_with_the_key_and_401_without(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/api.db")
    service = JourneyService(store, lambda: None, "catalog")
    service.publish_definition(load_journey_file(JOURNEYS / "post_purchase.yaml"))
    api = create_app(service, API_KEY)
    transport = httpx.ASGITransport(app=api)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            assert (await http.get("/events/types")).status_code == 401
            response = await http.get("/events/types", headers={"X-API-Key": API_KEY})
            assert response.status_code == 200
            catalog = EventCatalog.model_validate(response.json())
            rows = {row.type: row for row in catalog.events}
            assert rows["order_delivered"].journeys == ["post_purchase"]
            assert rows["message_opened"].recorded_by == "product"
            spec = (await http.get("/openapi.json")).json()
            operation = spec["paths"]["/events/types"]["get"]
            assert {"200", "401", "413"} <= set(operation["responses"])
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/EventCatalog"}
    finally:
        store.close()
