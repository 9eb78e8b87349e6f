"""The data converter every process uses: pydantic's JSON, its type adapters built once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from domain.contracts import EnrollCustomer
from domain.events import CustomerEvent
from domain.loader import load_journey_file
from workers.data_converter import DATA_CONVERTER

ROOT = Path(__file__).resolve().parents[2]


def enrollment() -> EnrollCustomer:
    return EnrollCustomer(
        journey=load_journey_file(ROOT / "journeys" / "win_back.yaml"),
        version=3,
        customer_id="c-1",
        entry_id="e-1",
        trigger=CustomerEvent(
            event_id="ev-1",
            customer_id="c-1",
            type="customer_lapsed",
            occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
        ),
    )


def test_payloads_are_pydantic_json_both_ways() -> None:
    value = enrollment()
    [ours] = DATA_CONVERTER.payload_converter.to_payloads([value])
    [theirs] = pydantic_data_converter.payload_converter.to_payloads([value])
    assert ours == theirs
    back = DATA_CONVERTER.payload_converter.from_payloads([theirs], [EnrollCustomer])
    assert back == [value]


def test_every_activation_converts_with_the_same_type_adapters() -> None:
    """The SDK makes a new data converter for each activation (`dataclasses.replace`, which
    makes a new payload converter); each used to start with an empty adapter cache and build
    EnrollCustomer's adapter again."""
    payload: Payload = DATA_CONVERTER.payload_converter.to_payloads([enrollment()])[0]
    first, second = dataclasses.replace(DATA_CONVERTER), dataclasses.replace(DATA_CONVERTER)
    first.payload_converter.from_payloads([payload], [EnrollCustomer])
    second.payload_converter.from_payloads([payload], [EnrollCustomer])
    assert _adapters(first) is _adapters(second)
    assert _adapters(second).cache_info().hits >= 1


def _adapters(converter: DataConverter) -> Any:
    """The JSON converter's TypeAdapter cache behind a data converter."""
    payload: Any = converter.payload_converter
    inner = getattr(payload, "_inner_payload_converter", payload)
    return inner.converters[b"json/plain"]._type_adapter
