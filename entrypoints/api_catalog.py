"""HTTP endpoint for the event catalog: the events the product records, those producers send,
and which published journeys listen for each (domain/event_catalog.py holds the catalog)."""

from __future__ import annotations

from domain.event_catalog import EventCatalog, event_catalog
from entrypoints.api_common import Service, protected_router, requires

router = protected_router()


@router.get(
    "/events/types",
    dependencies=[requires("events:read")],
    tags=["events"],
    response_model=EventCatalog,
    summary="Every event type: recorded by the product or sent by producers, with the "
    "published journeys that listen for it and its properties",
)
def event_types(service: Service) -> EventCatalog:
    published = [service.journey(summary.journey_id) for summary in service.journeys()]
    return event_catalog(published)
