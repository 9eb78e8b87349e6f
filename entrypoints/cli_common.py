"""What every `journeys` sub-command shares: the consoles, the service, one way to fail."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.bootstrap import make_service, open_store
from app.journeys import JourneyService
from workers.settings import get_settings

console = Console()
errors = Console(stderr=True)


def service() -> JourneyService:
    settings = get_settings()
    return make_service(settings, open_store(settings))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit to stop with `code`.

    `message` is plain text (it often quotes user input): Rich markup in it is printed as is.
    """
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def table(*headers: str, title: str | None = None) -> Table:
    """A Rich table whose cells wrap rather than cut ids short on a narrow terminal."""
    grid = Table(title=title)
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid
