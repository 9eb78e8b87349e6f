"""Whether an event is the one a goal or a `wait_for` step is looking for."""

from __future__ import annotations

from typing import Any

from domain.events import CustomerEvent


def properties_match(properties: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Every expected property equal, compared as text so that '42' matches 42."""
    return all(str(properties.get(key)) == str(value) for key, value in expected.items())


def event_matches(event: CustomerEvent, event_type: str, expected: dict[str, Any]) -> bool:
    """Same type and matching properties."""
    return event.type == event_type and properties_match(event.properties, expected)
