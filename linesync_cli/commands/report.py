"""`linesync report funnel`: the LINE funnel from Klaviyo's aggregates, email beside it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, TimezoneOpt, app_context, resolve_format

report_app = typer.Typer(
    short_help="Reports: the LINE funnel from Klaviyo's aggregates; per-broadcast figures and revenue after a LINE click from the event mirror.",
    help="""Reports: the LINE funnel from Klaviyo's aggregates; per-broadcast figures and revenue after a LINE click from the event mirror.

Examples:

  linesync report funnel --since 30d --compare-email

  linesync report funnel --since 7d --format csv >> weekly-funnel.csv

  linesync report revenue --since 30d --window 5d
""",
    no_args_is_help=True,
)


class Interval(str, Enum):
    hour = "hour"
    day = "day"
    week = "week"
    month = "month"


@report_app.command("funnel")
def funnel(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Start: a duration back from now (30d, 12h, 2w) or an ISO 8601 date/time (a date is read in --timezone).")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="End (exclusive), same forms as --since; a --since duration counts back from it. Default: now.")] = None,
    interval: Annotated[Interval, typer.Option("--interval", help="Bucket size of the series (--chart, JSON).", case_sensitive=False)] = Interval.day,
    timezone: TimezoneOpt = None,
    compare_email: Annotated[bool, typer.Option("--compare-email", help="Add Klaviyo's Received, Opened and Clicked Email beside the LINE funnel.")] = False,
    chart: Annotated[bool, typer.Option("--chart", help="Draw counts over time (on stderr with --format json/csv).")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Exact Unique over any range, counted from the event mirror (pulled as needed) instead of Klaviyo's per-month uniques.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Total events and unique people for Sent → Delivered → Opened → Clicked LINE Message.

    Each step's rate is taken of the step before it (Delivered of Sent, Opened of
    Delivered, Clicked of Opened; Failed of Sent). Followed and Blocked are shown
    too. Unique is exact when the range lies inside one calendar month of the
    zone; otherwise it is shown as bounds "low–high" from the monthly uniques. A metric
    with no events yet is shown as such. Times are event times.

    Examples:

      linesync report funnel --since 2026-11-01 --until 2026-12-01 --timezone Asia/Tokyo --compare-email

      linesync report funnel --since 90d --exact --format csv >> funnel.csv
    """
    from linesync_cli.core.aggregates import klaviyo_zone_name, local_zone_name
    from linesync_cli.core.funnel import FunnelOptions, build_funnel
    from linesync_cli.render import OutputFormat
    from linesync_cli.timeutil import parse_required_when, parse_zone

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    zone_name = klaviyo_zone_name(timezone) if timezone else local_zone_name()
    zone = parse_zone(zone_name)
    from datetime import UTC, datetime

    end = parse_required_when(until, option="--until", tz=zone) if until else datetime.now(UTC).replace(microsecond=0)
    # A duration counts back from --until, so `--since 7d --until 2026-11-01` is the week before.
    start = parse_required_when(since, option="--since", tz=zone, now=end)
    options = FunnelOptions(
        since=start, until=end, interval=interval.value, timezone=zone_name,
        compare_email=compare_email, with_series=(chart or output is OutputFormat.json) and not exact, exact=exact,
    )
    if exact:
        if chart:
            raise typer.BadParameter("--chart draws Klaviyo's aggregate series; leave it out with --exact",
                                     param_hint="--chart")
        report = _exact_funnel(app, options)
    else:
        report = build_funnel(app.klaviyo(), options)
    _render(app.renderer, report, output, chart)


def _exact_funnel(app, options):
    """The funnel's figures counted from the mirror: exact totals and unique people over the whole range."""
    from linesync_cli.commands.events import pull_as_needed
    from linesync_cli.core.events.mirror import Mirror
    from linesync_cli.core.funnel import build_exact_funnel, funnel_keys, known_metrics

    metrics = known_metrics(app.klaviyo())
    keys = funnel_keys(options)
    line_keys = [k for k in keys if not k.startswith("email_")]
    pull_as_needed(app, line_keys, options.since, options.until, compare_email=options.compare_email)
    mirror = Mirror.open_existing(app.state_dir)
    from linesync_cli.core.events.broadcasts import exact_totals

    if mirror is None:
        totals = {}
    else:
        with mirror:
            totals = exact_totals(mirror, keys, options.since, options.until)
    return build_exact_funnel(options, metrics, totals)


def _render(r, report, output, chart: bool) -> None:
    from linesync_cli.render import Column, OutputFormat, safe

    term = r.is_terminal
    o = report.options
    if output is OutputFormat.json:
        r.json(report.to_json())
    else:
        rows = [_row(row, report, term) for row in report.rows]
        if output is OutputFormat.csv:
            r.csv(rows, [Column(k, k) for k in CSV_KEYS])
        else:
            cols = [
                Column("channel", "Channel"),
                Column("event", "Event"),
                Column("total_text", "Total", justify="right"),
                Column("unique_text", "Unique", justify="right"),
                Column("total_rate_text", "Total rate", justify="right"),
                Column("unique_rate_text", "Unique rate", justify="right"),
                Column("base_text", "Rate of"),
            ]
            title = (f"LINE funnel {_when(o.since, o.timezone, term)} → {_when(o.until, o.timezone, term)} "
                     f"({o.timezone})")
            r.table(rows, cols, title=title)
    if chart:
        _chart(r, report, to_stdout=output is OutputFormat.table)
    for row in report.rows:
        if not row.present:
            r.note(f"[red]✗[/] {safe(row.step.metric_name)}: no events yet (Klaviyo creates the metric with its first event)")
    for row in report.rows:
        others = report.split.get(row.step.key)
        if others:
            names = ", ".join(safe(m.integration_name or m.integration_category) for m in others)
            r.warn(f"{safe(row.step.metric_name)} also exists under {names} (split metric): this report counts "
                   "the API one only")
    if not report.uniques_exact:
        r.note("[cyan]note:[/] the range crosses a calendar month and Klaviyo counts unique people per month, so "
               "some Unique figures are bounds (low–high): at least the busiest month, at most the months added up "
               "(a person active in two months counts twice); ~ marks rates built on them. For exact uniques pick "
               f"a range inside one month, e.g. {_one_month_example(o)}")
    if any(row.present for row in report.rows if row.step.key in ("opened", "clicked")):
        r.note("[cyan]note:[/] opens and clicks are recorded only for messages with a trackable link or image, "
               "so Opened of Delivered understates how many read a message")


CSV_KEYS = ("channel", "key", "event", "status", "metric_id", "total", "unique", "unique_exact",
            "unique_lower_bound", "rate_base", "total_rate", "unique_rate", "since", "until", "timezone")


