"""What every `journeys` sub-command shares: the consoles, the service, one way to fail."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import copy
from itertools import product
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.containers import Lines
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.style import StyleType
from rich.table import Table
from rich.text import Text

from app.audit import acting_as, cli_actor
from app.bootstrap import make_service, open_store
from app.journeys import JourneyService
from workers.settings import get_settings

console = Console()
errors = Console(stderr=True)


def service() -> JourneyService:
    acting_as(cli_actor())  # what the command changes is audited as cli:<os user>, admin
    settings = get_settings()
    return make_service(settings, open_store(settings))


@contextmanager
def counting(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[Any], None]]]:
    """A progress bar for a bulk command: (say the total, count one done)."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=None)
        yield (
            lambda total: progress.update(task, total=total),
            lambda _done: progress.advance(task),
        )


def unreachable(exc: RuntimeError) -> typer.Exit:
    """The Exit for a Temporal the client could not connect to; re-raises any other error."""
    if "connect" not in str(exc):
        raise exc
    address = get_settings().temporal_address
    return fail(f"cannot reach Temporal at {address}: is `journeys dev` running?")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit to stop with `code`.

    `message` is plain text (it often quotes user input): Rich markup in it is printed as is.
    """
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


# The widest a --wide table may grow: far past any terminal, short of absurd.
WIDEST = 100_000
ELLIPSIS = "…"

Wide = Annotated[
    bool,
    typer.Option(
        "--wide", help="Show every cell in full, one line per row, however wide the lines get."
    ),
]


# Punctuation that closes a phrase in Chinese and Japanese: a line never starts with it.
CLOSING = set("，。、；：！？）」』】〉》”’…・")


def _units(line: str) -> list[str]:
    """`line` cut where it may break, each piece with the spaces after it: between words, and
    in Chinese or Japanese (no spaces there) between characters, punctuation kept with the
    character before it."""
    units: list[str] = []
    for match in re.finditer(r"\s*\S+\s*", line):
        piece = match.group(0)
        current = ""
        for char in piece:
            wide = cell_len(char) == 2
            after_wide = bool(current) and cell_len(current.rstrip()[-1:]) == 2
            starts = char not in CLOSING if wide else after_wide and not char.isspace()
            if current and starts and not current.isspace():
                units.append(current)
                current = ""
            current += char
        units.append(current)
    return units


def _shorten(line: Text, width: int) -> None:
    """Cut `line` to `width` cells, the last one an ellipsis (no padding before it)."""
    line.rstrip()
    while line.plain and cell_len(line.plain) + cell_len(ELLIPSIS) > width:
        line.right_crop(1)
    line.rstrip()
    line.append(ELLIPSIS)


def wrap(text: Text, width: int, lines: int | None = None) -> list[Text]:
    """`text` in lines of at most `width` cells, broken only where `_units` allows; a piece
    too long for any line, and the last of `lines` lines when there is more, end in "…"."""
    wrapped: list[Text] = []
    for paragraph in text.split("\n", allow_blank=True):
        breaks: list[int] = []
        offset = position = 0
        for unit in _units(paragraph.plain):
            if offset and offset + cell_len(unit.rstrip()) > width:
                breaks.append(position)
                offset = 0
            offset += cell_len(unit)
            position += len(unit)
        for line in paragraph.divide(breaks):
            line.rstrip()
            if cell_len(line.plain) > width:
                _shorten(line, width)
            wrapped.append(line)
    if lines is not None and len(wrapped) > lines:
        wrapped = wrapped[:lines]
        if not wrapped[-1].plain.endswith(ELLIPSIS):
            _shorten(wrapped[-1], width)
    return wrapped


class Clamped:
    """Plain text in a table cell: wrapped into at most `lines` lines (see `wrap`). A word
    too long for the column, and the last line when there is more, end in an ellipsis;
    nothing is ever cut without one."""

    def __init__(self, text: str, lines: int | None) -> None:
        self.text = Text(text)
        self.lines = lines
        self.cut = False  # set when rendering had to leave something out

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        plain = self.text.plain
        widest = max((cell_len(unit.strip()) for unit in _units(plain)), default=0)
        longest = max((cell_len(line) for line in plain.split("\n")), default=0)
        limit = options.max_width
        return Measurement(min(widest, limit), min(longest, limit))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        shown = wrap(self.text, options.max_width, self.lines)
        seen = "".join(line.plain for line in shown)
        self.cut = "".join(seen.split()) != "".join(self.text.plain.split())
        yield Lines(shown)


class CliTable(Table):
    """A table that fits the terminal. Each cell wraps at spaces into at most `lines` lines
    (None: as many as it takes); a word too long for its column, or a cell with more to say,
    ends in an ellipsis ("…"), never cut silently. The first column (what the row is: an id)
    keeps its width while it takes at most a third of the line; the widest columns give way
    first. Columns named in `optional` are left out, in that order, while the table would
    not fit otherwise. `wide`: every column and every cell whole on one line, the table as
    wide as its content (print it with `print_tables`, which does not crop).

    Cells given as `str` are plain text: Rich markup and emoji codes in them (they often hold
    what a customer or an agent wrote) are printed as they are. Pass a `Text` to style a cell.
    """

    def __init__(
        self,
        *headers: str,
        title: str | None = None,
        caption: str | None = None,
        wide: bool = False,
        lines: int | None = 3,
        optional: tuple[str, ...] = (),
    ) -> None:
        super().__init__(title=title, caption=caption)
        self.wide = wide
        self.lines = None if wide else lines
        self.optional = optional
        self.left_out: list[str] = []  # the optional columns the last rendering left out
        for header in headers:
            self.add_column(header, overflow="ellipsis", no_wrap=wide)

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [
            Clamped(cell, self.lines) if isinstance(cell, str) else cell for cell in renderables
        ]
        super().add_row(*cells, style=style, end_section=end_section)

    def cut(self) -> bool:
        """Whether the last rendering cut a cell short."""
        return any(
            isinstance(cell, Clamped) and cell.cut
            for column in self.columns
            for cell in column.cells
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.wide:
            options = options.update(width=_natural_width(console, options, self))
            yield from super().__rich_console__(console, options)
            return
        candidates: list[Table] = [self]
        for header in self.optional:
            candidates.append(_without(candidates[-1], header))
        chosen, left_out = candidates[-1], len(candidates) - 1  # Rich squeezes: last resort
        # The first column whole comes first (it is the id a user types next: claim, show,
        # resolve), then whole short words, then every column kept.
        for whole_key, short in product((True, False), SHORT_WORDS):
            fitted = next(
                (
                    (k, grid, widths)
                    for k, grid in enumerate(candidates)
                    if (widths := _fitted_widths(console, options, grid, short, whole_key))
                    is not None
                ),
                None,
            )
            if fitted is not None:
                left_out, chosen, widths = fitted
                for column, width in zip(chosen.columns, widths, strict=True):
                    column.width = width
                break
        self.left_out = list(self.optional[:left_out])
        if chosen is self:
            yield from super().__rich_console__(console, options)
        else:
            yield from chosen.__rich_console__(console, options)


# A word up to this long (a status, a number, a date, a short id) is cut only when the line
# cannot hold the table otherwise (leaving out its optional columns first); then a word up to
# the second; then any word but a header's.
SHORT_WORDS = (12, 8, 0)


def _fitted_widths(
    console: Console, options: ConsoleOptions, grid: Table, short: int, whole_key: bool
) -> list[int] | None:
    """Content widths that fit `grid` into the line, or None if it cannot fit at its floors
    (or, with `whole_key`, not with its first column whole).

    Every column keeps at least its floor: the longest word of its header (at least 4), and
    of its cells the longest word up to `short` wide, or its whole content if narrower. The
    first column, what a row is, keeps its whole width while that is at most a third of the
    line. The others give way widest first, down to one common level: a long text gives way
    before a short value."""
    roomy = options.update(max_width=WIDEST)
    columns = grid.columns
    measured = [grid._measure_column(console, roomy, column) for column in columns]
    padding = [grid._get_padding_width(column._index) for column in columns]
    natural = [m.maximum - pad for m, pad in zip(measured, padding, strict=True)]
    room = options.max_width - grid._extra_width - sum(padding)
    if sum(natural) <= room:
        return natural
    floors = [
        min(
            width,
            max(
                4,
                _longest_word(str(column.header), WIDEST),
                *(_longest_word(_plain(cell), short) for cell in column.cells),
            ),
        )
        for width, column in zip(natural, columns, strict=True)
    ]
    if sum(floors) > room:
        return None
    keep_key = natural[0] <= options.max_width // 3 and natural[0] + sum(floors[1:]) <= room
    if whole_key and not keep_key and floors[0] < natural[0]:
        return None
    flexible = range(1 if keep_key else 0, len(natural))
    fixed = natural[0] if keep_key else 0

    def at(level: int) -> list[int]:
        return [max(floors[i], min(natural[i], level)) for i in flexible]

    level = max(natural)
    while level > 0 and fixed + sum(at(level)) > room:
        level -= 1
    return ([natural[0]] if keep_key else []) + at(level)


def _plain(cell: RenderableType) -> str:
    if isinstance(cell, Clamped):
        return cell.text.plain
    return cell.plain if isinstance(cell, Text) else str(cell) if isinstance(cell, str) else ""


def _longest_word(text: str, at_most: int) -> int:
    """The width of the longest word of `text` that is at most `at_most` wide (0 if none)."""
    return max((w for w in map(cell_len, text.split()) if w <= at_most), default=0)


def _natural_width(console: Console, options: ConsoleOptions, grid: Table) -> int:
    return Measurement.get(console, options.update(max_width=WIDEST), grid).maximum


def _copy(grid: Table, keep: list[int]) -> Table:
    """A plain Table like `grid` with only the columns at the indexes `keep`."""
    shown = Table(title=grid.title, caption=grid.caption, box=grid.box)
    shown.rows = list(grid.rows)
    for index in keep:
        column = copy(grid.columns[index])
        column._index = len(shown.columns)
        shown.columns.append(column)
    return shown


def _without(grid: Table, header: str) -> Table:
    return _copy(grid, [i for i, c in enumerate(grid.columns) if c.header != header])


def table(
    *headers: str,
    title: str | None = None,
    caption: str | None = None,
    wide: bool = False,
    lines: int | None = 3,
    optional: tuple[str, ...] = (),
) -> CliTable:
    """The one table of every command (see CliTable): fits the terminal unless `wide`."""
    return CliTable(
        *headers, title=title, caption=caption, wide=wide, lines=lines, optional=optional
    )


def print_tables(*grids: Table) -> None:
    """Print tables; a wide one keeps its full width (the terminal wraps it, nothing is cut).
    When a table had to cut a cell short or leave a column out to fit, one line after the
    tables says so, and how to see it all."""
    cut = False
    left_out: list[str] = []
    for grid in grids:
        console.print(grid, crop=False)
        if isinstance(grid, CliTable):
            cut = cut or grid.cut()
            left_out += [header for header in grid.left_out if header not in left_out]
    if left_out:
        names = ", ".join(f'"{header}"' for header in left_out)
        console.print(
            f"[dim]… left out to fit: {escape(names)} (--wide shows all)[/dim]", highlight=False
        )
    elif cut:
        console.print("[dim]… cut short to fit: --wide shows every cell in full[/dim]")
