"""`linesync backfill FILE...` and `linesync backfill runs`."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

if TYPE_CHECKING:
    from linesync_cli.core.backfill.flows import MetricFlows
    from linesync_cli.core.backfill.options import BackfillOptions
    from linesync_cli.core.backfill.result import BackfillProgress, BackfillResult
    from linesync_cli.core.backfill.sink import KlaviyoSink
    from linesync_cli.errors import LinesyncError
    from linesync_cli.render import Renderer

RUN_COMMAND = "run"
SUBCOMMANDS = ("runs", "verify")


class InputFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    line_webhook = "line-webhook"


OUTPUT_FORMATS = ("table", "json")
INPUT_FORMATS = ("csv", "jsonl", "line-webhook")
# Klaviyo's steady limit for bulk create (150 requests a minute of up to 1,000 events):
# the fastest any backfill can go, used for "time left".
CEILING_EVENTS_PER_SECOND = 150 * 1000 / 60


class BackfillGroup(TyperGroup):
    """`backfill runs` lists runs, `backfill verify` checks one; anything else is `backfill FILE...`
    (the hidden `run` command).

    `runs` and `verify` mean the subcommand only when no file of that name exists here,
    so a file called `runs` can still be backfilled.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not (args and args[0] in SUBCOMMANDS and not os.path.exists(args[0])):
            args = [RUN_COMMAND, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: typer.Context, args: list[str]):  # type: ignore[override]
        name, command, rest = super().resolve_command(ctx, args)
        # Usage and errors read `linesync backfill FILE...`, not `... backfill run FILE...`.
        return (None if name == RUN_COMMAND else name), command, rest


class _RunContext(typer.Context):
    @property
    def command_path(self) -> str:
        # The hidden `run` command has no name of its own (see BackfillGroup.resolve_command).
        return " ".join(super().command_path.split())


class _RunCommand(TyperCommand):
    context_class = _RunContext


backfill_app = typer.Typer(
    cls=BackfillGroup,
    help="Load historical LINE actions into Klaviyo exactly once, on linked profiles only "
    "(`linesync backfill runs` lists runs).",
    no_args_is_help=False,
)


def _split_formats(values: list[str] | None, input_format: str | None) -> tuple[str | None, str | None, list[str]]:
    """--format is the output format (table, json). It used to take the input format too: csv,
    jsonl and line-webhook still work there for one more release, and come back as deprecated."""
    out = None
    deprecated: list[str] = []
    for value in values or []:
        v = value.strip().lower()
        if v in OUTPUT_FORMATS:
            out = v
        elif v in INPUT_FORMATS:
            if input_format not in (None, v):
                raise typer.BadParameter(f"--format {v} and --input-format {input_format} disagree", param_hint="--format")
            input_format = v
            deprecated.append(v)
        else:
            raise typer.BadParameter(f"{value!r} is not an output format (table or json); the input format is "
                                     "--input-format csv|jsonl|line-webhook", param_hint="--format")
    return out, input_format, deprecated


def _only(text: str | None) -> tuple[str, ...]:
    from linesync_cli.catalogue import ACTION_KEYS, lookup

    if not text:
        return ()
    keys = []
    for part in text.split(","):
        found = lookup(part)
        if found is None:
            raise typer.BadParameter(f"{part.strip()!r} is not a LINE action (one of {', '.join(ACTION_KEYS)})",
                                     param_hint="--only")
        keys.append(found.key)
    return tuple(dict.fromkeys(keys))


@backfill_app.command(RUN_COMMAND, hidden=True, cls=_RunCommand)
def backfill(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Actions files (CSV or JSON Lines) or LINE webhook archives; - is standard input; .gz is read as gzip.", metavar="FILE", show_default=False)],
    formats: Annotated[list[str] | None, typer.Option("--format", "-f", help="Output format: table (default) or json. (--format csv|jsonl|line-webhook still sets the input format, with a warning: use --input-format.)", metavar="table|json", show_default=False)] = None,
    input_format: Annotated[InputFormat | None, typer.Option("--input-format", help="The input format; detected from the content when not given.", case_sensitive=False)] = None,
    as_json: JsonOpt = False,
    encoding: Annotated[str, typer.Option("--encoding", help="Text encoding of the input files (e.g. cp932 for Japanese spreadsheet exports).")] = "utf-8",
    timezone: Annotated[str | None, typer.Option("--timezone", "--tz", help="IANA zone for times without a UTC offset (in the input and in --since/--until); without it such times are rejected.", metavar="ZONE")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only actions at or after this time: 30d, 12h, 2026-03-01 or an ISO 8601 time.", metavar="WHEN")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only actions before this time (same forms as --since).", metavar="WHEN")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Only these actions, comma-separated (e.g. sent,clicked).", metavar="ACTION[,ACTION]")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop reading after N actions have passed the filters (for a trial run).", metavar="N")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but send: read, validate, resolve and batch; no API key needed with an offline linkage.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="With --dry-run: write each request body to DIR/batch-NNNNNN.json.", metavar="DIR")] = None,
    link_map: Annotated[Path | None, typer.Option("--link-map", help="CSV of line_user_id and profile_id (offline), email or phone_number, instead of the configured linkage.", metavar="FILE")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where to write rejected records (JSON Lines). Default: rejects/run-N.jsonl in the state dir.", metavar="FILE")] = None,
    unlinked: Annotated[Path | None, typer.Option("--unlinked", help="Write the unlinked and ambiguous LINE user IDs with their action counts (CSV).", metavar="FILE")] = None,
    trigger_flows: Annotated[bool, typer.Option("--trigger-flows", help="Send with backfill: false, so Flows triggered by these metrics START for old events. Asks first (or --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (with --trigger-flows).")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Start over instead of resuming the earlier run of the same inputs and options.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Most requests in flight at once. linesync keeps as many as the rate limit times the observed latency needs (at least 2), up to this.")] = 16,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Exit 0 when the inputs hold no records (by default an empty input, e.g. a broken `zcat ... |` pipe, exits 1).")] = False,
) -> None:
    """Load LINE actions (actions CSV/JSON Lines, or LINE webhook archives) into Klaviyo as events.

    Only actions of linked LINE users are sent, on the resolved profile ID alone, so no
    profile is ever created or changed. Events carry deterministic unique IDs and
    backfill: true (Flows do not start). Every run is recorded in the state dir's ledger:
    running the same command again continues where it stopped and never sends an
    accepted batch twice (--restart starts over). The summary accounts for every record
    read. Exit 0 when everything was sent (unlinked users are expected and reported),
    1 when records were rejected or refused, 2 usage, 3 credentials, 4 Klaviyo
    unavailable, 130 interrupted (progress saved). See also `linesync backfill runs`.

    Examples:

      linesync backfill examples/actions.csv examples/webhooks.jsonl --link-map examples/link-map.csv --dry-run

      zcat export.csv.gz | linesync backfill - --since 90d --only sent,clicked --unlinked unlinked.csv
    """
    from linesync_cli.core.backfill.options import BackfillOptions, TimeWindow
    from linesync_cli.core.backfill.readers import check_encoding
    from linesync_cli.timeutil import parse_zone

    output, input_text, deprecated = _split_formats(formats, input_format.value if input_format else None)
    for value in deprecated:
        app_context(ctx).renderer.warn(f"--format {value} is deprecated for the input format: use --input-format "
                                       f"{value} (--format will take only table or json in the next release)")
    if as_json:
        if output == "table":
            raise typer.BadParameter("--json and --format table disagree; give one of them", param_hint="--json")
        output = "json"
    if out is not None and not dry_run:
        raise typer.BadParameter("--out writes the request bodies of a dry run; add --dry-run", param_hint="--out")
    if restart and dry_run:
        raise typer.BadParameter("a dry run records nothing, so there is nothing to restart", param_hint="--restart")
    zone = parse_zone(timezone)
    opts = BackfillOptions(
        inputs=tuple(files), input_format=input_text, encoding=check_encoding(encoding), timezone=zone,
        window=TimeWindow.parse(since, until, zone), only=_only(only), limit=limit, rejects=rejects,
        unlinked=unlinked, trigger_flows=trigger_flows, restart=restart, workers=workers,
    )
    _run(ctx, opts, link_map, out if dry_run else None, dry_run, output or "table", yes, allow_empty)


def _empty_input(r: Renderer, names: list[str], allow_empty: bool) -> None:
    """No records at all: a nightly job must not pass on an empty export."""
    from linesync_cli.errors import CheckFailed

    shown = ", ".join("standard input" if n == "-" else n for n in names)
    r.warn(f"no records in {_safe(shown)} (an empty export, or a pipe whose first command failed?)")
    if not allow_empty:
        raise CheckFailed("nothing to backfill: the input is empty",
                          hint="give --allow-empty when an empty input is expected")


def _run(ctx: typer.Context, opts: BackfillOptions, link_map: Path | None, out: Path | None, dry_run: bool,
         output: str, yes: bool, allow_empty: bool) -> None:
    from linesync_cli.core.backfill.options import check_inputs
    from linesync_cli.core.backfill.run import run_backfill
    from linesync_cli.core.backfill.sink import DryRunSink, KlaviyoSink
    from linesync_cli.core.linkage import open_resolver
    from linesync_cli.errors import CheckFailed
    from linesync_cli.progress import ProgressLine

    app = app_context(ctx)
    r = app.renderer
    settings = app.settings
    # Everything that can fail with exit 2 fails before the first API call; a mistyped
    # file name is said before a missing key.
    inputs = check_inputs(opts.inputs)
    if all(i.empty for i in inputs):
        _empty_input(r, [i.name for i in inputs], allow_empty)
        return  # nothing to send, no run to record, no API to ask
    sink: KlaviyoSink | DryRunSink = DryRunSink(out) if dry_run else KlaviyoSink(app.klaviyo())
    if isinstance(sink, KlaviyoSink):
        app.guard_state("ledger.sqlite")  # another account's ledger or link index: exit 2, nothing sent
    resolver = open_resolver(settings, app.klaviyo, link_map=link_map)
    try:
        if isinstance(sink, KlaviyoSink):
            _flow_safety(r, sink, opts, yes)
        elif opts.trigger_flows:
            r.warn("--trigger-flows: these request bodies carry backfill: false; the real run lists the Flows "
                   "that would start and asks first")
        _note(r, f"linkage: {_safe(resolver.description)}")
        stop = threading.Event()
        with ProgressLine(r.err, "backfill", with_bar=True) as line, _ctrl_c_sets(stop):
            def on_progress(p: BackfillProgress) -> None:
                line.update(_progress_text(p), completed=p.bytes_read, total=p.bytes_total)

            result = run_backfill(opts, resolver, sink=sink, state_dir=settings.state_dir, inputs=inputs,
                                  progress=on_progress, stop=stop)
    finally:
        close = getattr(resolver, "close", None)
        if close is not None:
            close()
    _render_result(r, result, output)
    if result.stopped_by is not None:
        raise _said_honestly(result, result.stopped_by)
    c = result.counts
    if c.read == 0:
        _empty_input(r, list(opts.inputs), allow_empty)
    if c.rejected or c.failed:
        where = f"; see {result.rejects_path}" if result.rejects_path else ""
        if result.dry_run:
            raise CheckFailed(f"{c.rejected:,} record(s) would not be sent: rejected as invalid{where}",
                              hint="fix them in the input before the real run (or accept that they are left out)")
        raise CheckFailed(
            f"{c.rejected + c.failed:,} record(s) were not sent: {c.rejected:,} rejected as invalid, "
            f"{c.failed:,} refused by Klaviyo{where}",
            hint="fix them and run the command on a file of just those records (sent ones are never sent twice)",
        )


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C asks the run to stop where its books are whole (it then waits for the
    batches in flight); a second one interrupts at once."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _said_honestly(result: BackfillResult, stopped: LinesyncError) -> LinesyncError:
    """An interruption says "progress is saved" only when the run holds accepted batches; a dry
    run has nothing to resume."""
    from linesync_cli.errors import Interrupted

    if not isinstance(stopped, Interrupted):
        return stopped
    if result.dry_run:
        return Interrupted("interrupted: a dry run saves no progress", hint="run it again; it starts from the beginning")
    if result.counts.sent:
        return Interrupted(f"interrupted; progress is saved in run #{result.run_id}",
                           hint="run the same command again to continue where it stopped")
    return Interrupted("interrupted before any batch was accepted", hint="run the same command again")


def _note(r: Renderer, markup: str) -> None:
    """A status line on stderr, never wrapped (paths in it must stay copyable)."""
    r.err.print(markup, highlight=False, soft_wrap=True)


def _safe(text: Any) -> str:
    from linesync_cli.render import safe

    return safe(text)


def _flow_safety(r: Renderer, sink: KlaviyoSink, opts: BackfillOptions, yes: bool) -> None:
    """Say which live Flows the metrics trigger; with --trigger-flows, ask (or need --yes)."""
    from linesync_cli.errors import MissingScope, UsageError

    try:
        found: list[MetricFlows] = sink.triggered_flows(opts.only)
    except MissingScope:
        if opts.trigger_flows:
            raise
        # Listing is a courtesy when backfill: true keeps Flows from starting anyway.
        r.warn("cannot list the Flows these metrics trigger (the key lacks a read scope); events are sent with "
               "backfill: true, so Flows do not start")
        return
    live = [(m, f) for m in found for f in m.live_flows]
    for m, f in live:
        _note(r, f"  live Flow [bold]{_safe(f.name)}[/] ({_safe(f.id)}) is triggered by {_safe(m.metric_name)}")
    if not opts.trigger_flows:
        if live:
            _note(r, f"{len(live)} live Flow(s) are triggered by these metrics; events are sent with backfill: true, "
                   "so they will not start")
        else:
            _note(r, "no live Flow is triggered by the LINE metrics that exist; events are sent with backfill: true anyway")
        return
    r.warn(f"--trigger-flows: events are sent with backfill: false; {len(live)} live Flow(s) listed above will START "
           "for these old events (and Flows created later will too)")
    if yes:
        return
    import sys

    if not (sys.stdin.isatty() and "-" not in opts.inputs):
        raise UsageError("--trigger-flows needs a confirmation, and there is no terminal to ask on",
                         hint="add --yes if you really want Flows to start for the backfilled events")
    if not typer.confirm("Send with backfill: false and let these Flows start?", default=False, err=True):
        raise UsageError("not confirmed; nothing was sent", hint="leave out --trigger-flows to backfill safely")


def _progress_text(p: BackfillProgress) -> str:
    rate = p.sent / p.elapsed if p.elapsed > 0 else 0.0
    verb = "to send" if p.dry_run else "sent"
    info = f"{p.read:,} records read · {p.sent:,} events {verb} · {rate:,.0f} events/s"
    left = _time_left(p)
    return info if left is None else f"{info} · about {left} left"


def _time_left(p: BackfillProgress) -> str | None:
    """Events still to come (scaled from the bytes read) at the rate limit's ceiling."""
    if not p.bytes_total or not p.bytes_read or p.dry_run:
        return None
    done = p.sent + p.in_flight
    remaining = done * (p.bytes_total - p.bytes_read) / p.bytes_read + p.in_flight
    seconds = int(remaining / CEILING_EVENTS_PER_SECOND)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


BUCKETS = (
    ("sent", "sent", "accepted by Klaviyo"),
    ("would_send", "to send", "would be sent (dry run)"),
    ("unlinked", "unlinked", "no profile carries this LINE user ID: not sent"),
    ("ambiguous", "ambiguous", "several profiles carry this LINE user ID: not sent"),
    ("duplicates", "duplicates", "the same action seen before in this run (redelivered webhooks, repeated rows)"),
    ("rejected", "rejected", "invalid records, in the rejects file"),
    ("failed", "failed", "refused by Klaviyo (400), in the rejects file"),
    ("filtered", "filtered", "left out by --since/--until/--only"),
    ("pending", "pending", "read but not sent before the run stopped; run the command again"),
)


def _render_result(r: Renderer, result: BackfillResult, output: str) -> None:
    from linesync_cli.render import Column

    c = result.counts
    if output == "json":
        r.json(result.to_json())
    else:
        rows = [{"bucket": "records read", "count": c.read, "meaning": ""}]
        for key, label, meaning in BUCKETS:
            value = getattr(c, key)
            if value or key == ("would_send" if result.dry_run else "sent"):
                rows.append({"bucket": label, "count": value, "meaning": meaning})
        for reason, n in sorted(c.skipped.items()):
            rows.append({"bucket": f"skipped: {reason}", "count": n, "meaning": "not a LINE action that is synced"})
        cols = [Column("bucket", "Records"), Column("count", "Count", justify="right", fmt=lambda v: f"{v:,}"),
                Column("meaning", "")]
        title = "Dry run: nothing was sent" if result.dry_run else (
            f"Backfill run #{result.run_id}" + (" (resumed)" if result.resumed else ""))
        r.table(rows, cols, title=title)
    _notes(r, result)


def _notes(r: Renderer, result: BackfillResult) -> None:
    c = result.counts
    if result.dry_run:
        _note(r, f"dry run: {c.would_send:,} events in {c.batches:,} request(s) would be sent; nothing was sent")
        if result.out_dir is not None:
            _note(r, f"request bodies: {_safe(result.out_dir)}/batch-*.json")
    else:
        before = f" ({c.sent_before:,} of them by an earlier invocation)" if c.sent_before else ""
        _note(r, f"run #{result.run_id}: {c.sent:,} events accepted in {c.batches:,} batch(es){before}; "
               f"{c.read:,} records read in {result.elapsed:.1f}s")
        if result.resumed and c.sent_before == c.sent and c.sent and result.stopped_by is None:
            _note(r, "every batch had been accepted before: nothing new was sent (--restart sends everything again)")
    if not c.reconciled:
        r.warn("the counts do not add up to the records read; please report this")
    if c.unlinked or c.ambiguous:
        where = f": {_safe(result.unlinked_path)}" if result.unlinked_path else " (--unlinked FILE lists them)"
        _note(r, f"{c.unlinked + c.ambiguous:,} action(s) of unlinked or ambiguous LINE users were not sent{where}")
    if result.rejects_path is not None:
        _note(r, f"rejected records: {_safe(result.rejects_path)}")
    if result.stopped_by is not None and not result.dry_run:
        # "Progress is saved" only when there is some: accepted batches the next run skips.
        _note(r, f"progress is saved in run #{result.run_id}; run the same command again to continue" if c.sent
              else "no batch was accepted yet; run the same command again to start over")


