"""An audience page heartbeats at most once a second, not once per run it starts."""

from __future__ import annotations

import pytest

import activities.audience as audience
from activities.audience import at_most_every


def test_a_burst_of_starts_heartbeats_once_and_a_second_later_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(audience.time, "monotonic", lambda: clock[0])
    beats: list[str] = []
    beat = at_most_every(1.0, beats.append)
    for customer in ("c1", "c2", "c3"):
        beat(customer)
    assert beats == ["c1"]
    clock[0] += 0.5
    beat("c4")
    assert beats == ["c1"]
    clock[0] += 0.5
    beat("c5")
    assert beats == ["c1", "c5"]
