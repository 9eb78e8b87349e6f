"""`journeys diff`: what changes between two versions of a journey, or a file and a version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from app.journey_changes import UnknownVersion, diff_draft, diff_versions
from domain.journey_diff import JourneyDiff
from domain.loader import load_journey_file
from domain.problems import JourneyError
from entrypoints.cli_common import console, errors, fail, service
from store.errors import StoreError

_COLOURS = {"added": "green", "removed": "red", "changed": "yellow"}


def diff(
    journey_id: Annotated[str, typer.Argument(help="A published journey.")],
    file: Annotated[
        Path | None,
        typer.Argument(help="A journey file to compare with a published version.", dir_okay=False),
    ] = None,
    old: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=1,
            help="The version to compare from (default: the newest "
            "with FILE, else the one before --to).",
        ),
    ] = None,
    new: Annotated[
        int | None,
        typer.Option(
            "--to", min=1, help="The version to compare to (default: the newest; not with FILE)."
        ),
    ] = None,
    unified: Annotated[
        bool, typer.Option("--unified", help="A unified diff of the YAML instead of words.")
    ] = False,
) -> None:
    """What changed, step by step (added, removed, changed and how), plus trigger, goals,
    audience, templates and locales; `--unified` prints the YAML diff instead."""
    svc = service()
    try:
        if file is not None:
            if new is not None:
                raise fail("--to compares two published versions: give it without FILE")
            draft = load_journey_file(file)
            if draft.id != journey_id:
                raise fail(f"{file} defines journey {draft.id!r}, not {journey_id!r}")
            result = diff_draft(svc, draft, draft_label=str(file), against=old)
        else:
            result = diff_versions(svc, journey_id, old, new)
    except JourneyError as exc:
        for problem in exc.problems:
            errors.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
        raise fail(f"{file} is not a valid journey") from exc
    except (StoreError, UnknownVersion) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"{file}: cannot read: {exc}") from exc
    if unified:
        console.print(result.unified or "no differences", highlight=False, markup=False, end="")
        if not result.unified:
            console.print()
        return
    _print_words(result)


def _print_words(result: JourneyDiff) -> None:
    console.print(f"{result.old_label} -> {result.new_label}", highlight=False, markup=False)
    for change in result.changes:
        colour = _COLOURS[change.kind]
        console.print(f"[{colour}]{escape(change.describe())}[/{colour}]", highlight=False)
    console.print(result.summary(), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
