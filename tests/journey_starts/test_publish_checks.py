"""Every way in to publishing checks start steps: the service (publish_definition, a folder)
and the console's upload, each naming the file or journey, the step and `start.journey`."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.console_journeys import check_text
from app.journeys import JourneyService
from domain.loader import load_journey_text
from domain.problems import JourneyError
from store.store import Store

STARTER = """
id: starter
name: Starter
trigger: {event: starter_due}
steps:
  - {id: hand_over, start: {journey: target}}
"""
TARGET = """
id: target
name: Target
trigger: {event: target_due}
steps:
  - {id: back, start: {journey: starter}}
"""


@pytest.fixture
def service(tmp_path: Path) -> JourneyService:
    store = Store.open(f"sqlite:///{tmp_path / 'journeys.db'}")

    async def no_client() -> None:
        raise AssertionError("publishing needs no Temporal client")

    return JourneyService(store, no_client, "unused")


def test_publish_definition_refuses_a_start_of_an_unknown_journey(service: JourneyService) -> None:
    with pytest.raises(JourneyError) as caught:
        service.publish_definition(load_journey_text(STARTER))
    assert str(caught.value) == (
        "journey 'starter': step 'hand_over': start.journey: "
        "starts unknown journey 'target' (known: starter)"
    )
    assert service.journeys() == []


def test_a_folder_that_would_start_round_a_cycle_publishes_none(
    service: JourneyService, tmp_path: Path
) -> None:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "starter.yaml").write_text(STARTER)
    (folder / "target.yaml").write_text(TARGET)
    with pytest.raises(JourneyError) as caught:
        service.publish_directory(folder)
    assert [(p.file, p.step, p.field) for p in caught.value.problems] == [
        (str(folder / "starter.yaml"), "hand_over", "start.journey"),
        (str(folder / "target.yaml"), "back", "start.journey"),
    ]
    assert "starter -> target -> starter" in caught.value.problems[0].message
    assert service.journeys() == []


def test_the_console_upload_shows_the_missing_target_beside_the_step(
    service: JourneyService,
) -> None:
    checked = check_text(service, STARTER, "starter.yaml")
    assert checked.journey is None
    assert [str(p) for p in checked.problems] == [
        "starter.yaml: step 'hand_over': start.journey: starts unknown journey 'target' "
        "(known: starter)"
    ]