def _one_month_example(o) -> str:
    from datetime import timedelta

    from linesync_cli.timeutil import parse_zone

    last = (o.until - timedelta(seconds=1)).astimezone(parse_zone(o.timezone)).date().replace(day=1)
    after = last.replace(year=last.year + last.month // 12, month=last.month % 12 + 1)
    return f"--since {last.isoformat()} --until {after.isoformat()}"


def _when(dt, zone_name: str, term: bool) -> str:
    from linesync_cli.timeutil import parse_zone

    local = dt.astimezone(parse_zone(zone_name))
    return local.strftime("%Y-%m-%d %H:%M") if term else local.isoformat()


def _count(value, term: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" if term else str(value)
    return f"{int(value):,}" if term else str(int(value))


def _pct(value, approx: bool = False) -> str:
    if value is None:
        return ""
    return ("~" if approx else "") + f"{value * 100:.1f}%"


def _row(row, report, term: bool) -> dict:
    o = report.options
    base = report.row(row.step.base) if row.step.base else None
    unique = row.unique
    return {
        # raw values: CSV
        "channel": row.step.channel,
        "key": row.step.key,
        "event": row.step.metric_name,
        "status": row.status,
        "metric_id": row.metric.id if row.metric else "",
        "total": row.total,
        "unique": unique.value if unique else None,
        "unique_exact": unique.exact if unique else None,
        "unique_lower_bound": unique.lower_bound if unique else None,
        "rate_base": row.step.base or "",
        "total_rate": None if row.total_rate is None else round(row.total_rate, 6),
        "unique_rate": None if row.unique_rate is None else round(row.unique_rate, 6),
        "since": o.since.isoformat(),
        "until": o.until.isoformat(),
        "timezone": o.timezone,
        # display text: table
        "total_text": _count(row.total, term) if row.present else "no events yet",
        "unique_text": "" if unique is None else _count(unique.value, term) if unique.exact
        else f"{_count(unique.lower_bound, term)}–{_count(unique.value, term)}",
        "total_rate_text": _pct(row.total_rate),
        "unique_rate_text": _pct(row.unique_rate, approx=row.unique_rate_exact is False),
        "base_text": base.step.metric_name if base else "",
    }


def _short(row) -> str:
    """`Sent LINE Message` → `Sent`, `Opened Email` → `Opened`: the chart's heading names the channel."""
    return row.step.metric_name.split(" ")[0]


def _chart(r, report, *, to_stdout: bool) -> None:
    from linesync_cli.chart import Series, TimeChart

    groups = [("LINE", ("sent", "delivered", "opened", "clicked")),
              ("Email", ("email_received", "email_opened", "email_clicked"))]
    drawn = False
    for channel, keys in groups:
        rows = [row for key in keys if (row := report.row(key)) is not None and row.series is not None]
        if not rows:
            continue
        starts = [b.start for b in rows[0].series.buckets]
        chart = TimeChart(
            starts,
            [Series(_short(row), row.series.values("count")) for row in rows],
            interval=report.options.interval,
            totals=[(_short(row), _count(row.total, True)) for row in rows],
        )
        heading = f"{channel}: events per {report.options.interval} ({report.options.timezone})"
        if to_stdout and r.is_terminal:
            r.out.print()
            r.out.print(heading, style="bold", markup=False)
            r.out.print(chart)
        elif to_stdout:
            r.data("\n" + heading + "\n" + "\n".join(chart.lines(100)))
        else:
            r.err.print(heading, style="bold", markup=False)
            r.err.print(chart)
        drawn = True
    if not drawn:
        r.note("nothing to chart: none of the funnel metrics has events yet")


class GroupBy(str, Enum):
    broadcast = "broadcast"
    flow = "flow"
    workflow = "workflow"
    message = "message"


BROADCAST_STEPS = ("sent", "delivered", "failed", "opened", "clicked")


@report_app.command("broadcasts")
def broadcasts(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Start: a duration back from now (14d, 12h, 2w) or an ISO 8601 date/time (UTC when no offset).")] = "14d",
    until: Annotated[str | None, typer.Option("--until", help="End (exclusive), same forms as --since. Default: now.")] = None,
    by: Annotated[GroupBy, typer.Option("--by", help="One row per Broadcast ID, Flow ID, Workflow ID or Message ID.", case_sensitive=False)] = GroupBy.broadcast,
    no_pull: Annotated[bool, typer.Option("--no-pull", help="Report from the mirror as it is, without reading new events from Klaviyo first.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sent, Delivered, Failed, Opened and Clicked per broadcast: Total events and Unique people.

    Exact figures from the event mirror (`linesync events pull`), read up to date
    first. Rates are of the step before (Delivered and Failed of Sent, Opened of
    Delivered, Clicked of Opened), on unique people. Newest first (by first event);
    events without the ID are grouped as "(none)".

    Examples:

      linesync report broadcasts

      linesync report broadcasts --since 30d --by flow --format csv > flows.csv
    """
    from linesync_cli.commands.events import parse_range, pull_as_needed
    from linesync_cli.core.events.broadcasts import broadcast_report
    from linesync_cli.core.events.mirror import Mirror
    from linesync_cli.errors import UsageError

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    start, end = parse_range(since, until)
    if not no_pull:
        pull_as_needed(app, list(BROADCAST_STEPS), start, end)
    mirror = Mirror.open_existing(app.state_dir)
    if mirror is None:
        raise UsageError("there is no event mirror yet", hint="run `linesync events pull` (or leave out --no-pull)")
    with mirror:
        report = broadcast_report(mirror, start, end, by.value)
    _render_broadcasts(app.renderer, report, output)


def _render_broadcasts(r, report, output) -> None:
    from linesync_cli.render import Column, OutputFormat

    term = r.is_terminal
    if output is OutputFormat.json:
        r.json(report.to_json())
        return
    rows = []
    for g in report.rows:
        row: dict = {"id": g.label, "first_event": g.first.isoformat(), "last_event": g.last.isoformat()}
        for step in BROADCAST_STEPS:
            f = g.figures(step)
            row[f"{step}_total"], row[f"{step}_unique"] = f.total, f.unique
            rate = g.rate(step, unique=True)
            row[f"{step}_rate"] = None if rate is None else round(rate, 6)
            row[f"{step}_text"] = f"{_count(f.total, term)} / {_count(f.unique, term)}"
        row["bar"] = _funnel_bar(g)
        row["when"] = _when(g.first, "UTC", term)
        for step in ("delivered", "opened", "clicked"):
            row[f"{step}_rate_text"] = _pct(row[f"{step}_rate"])
        rows.append(row)
    if output is OutputFormat.csv:
        keys = ["id", "first_event", "last_event"] + [f"{s}_{k}" for s in BROADCAST_STEPS
                                                         for k in ("total", "unique", "rate")]
        r.csv(rows, [Column(k, k) for k in keys])
        return
    label = {"broadcast": "Broadcast ID", "flow": "Flow ID", "workflow": "Workflow ID", "message": "Message ID"}
    cols = [Column("id", label[report.by], no_wrap=True), Column("when", "First event (UTC)", no_wrap=True)]
    cols += [Column(f"{s}_text", f"{s.title()} T/U", justify="right") for s in BROADCAST_STEPS]
    cols += [Column("delivered_rate_text", "Dlv%", justify="right"), Column("opened_rate_text", "Open%",
                                                                             justify="right"),
             Column("clicked_rate_text", "Click%", justify="right")]
    if term:
        cols.append(Column("bar", "S D O C", no_wrap=True))
    title = f"By {report.by}, {_when(report.since, 'UTC', term)} → {_when(report.until, 'UTC', term)} (UTC)"
    r.table(rows, cols, title=title)
    if not rows:
        r.note("no message events in this range")
    elif output is OutputFormat.table:
        r.note("[cyan]note:[/] T/U = total events / unique people; rates are of unique people, each of the step "
               "before (Delivered of Sent, Opened of Delivered, Clicked of Opened)")


_LEVELS = " ▁▂▃▄▅▆▇█"


def _funnel_bar(g) -> str:
    """Sent, Delivered, Opened, Clicked unique people as bar heights relative to Sent (or the largest)."""
    values = [g.figures(s).unique for s in ("sent", "delivered", "opened", "clicked")]
    top = max(values) or 1
    return " ".join(_LEVELS[round(v / top * (len(_LEVELS) - 1))] for v in values)


class RevenueBy(str, Enum):
    broadcast = "broadcast"


class RevenuePer(str, Enum):
    range = "range"
    week = "week"


REVENUE_CSV_KEYS = ("period", "period_since", "period_until", "group", "broadcast_id", "currency", "orders",
                    "orders_with_value", "orders_without_value", "revenue", "average_order_value", "people")


@report_app.command("revenue")
def revenue(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Orders from: a duration back from now (30d, 12h, 2w) or an ISO 8601 date/time (UTC when no offset).")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="Orders until (exclusive), same forms as --since. Default: now.")] = None,
    window: Annotated[str, typer.Option("--window", help="How long after a LINE click (or send) an order still counts for that group: 5d, 12h; exactly the window counts.", metavar="DURATION")] = "5d",
    order_metric: Annotated[str, typer.Option("--order-metric", help="The Klaviyo metric of orders, by name or metric ID; its events' $value is the revenue.", metavar="NAME")] = "Placed Order",
    by: Annotated[RevenueBy | None, typer.Option("--by", help="Split the clicked group by the Broadcast ID of the last click before each order.", case_sensitive=False)] = None,
    per: Annotated[RevenuePer, typer.Option("--per", help="One set of rows for the whole range, or one per ISO week (Monday 00:00 UTC).", case_sensitive=False)] = RevenuePer.range,
    no_pull: Annotated[bool, typer.Option("--no-pull", help="Report from the mirror as it is, without reading new events from Klaviyo first.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Orders and revenue after a LINE click, beside people who only received a message and everyone else.

    Revenue after a LINE click, not attribution: Klaviyo itself attributes none of it to
    LINE. Each order of --order-metric in the range falls in one group: "clicked" (the
    person clicked a LINE message at or before the order, at most --window before it),
    "received" (no such click, but a LINE message was sent or delivered to them in the
    same window) or "other". An order counts once however many clicks came before it.
    Revenue is the orders' $value, per currency (never added across currencies); orders
    without a $value are counted, not summed. From the event mirror, read up to date first.

    Examples:

      linesync report revenue --since 30d --window 5d

      linesync report revenue --order-metric "Placed Order" --by broadcast --per week --format csv > revenue.csv
    """
    from linesync_cli.commands.events import parse_range, pull_as_needed
    from linesync_cli.core.events.mirror import Mirror
    from linesync_cli.core.events.pull import EARLIEST, MetricRef, check_range
    from linesync_cli.core.events.revenue import (
        NOTICE,
        RevenueOptions,
        check_window,
        order_key,
        revenue_report,
    )
    from linesync_cli.core.metrics import list_metrics
    from linesync_cli.core.order_metric import check_order_metric_name, find_order_metric
    from linesync_cli.errors import UsageError
    from linesync_cli.render import OutputFormat
    from linesync_cli.timeutil import parse_duration

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    # Everything the options alone can tell is said before the network.
    start, end = parse_range(since, until)
    check_range(start, end)
    gap = parse_duration(window)
    if gap is None:
        raise UsageError(f"--window {window!r} is not a duration", hint="e.g. --window 5d, --window 12h, --window 2w")
    check_window(gap, start, end)
    check_order_metric_name(order_metric)
    if output is not OutputFormat.json:
        app.renderer.note(f"[bold]{NOTICE}[/]")
    metric = find_order_metric(list_metrics(app.klaviyo(), api_only=False), order_metric)
    opts = RevenueOptions(start, end, gap, metric.id, by_broadcast=by is not None, per=per.value)
    if not no_pull:
        # Clicks and sends from one window before --since: an order at the start looks back too.
        pull_as_needed(app, ["clicked", "sent", "delivered"], max(opts.reads_from, EARLIEST), end,
                       extra=(MetricRef(order_key(metric), metric.id, metric.name),))
    mirror = Mirror.open_existing(app.state_dir)
    if mirror is None:
        raise UsageError("there is no event mirror yet", hint="run `linesync events pull` (or leave out --no-pull)")
    with mirror:
        report = revenue_report(mirror, opts, metric)
    _render_revenue(app.renderer, report, output)


def _money(value, term: bool, *, cents: bool = False) -> str:
    """A sum as it was summed (12500, 55.4); `cents`: an average, to two decimals."""
    from linesync_cli.core.events.revenue import json_number

    number = json_number(value)
    if number is None:
        return ""
    if cents and isinstance(number, float):
        return f"{number:,.2f}" if term else f"{number:.2f}"
    if not term:
        return str(number)
    return f"{number:,}" if isinstance(number, int) else f"{number:,.2f}"


def _render_revenue(r, report, output) -> None:
    from linesync_cli.core.events.revenue import (
        CURRENCY_PROPERTIES,
        GROUP_TEXT,
        NONE_BROADCAST,
        UNKNOWN_CURRENCY,
        VALUE_PROPERTY,
    )
    from linesync_cli.render import Column, OutputFormat, safe

    term = r.is_terminal
    o = report.options
    if output is OutputFormat.json:
        r.json(report.to_json())
    else:
        rows = []
        for row in report.rows:
            data = row.to_json()
            data["group_text"] = GROUP_TEXT[row.group]
            data["broadcast_text"] = (row.broadcast_id or NONE_BROADCAST) if row.group == "clicked" else ""
            data["currency_text"] = row.currency or UNKNOWN_CURRENCY
            data["revenue_text"] = _money(row.revenue, term)
            data["aov_text"] = _money(row.average_order_value, term, cents=True)
            for key in ("orders", "people", "orders_without_value"):
                data[f"{key}_text"] = _count(data[key], term)
            rows.append(data)
        if output is OutputFormat.csv:
            for data in rows:
                if data["group"] == "clicked" and o.by_broadcast:
                    data["broadcast_id"] = data["broadcast_text"]  # (none): clicks without the ID, as in report broadcasts
            r.csv(rows, [Column(k, k) for k in REVENUE_CSV_KEYS])
        else:
            cols = [Column("period", "Week", no_wrap=True)] if o.per == "week" else []
            cols.append(Column("group_text", "Group", no_wrap=True))
            if o.by_broadcast:
                cols.append(Column("broadcast_text", "Broadcast ID (last click)", no_wrap=True))
            cols += [Column("currency_text", "Currency"), Column("orders_text", "Orders", justify="right"),
                     Column("people_text", "People", justify="right"),
                     Column("revenue_text", "Revenue", justify="right"),
                     Column("aov_text", "Per order", justify="right"),
                     Column("orders_without_value_text", "No $value", justify="right")]
            from linesync_cli.core.events.revenue import duration_text

            window = duration_text(o.window)
            title = (f"{report.order_metric.name} within {window} after a LINE click, "
                     f"{_when(o.since, 'UTC', term)} → {_when(o.until, 'UTC', term)} (UTC)")
            r.table(rows, cols, title=title)
    name = safe(report.order_metric.name)
    if not report.rows:
        r.note(f"no {name} events in this range (the mirror holds what `linesync events pull` read)")
    missing = report.orders_without_value
    if missing:
        r.warn(f"{missing:,} of {report.orders:,} {name} orders have no numeric {VALUE_PROPERTY}: counted in "
               "Orders, not added to Revenue")
    known = [c for c in report.currencies if c is not None]
    if len(known) > 1:
        r.note(f"[cyan]note:[/] {len(known)} currencies ({safe(', '.join(known))}): revenue is per currency, "
               "never added across them")
    if None in report.currencies:
        r.note(f"[cyan]note:[/] orders with none of {', '.join(CURRENCY_PROPERTIES)} are shown under "
               f"{UNKNOWN_CURRENCY}")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
