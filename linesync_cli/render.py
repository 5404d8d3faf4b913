"""The output layer: the one place that turns results into tables, JSON and CSV.

Data goes to stdout, everything else to stderr. On a terminal, Rich tables with
local, friendly times; piped, stable plain columns (tabulate) with ISO 8601 times.
Text that came from Klaviyo, LINE or an input file is untrusted: it is stripped of
control characters and markup before a terminal sees it; JSON stays exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.markup import escape


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


# C0/C1 controls, DEL, and bidi overrides that can disguise text on a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: Any) -> str:
    """Untrusted text for a terminal: no control characters (ANSI escapes included)."""
    s = "" if text is None else str(text)
    return _CONTROL.sub("�", s.replace("\r\n", " ").replace("\n", " ").replace("\t", " "))


def safe(text: Any) -> str:
    """Untrusted text for a Rich markup string: cleaned and markup-escaped."""
    return escape(clean(text))


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    justify: str = "left"  # "left" | "right"
    style: str | None = None
    # Turns the raw value into display text (tables only; JSON and CSV get raw values).
    fmt: Callable[[Any], str] | None = None
    no_wrap: bool = False  # keep short key columns (event names, IDs) on one line


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_json_default, ensure_ascii=False, indent=2)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _piped_cell(column: Column, value: Any) -> str:
    # A number piped is for a machine: 12345, not the terminal's 12,345.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return column.fmt(value) if column.fmt else _plain(value)


def to_csv(rows: Iterable[dict], columns: Sequence[Column]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow([_plain(row.get(c.key)) for c in columns])
    return buf.getvalue()


class Renderer:
    """Bound to the two consoles; commands call it, never print() directly."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err

    @property
    def is_terminal(self) -> bool:
        return self.out.is_terminal

    def data(self, text: str) -> None:
        """Raw data to stdout, byte-exact (no markup, no wrapping)."""
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()

    def json(self, data: Any) -> None:
        self.data(to_json(data))

    def csv(self, rows: Iterable[dict], columns: Sequence[Column]) -> None:
        self.data(to_csv(rows, columns))

    def table(self, rows: Sequence[dict], columns: Sequence[Column], *, title: str | None = None,
              row_styles: Sequence[str | None] | None = None) -> None:
        if self.out.is_terminal:
            from rich.table import Table

            table = Table(title=safe(title) if title else None, title_justify="left", header_style="bold")
            for c in columns:
                table.add_column(c.header, justify=c.justify, style=c.style, overflow="fold", no_wrap=c.no_wrap)  # type: ignore[arg-type]
            for i, row in enumerate(rows):
                cells = [safe(c.fmt(row.get(c.key)) if c.fmt else _plain(row.get(c.key))) for c in columns]
                table.add_row(*cells, style=row_styles[i] if row_styles else None)
            self.out.print(table)
        else:
            from tabulate import tabulate

            body = [[clean(_piped_cell(c, row.get(c.key))) for c in columns] for row in rows]
            if title:
                self.data(clean(title))
            self.data(tabulate(body, headers=[c.header for c in columns], tablefmt="plain", disable_numparse=True)
                      if body else "\t".join(c.header for c in columns))

    def emit(self, fmt: OutputFormat, *, json_data: Any, rows: Sequence[dict], columns: Sequence[Column],
             title: str | None = None) -> None:
        """The common case: one table, or its JSON, or its CSV."""
        if fmt is OutputFormat.json:
            self.json(json_data)
        elif fmt is OutputFormat.csv:
            self.csv(rows, columns)
        else:
            self.table(rows, columns, title=title)

    # -- stderr --------------------------------------------------------------
    def note(self, markup: str) -> None:
        """A hint or status line on stderr. Callers escape untrusted parts with safe()."""
        self.err.print(markup, highlight=False)

    def status(self, text: str) -> None:
        """A passing state ("Klaviyo unreachable, retry 2/5 in 1.3 s"): on a terminal one line that
        the next status overwrites (`status_done` clears it); piped, a plain line each (a log)."""
        if self.err.quiet:
            return
        if getattr(self.err, "_live_stack", None):
            # A progress bar owns the bottom line: the note goes above it, as a line.
            self.err.print(clean(text), markup=False, highlight=False)
        elif self.err.is_terminal:
            width = max(20, self.err.width - 1)
            self.err.file.write("\r\x1b[2K" + clean(text)[:width])
            self.err.file.flush()
            self._status_shown = True
        else:
            self.err.print(clean(text), markup=False, highlight=False, soft_wrap=True)

    def status_done(self) -> None:
        if getattr(self, "_status_shown", False):
            self.err.file.write("\r\x1b[2K")
            self.err.file.flush()
            self._status_shown = False

    def warn(self, markup: str) -> None:
        self.err.print(f"[yellow]warning:[/] {markup}", highlight=False)

    @property
    def quiet(self) -> bool:
        """--quiet: the stderr console prints nothing but errors."""
        return self.err.quiet

    def error(self, message: str, hint: str | None = None) -> None:
        self.status_done()
        # Errors are the one thing --quiet keeps.
        quiet, self.err.quiet = self.err.quiet, False
        try:
            self.err.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
            if hint:
                self.err.print(f"[cyan]hint:[/] {safe(hint)}", highlight=False, soft_wrap=True)
        finally:
            self.err.quiet = quiet


def make_consoles(no_color: bool = False, *, quiet: bool = False) -> tuple[Console, Console]:
    """stdout and stderr consoles. Rich honours NO_COLOR and detects terminals itself.

    Piped, stderr lines are not wrapped at 80 columns (a log keeps each note on one line
    and paths stay copyable); on a terminal Rich wraps at the real width.
    """
    out = Console(no_color=no_color or None, soft_wrap=False, highlight=False)
    err = Console(stderr=True, no_color=no_color or None, highlight=False, quiet=quiet)
    err.soft_wrap = not err.is_terminal
    return out, err
