"""`linesync events pull|status|export`: the local mirror of what Klaviyo holds."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

events_app = typer.Typer(
    short_help="The local mirror of the events Klaviyo holds (read back with Get Events, kept in DuckDB).",
    help="""The local mirror of the events Klaviyo holds (read back with Get Events, kept in DuckDB).

Examples:

  linesync events pull --since 30d

  linesync events status --json
""",
    no_args_is_help=True,
)

SinceOpt = Annotated[str, typer.Option("--since", help="Start: a duration back from now (30d, 12h, 2w) or an ISO 8601 date/time (UTC when no offset).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="End (exclusive), same forms as --since. Default: now.")]
MetricOpt = Annotated[list[str] | None, typer.Option("--metric", "-m", help="A LINE metric to read (short name or event name); repeat for several. Default: all nine.", metavar="NAME")]


def parse_range(since: str, until: str | None):
    from datetime import UTC, datetime

    from linesync_cli.timeutil import parse_when

    end = parse_when(until, option="--until") if until else datetime.now(UTC).replace(microsecond=0)
    start = parse_when(since, option="--since", now=end)
    return start, end


def parse_overlap(text: str):
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_duration

    delta = parse_duration(text)
    if delta is None:
        raise UsageError(f"--overlap {text!r} is not a duration", hint="e.g. --overlap 3d, --overlap 12h, --overlap 0d")
    return delta


def open_mirror_for_writing(state_dir: Path):
    from linesync_cli.core.events.mirror import Mirror, mirror_path

    return Mirror(mirror_path(state_dir))


def pull_into_mirror(app: Any, opts: Any, *, label: str = "events pull"):
    """Run a pull with a progress display; shared by `events pull` and the commands that pull as needed."""
    from linesync_cli.core.account_guard import check_binding
    from linesync_cli.core.events.pull import run_pull

    with open_mirror_for_writing(app.state_dir) as mirror, _PullProgress(app.renderer, label) as show:
        # A mirror of another account's events: exit 2 naming both, before a page is read.
        check_binding(mirror.db, app.klaviyo_account(), "event mirror", mirror.path)
        return run_pull(app.klaviyo(), mirror, opts, progress=show)


@events_app.command("pull")
def pull(
    ctx: typer.Context,
    since: SinceOpt = "30d",
    until: UntilOpt = None,
    metric: MetricOpt = None,
    overlap: Annotated[str, typer.Option("--overlap", help="Re-read this much before the newest time already mirrored: events can arrive with old times (a backfill writes last year's events today).")] = "3d",
    full: Annotated[bool, typer.Option("--full", help="Read the whole range again and drop mirrored events Klaviyo no longer holds in it.")] = False,
    compare_email: Annotated[bool, typer.Option("--compare-email", help="Mirror Klaviyo's Received, Opened and Clicked Email too.")] = False,
    readers: Annotated[int, typer.Option("--readers", min=1, max=32, help="Parallel readers (Get Events allows 3,500 requests a minute per account).")] = 8,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the LINE metrics' events from Klaviyo into the mirror in the state directory.

    Incremental: a second pull reads only what the mirror lacks in the range, plus the
    last --overlap before what it has. Each page is stored as it arrives, so Ctrl-C (or
    an outage) keeps what was read and the next pull continues there. Events are stored
    once by their Klaviyo id. The mirror is a cache: deleting it loses nothing.

    Examples:

      linesync events pull

      linesync events pull --since 2026-01-01 --metric sent --metric clicked
    """
    from linesync_cli.core.events.pull import PullOptions, mirror_metrics
    from linesync_cli.core.metrics import line_action
    from linesync_cli.render import Column, OutputFormat, safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    for name in metric or []:
        line_action(name)  # a mistyped name is said before anything else
    start, end = parse_range(since, until)
    gap = parse_overlap(overlap)
    from linesync_cli.core.events.pull import check_range

    check_range(start, end)
    refs, missing = mirror_metrics(app.klaviyo(), metric or (), compare_email=compare_email)
    r = app.renderer
    if missing:
        r.note(f"skipped, no events yet (Klaviyo creates a metric with its first event): "
               f"{safe(', '.join(missing))}")
    opts = PullOptions(start, end, refs, overlap=gap, full=full, readers=readers)
    result = pull_into_mirror(app, opts)
    rows = [{"event": m.metric.name, "metric": m.metric.key, "events_read": m.events,
             "ranges": "; ".join(f"{_day(lo)} → {_day(hi)}" for lo, hi in m.ranges) or "(up to date)"}
            for m in result.metrics]
    r.emit(output, json_data=result.to_json(), rows=rows,
           columns=[Column("event", "Event", no_wrap=True), Column("metric", "Key"),
                    Column("events_read", "Read", justify="right", fmt=lambda v: f"{v:,}" if r.is_terminal else str(v)),
                    Column("ranges", "Ranges read (UTC)")])
    for note in result.notes:
        r.note(f"[cyan]note:[/] {safe(note)}")
    if output is OutputFormat.table:
        rate = result.events_read / result.elapsed if result.elapsed > 0 else 0
        r.note(f"read {result.events_read:,} events ({result.events_new:,} new) in {result.requests:,} requests, "
               f"{result.elapsed:.1f}s ({rate:,.0f} events/s)")


def _day(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


@events_app.command("status")
def status(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """What the mirror holds: per metric, its events, their times, the range read and when.

    Examples:

      linesync events status

      linesync events status --json
    """
    from linesync_cli.core.events.status import mirror_status
    from linesync_cli.render import Column, OutputFormat
    from linesync_cli.timeutil import humanize_age, local_text

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    report = mirror_status(app.state_dir)
    r = app.renderer
    term = r.is_terminal

    def when(v):
        return local_text(v, None, term)

    rows = [{**m.to_json(), "pulled": humanize_age(m.pulled_at) if term else (m.pulled_at.isoformat()
                                                                           if m.pulled_at else "")}
            for m in report.metrics]
    r.emit(output, json_data=report.to_json(), rows=rows, columns=[
        Column("metric", "Key", no_wrap=True), Column("events", "Events", justify="right",
                                                       fmt=lambda v: f"{v:,}" if term else str(v)),
        Column("oldest", "Oldest event", fmt=lambda v: when(_dt(v))),
        Column("newest", "Newest event", fmt=lambda v: when(_dt(v))),
        Column("covered_since", "Read from", fmt=lambda v: when(_dt(v))),
        Column("covered_until", "Read to", fmt=lambda v: when(_dt(v))),
        Column("gaps", "Gaps", justify="right"),
        Column("pulled", "Pulled"),
    ])
    if output is OutputFormat.table:
        if not report.exists:
            r.note("no mirror yet: `linesync events pull` makes one")
        else:
            r.note(f"{report.path} · {report.size_bytes / 1e6:,.1f} MB · {report.total:,} events"
                   + (f" · {report.interrupted} slice(s) of an interrupted pull to finish" if report.interrupted else ""))


def _dt(v):
    from datetime import datetime

    return datetime.fromisoformat(v) if isinstance(v, str) and v else None


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"


@events_app.command("export")
def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write (new or empty).", metavar="DIR")],
    file_format: Annotated[ExportFormat, typer.Option("--format", "-f", help="File format of the partitions.", case_sensitive=False)] = ExportFormat.parquet,
    since: Annotated[str | None, typer.Option("--since", help="Only events from this time (duration or ISO 8601).")] = None,
    until: UntilOpt = None,
    metric: MetricOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Say what was written as a JSON object on stdout.")] = False,
) -> None:
    """Write the mirror as files partitioned by metric and UTC day, as warehouses load them.

    The layout is DIR/metric=sent/day=2026-11-30/data_0.parquet (Hive partitions), which
    BigQuery, Snowflake, Spark and DuckDB read as a partitioned table. The path for
    accounts whose history outgrows one machine.

    Examples:

      linesync events export exports/events

      linesync events export --format csv --since 7d --metric clicked exports/clicks
    """
    from linesync_cli.core.events.export import export_mirror
    from linesync_cli.core.events.mirror import Mirror
    from linesync_cli.core.metrics import line_action
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_when

    app = app_context(ctx)
    keys = tuple(line_action(n).key for n in metric or [])
    start = parse_when(since, option="--since") if since else None
    end = parse_when(until, option="--until") if until else None
    mirror = Mirror.open_existing(app.state_dir)
    if mirror is None:
        raise UsageError("there is no event mirror to export yet", hint="run `linesync events pull` first")
    with mirror:
        result = export_mirror(mirror, directory, file_format.value, since=start, until=end, metrics=keys)
    r = app.renderer
    if as_json:
        r.json(result.to_json())
    else:
        r.note(f"wrote {result.rows:,} events to {result.files:,} {result.format} file(s) in "
               f"{result.partitions:,} partition(s) under {result.directory}")


class _PullProgress:
    """Progress over slices (linesync_cli/progress.py: a bar on a terminal, plain lines elsewhere)."""

    def __init__(self, r: Any, label: str) -> None:
        from linesync_cli.progress import ProgressLine

        self.line = ProgressLine(r.err, label, with_bar=True)

    def __enter__(self) -> _PullProgress:
        self.line.__enter__()
        return self

    def __call__(self, p: Any) -> None:
        rate = p.events / p.elapsed if p.elapsed > 0 else 0.0
        self.line.update(f"{p.events:,} events · {p.slices_done}/{p.slices_total} slices · {rate:,.0f} events/s",
                         completed=p.slices_done, total=p.slices_total or None)

    def __exit__(self, *exc: object) -> None:
        self.line.__exit__(*exc)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


def pull_as_needed(app: Any, keys: list[str], since, until, *, compare_email: bool = False,
                   extra: tuple = ()) -> None:
    """Bring the mirror up to date for these metrics and range before a report reads it
    (`extra`: MetricRefs of other metrics, e.g. report revenue's order metric)."""
    from linesync_cli.core.events.pull import PullOptions, check_range, mirror_metrics

    check_range(since, until)
    # Metrics with no events yet are the report's to say.
    refs, _ = mirror_metrics(app.klaviyo(), keys, compare_email=compare_email)
    refs += tuple(extra)
    if refs:
        result = pull_into_mirror(app, PullOptions(since, until, refs), label="reading events")
        if result.events_new:
            app.renderer.note(f"mirror: {result.events_new:,} new events read from Klaviyo")
