"""Options shared by many commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from linesync_cli.render import OutputFormat

FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format: table (default), json or csv.", case_sensitive=False),
]


class TableOrJson(str, Enum):
    """The formats of a command whose output is one record, not rows: no csv to offer."""

    table = "table"
    json = "json"


TableJsonFormatOpt = Annotated[
    TableOrJson | None,
    typer.Option("--format", "-f", help="Output format: table (default) or json.", case_sensitive=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Short for --format json.")]
TimezoneOpt = Annotated[
    str | None,
    typer.Option("--timezone", "--tz", help="IANA time zone for shown times and date ranges (default: this machine's).", metavar="ZONE"),
]


def resolve_format(fmt: OutputFormat | TableOrJson | None, as_json: bool, *, allow_csv: bool = True) -> OutputFormat:
    """The output format of --format/--json. A command without csv declares TableJsonFormatOpt,
    so its --help and completions offer only table and json."""
    fmt = OutputFormat(fmt.value) if fmt is not None else None
    if as_json:
        if fmt not in (None, OutputFormat.json):
            raise typer.BadParameter("--json and --format disagree; give one of them", param_hint="--json")
        return OutputFormat.json
    fmt = fmt or OutputFormat.table
    if fmt is OutputFormat.csv and not allow_csv:
        raise typer.BadParameter("this command has no csv output; use table or json", param_hint="--format")
    return fmt


def app_context(ctx: typer.Context):
    """The AppContext that the root callback put on the click context."""
    from linesync_cli.context import AppContext

    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj
