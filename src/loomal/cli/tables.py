"""Tables of the server-host commands (``identity``, ``admin``), which have rich.

No value is ever cut short with "…": a column people copy from (a key prefix, a
key id, a time) is *whole*, kept on one line at its full width; every other
column folds a long value onto more lines. Piped, a table takes its natural
width, one line per row, whatever ``COLUMNS`` says (for grep and scripts). On a
terminal it fits the terminal, unless the whole columns alone need more: then it
is printed as wide as they need rather than cut.
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

__all__ = ["make_table", "print_table"]

_UNBOUNDED = 100_000
_FOLD_FLOOR = 1
"""The narrowest a folding column can be: a table is printed wider than the terminal
only when its whole columns leave less than this to each of the others."""


def make_table(*headers: str, whole: tuple[str, ...] = ()) -> Table:
    """A table with these column headers; the columns named in ``whole`` never wrap."""
    unknown = set(whole) - set(headers)
    if unknown:
        raise ValueError(f"whole columns not among the headers: {sorted(unknown)}")
    table = Table()
    for header in headers:
        if header in whole:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def _width(console: Console, table: Table) -> int:
    """How wide to print ``table`` so that no value of a whole column is cut."""
    options = console.options.update_width(_UNBOUNDED)
    natural = console.measure(table, options=options).maximum
    if not console.is_terminal:
        return max(console.width, natural)
    columns = [
        max(Measurement.get(console, options, cell).maximum for cell in [c.header, *c.cells])
        for c in table.columns
    ]
    overhead = natural - sum(columns)  # padding and borders
    needed = overhead + sum(
        width if column.no_wrap else min(width, _FOLD_FLOOR)
        for width, column in zip(columns, table.columns, strict=True)
    )
    return max(console.width, needed)


def print_table(table: Table, console: Console | None = None) -> None:
    console = console or Console()
    console.width = _width(console, table)
    console.print(table)
