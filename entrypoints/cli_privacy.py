"""`journeys customers export` and `journeys customers erase`: privacy from the CLI, over the
same use cases as the API (app/privacy.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from app.privacy import PrivacyService
from domain.privacy import CustomerErased
from entrypoints.cli_common import console, fail, service
from store.errors import StoreError


def export_customer(
    customer_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON here, not stdout.")
    ] = None,
) -> None:
    """Everything held about a customer, as one JSON document."""
    try:
        document = PrivacyService(service()).export(customer_id)
    except (StoreError, CustomerErased) as exc:
        raise fail(str(exc)) from exc
    text = document.model_dump_json(indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"{customer_id}: exported to {output}", highlight=False, markup=False)


def erase_customer(
    customer_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer: end their runs, cases and callbacks, scrub their data, keep anonymised
    facts, and refuse their events from now on. Run it again to finish an interrupted one."""
    if not yes and not typer.confirm(f"Erase {customer_id} for good?"):
        raise fail("not erased", code=1)
    try:
        report = asyncio.run(PrivacyService(service()).erase(customer_id))
    except StoreError as exc:
        raise fail(str(exc)) from exc
    if report.already_erased:
        console.print(report.detail, highlight=False, markup=False)
        return
    console.print(
        f"{customer_id} erased at {report.erased_at.isoformat()}: "
        f"{report.workflows_terminated} workflows terminated, {report.runs_ended} runs ended, "
        f"{report.cases_closed} cases closed, {report.callbacks_closed} callbacks cancelled, "
        f"{report.events_scrubbed} events and {report.messages_scrubbed} messages scrubbed",
        highlight=False,
        markup=False,
    )


def register(customers_app: typer.Typer) -> None:
    """Add `export` and `erase` to `journeys customers`."""
    customers_app.command("export")(export_customer)
    customers_app.command("erase")(erase_customer)
