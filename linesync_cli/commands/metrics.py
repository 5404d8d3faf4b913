"""`linesync metrics`: are the nine LINE metrics in Klaviyo? `metrics show`: one of them over time."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, TimezoneOpt, app_context, resolve_format

metrics_app = typer.Typer(
    # short_help only: `linesync metrics --help` shows the callback docstring and its examples.
    short_help="LINE metrics in Klaviyo: which of the nine have received events.",
    no_args_is_help=False,
    invoke_without_command=True,
)


@metrics_app.callback()
def metrics(
    ctx: typer.Context,
    allow_missing: Annotated[bool, typer.Option("--allow-missing", help="Exit 0 even when some of the nine metrics are missing.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the nine LINE metrics under integration type API: present or missing, with ID and times.

    A missing metric means no event of that kind has arrived yet. A LINE event name
    that also exists under another integration is flagged as split. Exits 1 when any
    metric is missing (for CI), unless --allow-missing.

    Examples:

      linesync metrics

      linesync metrics --json --allow-missing | jq '.metrics[] | select(.present|not)'
    """
    if ctx.invoked_subcommand is not None:
        return
    from linesync_cli.core.metrics import read_line_metrics
    from linesync_cli.errors import CheckFailed
    from linesync_cli.render import Column, OutputFormat
    from linesync_cli.timeutil import humanize_age, local_text

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    statuses = read_line_metrics(app.klaviyo())
    r = app.renderer
    term = r.is_terminal
    rows = []
    for st in statuses:
        m = st.metric
        rows.append({
            "action": st.action.key,
            "name": st.action.metric_name,
            "status": "present" if st.present else "missing",
            "metric_id": m.id if m else "",
            "integration": m.integration_name if m else "",
            "created": m.created if m else None,
            "updated": m.updated if m else None,
            "split": "; ".join(f"{o.integration_name or o.integration_category} ({o.id})" for o in st.others),
        })
    missing = [st for st in statuses if not st.present]
    split = [st for st in statuses if st.split]
    if output is OutputFormat.json:
        r.json({
            "metrics": [st.to_json() for st in statuses],
            "summary": {"present": len(statuses) - len(missing), "missing": len(missing), "split": len(split)},
        })
    else:
        def when(v):
            # A terminal reads "40d ago" at a glance; pipes get exact ISO 8601.
            return humanize_age(v) if term and v else local_text(v, None, term)

        def status_text(v):
            return {"present": "✓ present", "missing": "✗ missing"}[v] if term else v

        cols = [
            Column("name", "Event", no_wrap=True),
            Column("status", "Status", fmt=status_text),
            Column("metric_id", "Metric ID"),
            Column("integration", "Integration"),
            Column("created", "Created", fmt=when),
            Column("updated", "Updated", fmt=when),
            Column("split", "Also under"),
        ]
        if output is OutputFormat.csv:
            r.csv(rows, cols)
        else:
            styles = [None if row["status"] == "present" else "red" for row in rows]
            r.table(rows, cols, row_styles=styles if term else None)
        for st in missing:
            r.note(f"[red]✗[/] {st.action.metric_name}: no event of this kind has arrived yet")
        for st in split:
            r.warn(f"{st.action.metric_name} also exists under another integration (split metric): "
                   "reports and segments must pick the API one")
        if missing:
            r.note("[cyan]hint:[/] events go only to linked profiles (`linesync check-link LINE_USER_ID`); opens and "
                   "clicks need a trackable link or image; `linesync doctor` runs the whole checklist")
        else:
            r.note(f"all {len(statuses)} LINE metrics are present")
    if missing and not allow_missing:
        raise CheckFailed(f"{len(missing)} of {len(statuses)} LINE metrics are missing",
                          hint="--allow-missing exits 0 anyway")


class Interval(str, Enum):
    hour = "hour"
    day = "day"
    week = "week"


# More rows than this is a mistake (720 hours in 30 days), not a chart anyone reads.
MAX_INTERVALS = 1000
MAX_FEED = 1000


