"""`linesync backfill verify [RUN]`: which events of a backfill run Klaviyo holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format


def verify(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Argument(help="The run number (`linesync backfill runs`). Default: the last run.", metavar="RUN")] = None,
    settle: Annotated[str, typer.Option("--settle", help="Events sent less than this long ago count as \"not visible yet\", never as missing (Klaviyo takes minutes to show events).")] = "10m",
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="Check N random events of the run with one-profile reads: fast confidence on a huge run.", metavar="N")] = None,
    missing: Annotated[Path | None, typer.Option("--missing", help="Write the missing events as an actions file (JSON Lines) that `linesync backfill FILE` accepts.", metavar="FILE")] = None,
    resend: Annotated[bool, typer.Option("--resend", help="Send the missing events again (safe: the same unique_id is never recorded twice).")] = False,
    readers: Annotated[int, typer.Option("--readers", min=1, max=32, help="Parallel readers of Get Events.")] = 8,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check which events of a backfill run Klaviyo holds: stored, missing, not visible yet.

    A 202 from Klaviyo only queues the events; one can still be dropped. The run's
    events are derived again from its inputs (as a resume does) and looked up among
    the events read back, by (profile, metric, unique_id). Per metric the cheaper
    reading is chosen, by metric over the run's time range or by profile, and said
    with its estimated time before reading. Exit 0 when every event is stored (or
    not visible yet), 1 when some are missing.

    Examples:

      linesync backfill verify

      linesync backfill verify 12 --missing missing.jsonl --resend
    """
    from datetime import timedelta

    from linesync_cli.core.events.pull import mirror_metrics
    from linesync_cli.core.linkage import open_resolver
    from linesync_cli.core.verify import Verification, VerifyOptions, aggregate_counter, find_run, link_map_of
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_duration

    app = app_context(ctx)
    output = resolve_format(fmt, as_json, allow_csv=False)
    settle_for = parse_duration(settle) if settle.strip() not in ("0", "0s") else timedelta(0)
    if settle_for is None:
        raise UsageError(f"--settle {settle!r} is not a duration", hint="e.g. --settle 10m, --settle 1h")
    settings = app.settings
    record = find_run(settings.state_dir, run)
    r = app.renderer
    client = app.klaviyo()
    refs, _ = mirror_metrics(client)
    resolver = open_resolver(settings, app.klaviyo, link_map=link_map_of(record))
    opts = VerifyOptions(record.id, settle_for, sample, readers)
    verification = Verification(client, settings.state_dir, record, opts, {m.key: m for m in refs},
                                settings.klaviyo_base_url)
    try:
        r.note(f"run #{record.id}: finding the events it sent in its inputs ({len(record.inputs)} file(s))")
        sent = verification.derive(resolver)
        if verification.inputs_changed:
            r.warn(f"the inputs of run #{record.id} changed since it ran; events are matched as the inputs give "
                   "them now")
        if verification.unmatched:
            r.warn(f"{verification.unmatched:,} accepted batch(es) of run #{record.id} are not in what its inputs "
                   "give now (inputs or linkage changed): their events are not checked")
        plans = verification.plan(aggregate_counter(client))
        for p in plans:
            r.note(_plan_line(p))
        if plans:
            total = sum(p.seconds for p in plans)
            r.note(f"reading back: about {sum(p.requests for p in plans):,} requests, at least {_duration(total)} "
                   "at Get Events' 3,500 requests a minute")
        from linesync_cli.commands.events import _PullProgress

        with _PullProgress(r, "reading back") as show:
            verification.read(show)
        missing_file = missing
        if resend and missing_file is None:
            missing_file = settings.state_dir / "verify" / f"run-{record.id}-missing.jsonl"
        result = verification.result(missing_file)
    finally:
        verification.close()
        close = getattr(resolver, "close", None)
        if close is not None and not resend:
            close()
    _render(r, result, output, sent)
    if resend and result.missing:
        try:
            _resend(app, record, result, resolver, r)
        finally:
            close = getattr(resolver, "close", None)
            if close is not None:
                close()
        return
    if result.missing:
        from linesync_cli.errors import CheckFailed

        where = f"; written to {result.missing_file}" if result.missing_file else ""
        raise CheckFailed(f"{result.missing:,} of {sum(o.checked for o in result.outcomes):,} events of run "
                          f"#{record.id} are missing in Klaviyo{where}",
                          hint=f"send them again with `linesync backfill verify {record.id} --resend` (same unique_id: "
                          "nothing is recorded twice), or write them out with --missing FILE")