@backfill_app.command("runs")
def runs(
    ctx: typer.Context,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the N most recent runs.")] = 20,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="One row per named account of the config file: its latest run and how many there are.")] = False,
) -> None:
    """List backfill runs recorded in the ledger, newest first, with their counts.

    With --all-accounts: a fleet view, one row per [accounts.NAME] table, each from its own state directory.

    Examples:

      linesync backfill runs --all-accounts

      linesync backfill runs --json | jq '.runs[0].counts'
    """
    from linesync_cli.render import Column, OutputFormat

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    if all_accounts:
        _runs_all_accounts(app, output, limit)
        return
    records = _ledger_runs(app.settings.state_dir, limit)
    rows = []
    for rec in records:
        counts = rec.counts or {}
        rows.append({
            "run": rec.id, "status": rec.status, "started": rec.started_at, "updated": rec.updated_at,
            "inputs": ", ".join(rec.inputs), "read": counts.get("read"), "sent": rec.events_sent,
            "unlinked": counts.get("unlinked"), "rejected": counts.get("rejected"), "failed": counts.get("failed"),
            "batches": rec.batches,
        })
    term = app.renderer.is_terminal

    def when(v: Any) -> str:
        from linesync_cli.timeutil import local_text

        return local_text(v, None, term)

    def number(v: Any) -> str:
        return "" if v is None else f"{v:,}"

    cols = [Column("run", "Run", justify="right"), Column("status", "Status"), Column("started", "Started", fmt=when),
            Column("updated", "Updated", fmt=when), Column("read", "Read", justify="right", fmt=number),
            Column("sent", "Sent", justify="right", fmt=number), Column("unlinked", "Unlinked", justify="right", fmt=number),
            Column("rejected", "Rejected", justify="right", fmt=number), Column("failed", "Failed", justify="right", fmt=number),
            Column("inputs", "Inputs")]
    app.renderer.emit(output, json_data={"runs": [rec.to_json() for rec in records]}, rows=rows, columns=cols)
    if not records and output is OutputFormat.table:
        _note(app.renderer, "no backfill runs yet (dry runs are not recorded)")


def _ledger_runs(state_dir: Path, limit: int) -> list:
    from linesync_cli.core.backfill.ledger import LEDGER_FILE, Ledger

    if not (state_dir / LEDGER_FILE).exists():
        return []
    ledger = Ledger(state_dir)
    try:
        return ledger.runs(limit)
    finally:
        ledger.close()


def _runs_all_accounts(app: Any, output: Any, limit: int) -> None:
    """One row per account, one after the other; an account whose config is broken says so in its row."""
    from linesync_cli.errors import LinesyncError
    from linesync_cli.render import Column
    from linesync_cli.timeutil import local_text

    rows, accounts = [], []
    for name in app.account_names():
        sub = app.for_account(name)
        try:
            state_dir = sub.state_dir
            records = _ledger_runs(state_dir, limit)
        except LinesyncError as exc:
            rows.append({"account": name, "state_dir": "", "runs": None, "latest": None, "status": "error",
                         "updated": None, "sent": None, "rejected": None, "failed": None, "note": exc.message})
            accounts.append({"account": name, "error": exc.message, "runs": []})
            continue
        finally:
            sub.close()
        latest = records[0] if records else None
        counts = (latest.counts or {}) if latest else {}
        rows.append({"account": name, "state_dir": str(state_dir), "runs": len(records),
                     "latest": latest.id if latest else None, "status": latest.status if latest else "no runs",
                     "updated": latest.updated_at if latest else None, "sent": latest.events_sent if latest else None,
                     "rejected": counts.get("rejected"), "failed": counts.get("failed"), "note": ""})
        accounts.append({"account": name, "state_dir": str(state_dir), "runs": [r.to_json() for r in records]})
    term = app.renderer.is_terminal

    def number(v: Any) -> str:
        return "" if v is None else f"{v:,}"

    cols = [Column("account", "Account", no_wrap=True), Column("runs", "Runs", justify="right", fmt=number),
            Column("latest", "Latest", justify="right", fmt=number), Column("status", "Status"),
            Column("updated", "Updated", fmt=lambda v: local_text(v, None, term)),
            Column("sent", "Sent", justify="right", fmt=number), Column("rejected", "Rejected", justify="right", fmt=number),
            Column("failed", "Failed", justify="right", fmt=number), Column("state_dir", "State dir"), Column("note", "Note")]
    app.renderer.emit(output, json_data={"accounts": accounts}, rows=rows, columns=cols)


def register(app: typer.Typer) -> None:
    from linesync_cli.commands.backfill_verify import register_verify

    register_verify(backfill_app)
    app.add_typer(backfill_app, name="backfill")