@metrics_app.command("show")
def show(
    ctx: typer.Context,
    metric: Annotated[str, typer.Argument(help="A LINE metric: short name (clicked, qr_scanned, ...) or Klaviyo event name (\"Clicked LINE Message\").", show_default=False)],
    since: Annotated[str, typer.Option("--since", help="Start of the range: a duration back from now (30d, 12h, 2w; counted from the start of that interval) or an ISO 8601 date/time (dates in --timezone).")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="End of the range, exclusive (same forms as --since). Default: now. Also limits the activity feed.")] = None,
    interval: Annotated[Interval, typer.Option("--interval", help="One bar per hour, day or week.", case_sensitive=False)] = Interval.day,
    timezone: TimezoneOpt = None,
    feed: Annotated[int, typer.Option("--feed", help=f"How many of the most recent events to list (0: none, at most {MAX_FEED}).", min=0, max=MAX_FEED)] = 20,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One LINE metric as Klaviyo's metric page shows it: counts over time and recent activity.

    Total events and unique profiles per interval (empty ones are zeros), as a
    chart on a terminal with the range totals beside it, then the most recent
    events with their profile and key properties. json gives the series and
    the feed, csv the series. Exits 1 when no event of this kind has arrived.

    Examples:

      linesync metrics show clicked --since 7d --timezone Asia/Tokyo

      linesync metrics show "Sent LINE Message" --interval week --since 12w --json | jq .totals
    """
    from linesync_cli.core.metrics import line_action, show_metric
    from linesync_cli.render import OutputFormat

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    # csv holds only the series: do not spend a request on the feed.
    opts = _show_options(metric, since, until, interval.value, timezone, 0 if output is OutputFormat.csv else feed)
    line_action(metric)  # an unknown name is a usage error before any key is needed
    result = show_metric(app.klaviyo(), opts)
    if output is OutputFormat.json:
        app.renderer.json(result.to_json())
    if result.metric is None:
        raise _missing(result.status)
    _warn_split(app.renderer, result)
    if output is not OutputFormat.json:
        _render_show(app.renderer, result, output)


def _warn_split(r, result) -> None:
    from linesync_cli.render import safe

    m = result.metric
    for other in result.status.others:
        r.warn(f"{safe(m.name)} also exists under {safe(other.integration_name or other.integration_category)} "
               f"({safe(other.id)}); showing the API-integration metric {safe(m.id)}")


def _missing(status):
    """The error for a metric with no event yet: what usually causes it and what checks it."""
    from linesync_cli.errors import CheckFailed

    action = status.action
    message = f"{action.metric_name}: no event of this kind has arrived yet"
    if status.others:
        # Only under another integration: something else records this name, not LINE Event Sync.
        elsewhere = ", ".join(f"{o.integration_name or o.integration_category} ({o.id})" for o in status.others)
        message += f" under the API integration (a metric of this name exists under {elsewhere})"
    hint = "events go only to linked profiles: check one with `linesync check-link LINE_USER_ID`; "
    if action.needs_trackable_content:
        hint += "opens and clicks are recorded only for messages with a trackable link or image; "
    return CheckFailed(message, hint=hint + "`linesync doctor` runs the whole checklist")


def _show_options(metric: str, since: str, until: str | None, interval: str, timezone: str | None, feed: int):
    """CLI values to ShowOptions: the zone in Klaviyo's spelling, the range aligned and checked."""
    from datetime import UTC, datetime

    from linesync_cli.core.aggregates import bucket_starts, klaviyo_zone_name, local_zone_name
    from linesync_cli.core.metrics import ShowOptions, align_start
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_duration, parse_required_when, parse_when, parse_zone

    zone_name = klaviyo_zone_name(timezone) if timezone else local_zone_name()
    zone = parse_zone(zone_name) or UTC
    now = datetime.now(UTC)
    start = parse_required_when(since, option="--since", now=now, tz=zone)
    if parse_duration(since) is not None:
        # "30d" means whole intervals, so the first bar is not a partial one.
        start = align_start(start, interval, zone)
    end = parse_when(until, option="--until", now=now, tz=zone) or now
    if start >= end:
        raise UsageError(f"--since ({start.isoformat()}) is not before --until ({end.isoformat()})",
                         hint="e.g. --since 30d, or --since 2026-03-01 --until 2026-04-01")
    count = len(bucket_starts(start, end, interval, zone))
    if count > MAX_INTERVALS:
        raise UsageError(f"that range has {count:,} {interval}s; at most {MAX_INTERVALS:,} fit a chart",
                         hint="use a longer --interval or a shorter --since")
    return ShowOptions(metric, start.astimezone(zone), end.astimezone(zone), interval, zone_name, feed,
                       feed_until=until is not None)


