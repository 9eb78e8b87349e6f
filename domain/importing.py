"""Purchase histories from outside (the CDNOW data set) turned into order events.

Parsing is pure: lines in, events and problems out. Every good line becomes one
`order_completed` event whose id is derived from the line itself, so importing the same file
again adds nothing. A bad line is reported with its number and the reason, and the rest of the
file is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ValidationError

from domain.customers import CustomerProfile
from domain.events import CustomerEvent

ORDER_COMPLETED = "order_completed"
CDNOW_SOURCE = "cdnow"
# CDNOW dates carry no time of day; noon UTC keeps each order on its calendar date in every
# timezone from UTC-11 to UTC+11.
CDNOW_ORDER_TIME = time(12, 0, tzinfo=UTC)
_HEADER = ("customer_id", "date", "number_of_cds", "dollar_value")


class ParseProblem(BaseModel):
    """One line that could not be read, and why."""

    line: int
    reason: str
    text: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ParsedFile(BaseModel):
    """The good lines as events (file order) and one problem per bad line."""

    events: list[CustomerEvent]
    problems: list[ParseProblem]
    lines: int

    @property
    def customer_ids(self) -> list[str]:
        return sorted({event.customer_id for event in self.events})


class ImportCounts(BaseModel):
    """What an import wrote: new events, event ids already logged, profiles created."""

    imported: int = 0
    duplicates: int = 0
    customers_created: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            imported=self.imported + other.imported,
            duplicates=self.duplicates + other.duplicates,
            customers_created=self.customers_created + other.customers_created,
        )


def cdnow_customer_id(raw: str) -> str:
    """`00042` -> `cdnow-42`: the prefix keeps imported ids apart from every other source."""
    return f"cdnow-{int(raw)}"


def cdnow_profile(customer_id: str, now: datetime) -> CustomerProfile:
    """The profile an imported CDNOW buyer starts with: no contact points, UTC, English."""
    return CustomerProfile(
        customer_id=customer_id,
        attributes={"source": CDNOW_SOURCE},
        created_at=now,
        updated_at=now,
    )


def parse_cdnow(lines: Iterable[str]) -> ParsedFile:
    """Read CDNOW_master.txt (`customer_id yyyymmdd number_of_cds dollar_value` per line).

    The event id is `cdnow:<customer>:<yyyymmdd>:<n>`, where n counts that customer's lines
    on that date in file order (1, 2, ...). Lines with a readable customer and date count even
    when another field is bad, so fixing a bad line later never renumbers the good ones.
    """
    events: list[CustomerEvent] = []
    problems: list[ParseProblem] = []
    ordinals: dict[tuple[int, str], int] = {}
    number = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        fields = text.split()
        if number == 1 and tuple(f.lower() for f in fields) == _HEADER:
            continue
        try:
            event = _parse_line(fields, ordinals)
        except ValueError as exc:
            problems.append(ParseProblem(line=number, reason=str(exc), text=text[:200]))
            continue
        events.append(event)
    return ParsedFile(events=events, problems=problems, lines=number)


def _parse_line(fields: list[str], ordinals: dict[tuple[int, str], int]) -> CustomerEvent:
    if len(fields) != 4:
        raise ValueError(
            f"expected 4 fields (customer_id date number_of_cds dollar_value), got {len(fields)}"
        )
    raw_customer, raw_date, raw_items, raw_amount = fields
    if not raw_customer.isdigit() or int(raw_customer) <= 0:
        raise ValueError(f"customer_id {raw_customer!r} is not a positive whole number")
    customer = int(raw_customer)
    day = _date(raw_date)
    key = (customer, raw_date)
    ordinals[key] = n = ordinals.get(key, 0) + 1
    if not raw_items.isdigit() or int(raw_items) <= 0:
        raise ValueError(f"number_of_cds {raw_items!r} is not a positive whole number")
    amount = _amount(raw_amount)
    order_id = f"cdnow-{customer}-{raw_date}-{n}"
    properties: dict[str, Any] = {
        "order_id": order_id,
        "items": int(raw_items),
        "amount": float(amount),
        "currency": "USD",
        "source": CDNOW_SOURCE,
    }
    try:
        return CustomerEvent(
            event_id=f"cdnow:{customer}:{raw_date}:{n}",
            customer_id=cdnow_customer_id(raw_customer),
            type=ORDER_COMPLETED,
            occurred_at=datetime.combine(day, CDNOW_ORDER_TIME),
            properties=properties,
        )
    except ValidationError as exc:  # pragma: no cover - the checks above make this unreachable
        raise ValueError(exc.errors()[0]["msg"]) from exc


def _date(raw: str) -> date:
    if len(raw) != 8 or not raw.isdigit():
        raise ValueError(f"date {raw!r} is not YYYYMMDD")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError as exc:
        raise ValueError(f"date {raw!r} is not a calendar date ({exc})") from exc


def _amount(raw: str) -> Decimal:
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"dollar_value {raw!r} is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"dollar_value {raw!r} must be zero or more")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"dollar_value {raw!r} has more than 2 decimals")
    return amount
