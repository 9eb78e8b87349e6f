"""GET /journeys/{id}/diff: the same words as `journeys diff`, and the unified YAML."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

from domain.loader import parse_journey
from tests.api.conftest import JOURNEYS_DIR, Stack


def _published_twice(stack: Stack) -> str:
    document: dict[str, Any] = yaml.safe_load(Path(JOURNEYS_DIR / "win_back.yaml").read_text())
    document["id"] = f"diff_{uuid.uuid4().hex[:8]}"
    document.pop("audience", None)
    # Its own trigger: a copy of win_back would start on every customer_lapsed of the suite.
    document["trigger"]["event"] = f"{document['id']}_never_sent"
    stack.service.publish_definition(parse_journey(document))
    changed = copy.deepcopy(document)
    next(s for s in changed["steps"] if s["id"] == "wait_second_offer")["wait"]["for"] = "5d"
    stack.service.publish_definition(parse_journey(changed))
    return str(document["id"])


async def test_two_versions_compare_in_words_and_as_yaml(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    journey_id = _published_twice(stack)
    response = await api.get(f"/journeys/{journey_id}/diff")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["old_label"], body["new_label"]) == (f"{journey_id} v1", f"{journey_id} v2")
    assert body["changes"] == [
        {
            "area": "step",
            "subject": "wait_second_offer",
            "kind": "changed",
            "details": ["wait.for: 7d -> 5d"],
        }
    ]
    assert "-    for: 7d" in body["unified"] and "+    for: 5d" in body["unified"]
    backwards = (await api.get(f"/journeys/{journey_id}/diff?from=2&to=1")).json()
    assert backwards["changes"][0]["details"] == ["wait.for: 5d -> 7d"]


async def test_an_unknown_version_or_journey_is_404_naming_it(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    journey_id = _published_twice(stack)
    response = await api.get(f"/journeys/{journey_id}/diff?to=9")
    assert response.status_code == 404 and "no version 9" in response.json()["detail"]
    assert (await api.get("/journeys/no_such_journey/diff")).status_code == 404
    assert (await api.get(f"/journeys/{journey_id}/diff?from=0")).status_code == 422