def _render_show(r, result, output) -> None:
    """The series (a chart on a terminal, a table when piped, csv) and the feed."""
    from linesync_cli.chart import Series, TimeChart, interval_label, number
    from linesync_cli.render import Column, OutputFormat, safe
    from linesync_cli.timeutil import local_text, parse_zone

    opts, series, totals, m = result.options, result.series, result.totals, result.metric
    zone = parse_zone(opts.timezone)
    rows = [{"start": b.start, "count": b.values["count"], "unique": b.values["unique"]} for b in series.buckets]
    if output is OutputFormat.csv:
        r.csv(rows, [Column("start", "start"), Column("count", "count"), Column("unique", "unique")])
        return
    per = {"hour": "hourly", "day": "daily", "week": "weekly"}[opts.interval]
    total_rows = [("Total", number(totals.count))]
    if totals.unique_exact:
        total_rows.append(("Unique", number(totals.unique)))
    else:
        total_rows += [("Unique", f"≥ {number(totals.unique_lower_bound)}"),
                       (f"Sum of {per} uniques", number(totals.unique))]
    busiest = max(series.buckets, key=lambda b: b.values["count"], default=None)
    if busiest is not None and busiest.values["count"]:
        total_rows.append(("Busiest", f"{interval_label(busiest.start, opts.interval)} ({number(busiest.values['count'])})"))
    heading = (f"{m.name} ({m.id}, {m.integration_name or m.integration_category}): {per} from "
               f"{local_text(opts.since, zone, r.is_terminal)} to {local_text(opts.until, zone, r.is_terminal)}")
    if r.is_terminal:
        r.out.print(f"[bold]{safe(heading)}[/]", highlight=False)
        r.out.print(TimeChart([b.start for b in series.buckets],
                              [Series("Total", [row["count"] for row in rows]),
                               Series("Unique", [row["unique"] for row in rows])],
                              interval=opts.interval, totals=total_rows))
    else:
        r.table(rows, [Column("start", "Start", fmt=lambda v: v.isoformat()), Column("count", "Total"),
                       Column("unique", "Unique")], title=heading)
        r.data("")
        r.table([{"k": k, "v": v} for k, v in total_rows], [Column("k", "Totals"), Column("v", "")])
    if not totals.count:
        r.note("no events in this range")
    feed = result.feed
    if feed is None:
        return
    if feed.unavailable:
        r.warn(f"no activity feed: {safe(feed.unavailable)}")
        return
    if not feed.events:
        r.note("no recent events" + (" before --until" if opts.feed_until else ""))
        return
    title = f"Recent activity ({len(feed.events)} most recent)"
    if r.is_terminal:
        _feed_table(r, feed, zone, title)
    else:
        r.data("")
        rows = [{"time": e.time, "who": e.who, "line_user_id": e.properties.get("LINE User ID"),
                 "details": _details(e)} for e in feed.events]
        r.table(rows, [Column("time", "Time", fmt=lambda v: local_text(v, zone, False)), Column("who", "Profile"),
                       Column("line_user_id", "LINE User ID"), Column("details", "Properties")], title=title)
    if feed.more:
        r.note(f"older events not shown; --feed N lists up to {MAX_FEED}")


def _details(event) -> str:
    return "  ".join(f"{k}: {v}" for k, v in event.key_properties() if k != "LINE User ID")


def _feed_table(r, feed, zone, title: str) -> None:
    """The feed as a Rich table that stays readable at 80-100 columns: times and LINE
    IDs never fold (Renderer.table folds every column), the LINE User ID sits under
    the profile, and the zone is said once in the title instead of on every row."""
    from rich.table import Table

    from linesync_cli.render import safe

    zone_name = getattr(zone, "key", None) or str(zone)
    table = Table(title=safe(f"{title}, times in {zone_name}"), title_justify="left", header_style="bold")
    table.add_column("Time", no_wrap=True)
    table.add_column("Profile / LINE User ID", min_width=33, overflow="fold")
    table.add_column("Properties", overflow="fold", ratio=1)
    for e in feed.events:
        who = safe(e.who)
        line_id = e.properties.get("LINE User ID")
        if line_id:
            who += f"\n[dim]{safe(line_id)}[/]"
        shown = e.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if e.time else ""
        table.add_row(shown, who, "\n".join(safe(f"{k}: {v}") for k, v in e.key_properties() if k != "LINE User ID"))
    r.out.print()
    r.out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
