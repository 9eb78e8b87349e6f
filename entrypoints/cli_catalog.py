"""`journeys events types`: the event catalog; and the published journeys `validate` reads.

The catalog itself (which events the product records, which the built-in journeys expect,
which the published journeys listen for) is domain/event_catalog.py; this module only reads
the published journeys and draws the table.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.bootstrap import make_service
from app.journeys import JourneyService
from domain.event_catalog import EventTypeInfo, event_catalog
from domain.journey import JourneyDefinition
from entrypoints.cli_common import console, errors, service
from store.errors import StoreError
from store.store import Store
from workers.settings import get_settings

# A store that does not answer within this many seconds is taken as unreachable.
CONNECT_TIMEOUT_SECONDS = 3
UNREACHABLE = (StoreError, SQLAlchemyError, OSError)

CAPTION = (
    "product: the engine appends it to the customer's log. producers: your systems send it "
    "(`journeys events send`, POST /events)."
)


def published_journeys(svc: JourneyService) -> list[JourneyDefinition]:
    """The newest version of every published journey, active or paused; one that no longer
    decodes is left out (the catalog is a guide, not a check of the store)."""
    found: list[JourneyDefinition] = []
    for summary in svc.journeys():
        try:
            found.append(svc.journey(summary.journey_id))
        except (StoreError, ValidationError):
            continue
    return found


def published_if_reachable() -> tuple[list[JourneyDefinition], str | None]:
    """The published journeys, and None; or none and why, when the store cannot be read.

    Never creates a store: without one, nothing is published yet. Validate runs offline.
    """
    settings = get_settings()
    url = settings.db_url
    if not settings.database_url:
        if not (settings.data_dir / "journeys.db").exists():
            return [], None
    else:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            url = parsed.update_query_dict(
                {"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)}
            ).render_as_string(hide_password=False)
    try:
        store = Store.open(url, migrate=False)
    except UNREACHABLE as exc:
        return [], str(exc)
    try:
        return published_journeys(make_service(settings, store)), None
    except UNREACHABLE as exc:
        return [], str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        store.close()


def _name_widths(rows: list[EventTypeInfo], width: int) -> tuple[int | None, int | None]:
    """Widths for the event and journeys columns that keep every name whole, if they fit."""
    name = max(len(row.type) for row in rows)
    journey = max((len(j) + 1 for row in rows for j in row.journeys), default=1)
    word = max((len(p) + 1 for row in rows for p in row.properties), default=1)
    by = max(len(row.recorded_by) for row in rows)
    # Each of the four columns is padded by one space a side, with a one-space rule between.
    if name + by + journey + word + 4 * 2 + 3 <= width:
        return name, journey
    return None, None


def _cell(words: list[str]) -> Text:
    return Text(", ".join(words) or "-")


def event_types() -> None:
    """Every event type: those the product records, those producers send, who listens."""
    try:
        published = published_journeys(service())
    except UNREACHABLE as exc:
        errors.print(
            Text(f"warning: published journeys not read ({exc}); showing the built-in catalog"),
            highlight=False,
        )
        published = []
    rows = event_catalog(published).events
    grid = Table(
        box=box.SIMPLE_HEAD,
        caption=CAPTION,
        caption_justify="left",
        show_edge=False,
    )
    # Names (events, journeys) are what a journey file needs whole: their columns get the
    # longest name when the terminal has room for it and the longest property; the lists wrap
    # between their items. Narrower, Rich shares the room and cuts words with an ellipsis.
    name, journey = _name_widths(rows, console.width)
    grid.add_column("event", overflow="ellipsis", width=name)
    grid.add_column("by", overflow="ellipsis", no_wrap=True)
    grid.add_column("journeys", overflow="ellipsis", width=journey)
    grid.add_column("properties", overflow="ellipsis")
    for i, row in enumerate(rows):
        last_of_kind = i + 1 < len(rows) and rows[i + 1].recorded_by != row.recorded_by
        grid.add_row(
            Text(row.type),
            Text(row.recorded_by),
            _cell(row.journeys),
            _cell(row.properties),
            end_section=last_of_kind,
        )
    console.print(grid)


def register(events: typer.Typer) -> None:
    """Add `types` to the `journeys events` commands."""
    events.command("types")(event_types)