def _plan_line(p: Any) -> str:
    from linesync_cli.core.verify import SAMPLE
    from linesync_cli.render import safe

    name = safe(p.metric.name or p.metric.key)
    if not p.metric.id:
        return f"{name}: {p.sent:,} sent, but Klaviyo has no such metric: all missing"
    if p.plan == SAMPLE:
        return f"{name}: {p.requests:,} of {p.sent:,} sent, sampled: one-profile reads, ~{p.requests:,} requests"
    holds = f"Klaviyo holds {p.klaviyo_events:,} in the range" if p.klaviyo_events is not None else \
        "Klaviyo's count for the range is unknown"
    return (f"{name}: {p.sent:,} sent to {p.profiles:,} profile(s) between {p.since:%Y-%m-%d} and {p.until:%Y-%m-%d}; "
            f"{holds} → {p.plan}, ~{p.requests:,} requests, ~{_duration(p.seconds)}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _render(r: Any, result: Any, output: Any, sent: int) -> None:
    from linesync_cli.render import Column, OutputFormat, safe

    if output is OutputFormat.json:
        r.json(result.to_json())
        return
    term = r.is_terminal

    def number(v: Any) -> str:
        return f"{v:,}" if term else str(v)

    rows = [o.to_json() for o in result.outcomes]
    r.table(rows, [Column("event", "Event", no_wrap=True), Column("checked", "Checked", justify="right", fmt=number),
                   Column("stored", "Stored", justify="right", fmt=number),
                   Column("missing", "Missing", justify="right", fmt=number),
                   Column("not_visible_yet", "Not visible yet", justify="right", fmt=number)],
            title=f"Backfill run #{result.run.id}" + (f" (sample of {result.sample:,})" if result.sample else ""))
    if not sent:
        r.note(f"run #{result.run.id} has no accepted events to check")
    for m in result.first_missing:
        r.note(f"missing: {safe(_shown(m.file))}:{m.line} {safe(m.action)} {safe(m.line_user_id)} {m.time.isoformat()} "
               f"unique_id {safe(m.unique_id)}")
    if result.missing > len(result.first_missing):
        r.note(f"... and {result.missing - len(result.first_missing):,} more (--missing FILE writes them all)")
    if result.not_visible and result.visible_after is not None:
        r.note(f"[cyan]note:[/] {result.not_visible:,} event(s) were sent less than "
               f"{int(result.settle.total_seconds() // 60)} min ago; Klaviyo may not show them yet. Verify again "
               f"after {result.visible_after.astimezone():%H:%M}")
    if result.missing_file is not None:
        r.note(f"wrote the {result.missing:,} missing event(s) to {result.missing_file}")


def _shown(path: str) -> str:
    """An input as the user likely typed it: relative under the current directory (the ledger keeps it absolute)."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith(os.pardir) else relative


def _resend(app: Any, record: Any, result: Any, resolver: Any, r: Any) -> None:
    from linesync_cli.core.backfill.options import BackfillOptions
    from linesync_cli.core.backfill.run import run_backfill
    from linesync_cli.core.backfill.sink import KlaviyoSink

    settings = app.settings
    client = app.klaviyo()
    o = record.options
    opts = BackfillOptions(inputs=(str(result.missing_file),), input_format="jsonl",
                           trigger_flows=bool(o.get("trigger_flows")))
    done = run_backfill(opts, resolver, sink=KlaviyoSink(client), state_dir=settings.state_dir)
    if done.stopped_by is not None:
        raise done.stopped_by
    c = done.counts
    r.note(f"resent {c.sent:,} of {result.missing:,} missing event(s) as backfill run #{done.run_id}; check them "
           f"with `linesync backfill verify {result.run.id}` once they settle (--settle "
           f"{_duration(result.settle.total_seconds()) if result.settle else '0s'})")
    if c.sent < result.missing:
        from linesync_cli.errors import CheckFailed

        raise CheckFailed(f"{result.missing - c.sent:,} missing event(s) could not be resent "
                          f"({c.unlinked:,} unlinked now, {c.failed:,} refused, {c.rejected:,} rejected)",
                          hint="`linesync backfill runs` shows the resend run's counts")


def register_verify(backfill_app: typer.Typer) -> None:
    backfill_app.command("verify")(verify)
