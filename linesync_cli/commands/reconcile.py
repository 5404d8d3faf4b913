"""`linesync reconcile`: LINE's own counts beside Klaviyo's, per JST day or per send."""

from __future__ import annotations

from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

LINE_TOKEN_HINT = ("set LINESYNC_LINE_CHANNEL_ACCESS_TOKEN (environment, .env or the config file) to the channel "
                   "access token from LINE Developers Console > your channel > Messaging API")


def reconcile(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="First day: a duration back from --until (14d, 2w) or a date (JST).")] = "14d",
    until: Annotated[str | None, typer.Option("--until", help="End (exclusive): a date (JST), or a duration back from today. Default: today, so the last day is yesterday.")] = None,
    timezone: Annotated[str, typer.Option("--timezone", "--tz", metavar="ZONE", help="Zone of Klaviyo's day counts; LINE counts JST days, so it must be a UTC+9 zone.")] = "Asia/Tokyo",
    tolerance: Annotated[str, typer.Option("--tolerance", metavar="PCT", help="A day is short when Klaviyo holds fewer than LINE's count by more than this.")] = "2%",
    details: Annotated[bool, typer.Option("--details", "-d", help="Add LINE's delivered per send type and its follower and block totals.")] = False,
    request_id: Annotated[list[str] | None, typer.Option("--request-id", metavar="ID", help="A broadcast's or narrowcast's X-Line-Request-Id (repeatable): compare that send instead of days.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", metavar="NAME", help="A custom aggregation unit (push/multicast) over --since..--until (at most 31 days).")] = None,
    match_property: Annotated[str, typer.Option("--match-property", metavar="NAME", help="The Klaviyo event property that holds the request ID or unit.")] = "Broadcast ID",
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask LINE again for days it finished before (they are kept in the state directory, as LINE allows 60 Insight requests an hour).")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """LINE's own Insight counts beside Klaviyo's events, one row per JST day: where and since when events are missing.

    LINE counts calendar days in JST (UTC+9); Klaviyo's counts are taken per day in the same zone. Per day:
    LINE's messages delivered (all send types) against Delivered LINE Message; the day's change of LINE's
    followers and blocks (LINE's figures are totals) against Followed and Blocked LINE Account. Klaviyo may hold
    more follows and blocks by definition (a re-follow after an unblock is not a new follower; an unblock lowers
    LINE's blocks), never fewer. A day is short when Klaviyo holds fewer than LINE by more than --tolerance. Days
    LINE has not finished counting, withholds (fewer than 20) or has no figures for (before the account) are
    shown as such, never as 0. LINE allows 60 Insight requests an hour per endpoint: a 14-day range takes 29.

    With --request-id or --unit: LINE's delivered, unique impressions and clicks beside the unique profiles with
    Delivered, Opened and Clicked LINE Message events whose --match-property is the ID (read with Get Events).
    Impressions and opens are different measurements, so they are compared as information only.

    Exit codes: 0 no day (or send) short, 1 some are, 2 usage or no LINE token, 3 a token or key refused
    (403: the missing permission is named), 4 unavailable.

    Examples:

      linesync reconcile --since 2026-11-01 --until 2026-11-15 --details --format csv > nov.csv

      linesync reconcile --request-id f70dd685-499a-4231-a441-f24b8d4fba21
    """
    from datetime import UTC, datetime, timedelta

    from linesync_cli.api.line_insight import JST, today_jst
    from linesync_cli.core.aggregates import klaviyo_zone_name
    from linesync_cli.core.reconcile import (
        ReconcileOptions,
        check_unit,
        check_unit_range,
        parse_tolerance,
    )
    from linesync_cli.errors import ConfigError
    from linesync_cli.render import safe
    from linesync_cli.timeutil import parse_when

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    tol = parse_tolerance(tolerance)
    zone_name = klaviyo_zone_name(timezone)
    now = datetime.now(UTC)
    today = today_jst(now)
    midnight = datetime(today.year, today.month, today.day, tzinfo=JST)
    end = parse_when(until, option="--until", tz=JST, now=midnight) if until else midnight
    start = parse_when(since, option="--since", tz=JST, now=end)
    assert end is not None and start is not None
    first = start.astimezone(JST).date()
    last = (end - timedelta(seconds=1)).astimezone(JST).date()
    request_ids = [r.strip() for r in request_id or [] if r.strip()]
    per_send = bool(request_ids) or unit is not None
    options = None
    if unit is not None:
        check_unit(unit)
        check_unit_range(first, last)
    if not per_send:
        options = ReconcileOptions(first=first, last=last, today=today, timezone=zone_name, tolerance=tol)
    line = app.line()
    if line is None:
        raise ConfigError("no LINE channel access token is configured: reconcile needs LINE's own counts",
                          hint=LINE_TOKEN_HINT)
    klaviyo = app.klaviyo()
    r = app.renderer
    if per_send:
        from linesync_cli.core.events.mirror import Mirror
        from linesync_cli.core.reconcile import reconcile_sends

        mirror = Mirror.open_existing(app.state_dir)
        try:
            with _progress(r) as progress:
                report = reconcile_sends(line, klaviyo, request_ids=request_ids, unit=unit, unit_days=(first, last),
                                         match_property=match_property, tolerance=tol, now=now, progress=progress,
                                         mirror=mirror)
        finally:
            if mirror is not None:
                mirror.close()
        if report.source_note:
            _say(r, f"[cyan]note:[/] read with Get Events: {safe(report.source_note)}; `linesync events pull` "
                    "fills the mirror")
        _render_sends(r, report, output)
        unchecked = [s for s in report.rows if s.problem]
        for s in unchecked:
            _say(r, f"[yellow]warning:[/] {safe(s.key)}: {safe(s.problem)}")
        if report.short_rows:
            _fail(f"Klaviyo is short for {len(report.short_rows)} of {len(report.rows)} sends: "
                  + ", ".join(f"{s.key} ({s.delivered.klaviyo:,} of {s.delivered.line:,} delivered)"  # type: ignore[union-attr]
                              for s in report.short_rows),
                  "events of those sends did not reach Klaviyo; `linesync reconcile --since 14d` shows which days")
        if unchecked:
            _fail(f"{len(unchecked)} of {len(report.rows)} sends could not be checked: "
                  + ", ".join(s.key for s in unchecked),
                  "a request ID is the X-Line-Request-Id of a broadcast or narrowcast, shown in LINE's response "
                  "when it was sent")
        return
    from linesync_cli.core.insight_cache import InsightCache
    from linesync_cli.core.reconcile import plan_calls, reconcile_days

    assert options is not None
    bot = line.get_bot_info()  # which LINE channel: its finished days are kept apart from others'
    cache = InsightCache(app.state_dir, bot.user_id or line.base_url, read=not refresh)
    try:
        _note_budget(r, plan_calls(options, cache), line.insight_per_hour)
        with _progress(r) as progress:
            day_report = reconcile_days(line, klaviyo, options, progress=progress, cache=cache)
    finally:
        cache.close()
    _render_days(r, day_report, output, details)
    if day_report.short_rows:
        first_short = day_report.first_short
        assert first_short is not None
        n = len(day_report.short_rows)
        _fail(f"{n} short day{'s' if n > 1 else ''} ({day_report.short_spans()})",
              f"find the cause from {first_short.day}: `linesync metrics show delivered --since {first_short.day} "
              f"--timezone {zone_name}`; resend from the source with `linesync backfill FILE --since {first_short.day}`")


def _say(r, markup: str) -> None:
    """A note on stderr, unwrapped when piped (one finding, one line in a log)."""
    r.err.print(markup, highlight=False, soft_wrap=True)


def _fail(message: str, hint: str) -> None:
    from linesync_cli.errors import CheckFailed

    raise CheckFailed(message, hint=hint)


def _note_budget(r, calls: dict[str, int], per_hour: int) -> None:
    busiest = max(calls.values(), default=0)
    if busiest > per_hour:
        hours = (busiest - 1) // per_hour  # the last request waits for this many hours to roll
        _say(r, f"[cyan]note:[/] {sum(calls.values())} LINE Insight requests; LINE allows {per_hour} an hour per "
               f"endpoint, so this takes about {hours} hour{'s' if hours > 1 else ''} (linesync waits rather than "
               "be refused)")


class _progress:
    """LINE and Klaviyo progress (core's callback) on the shared progress line: a bar on a terminal,
    a plain line at most every 10 s elsewhere."""

    def __init__(self, r) -> None:
        from linesync_cli.progress import ProgressLine

        self.line = ProgressLine(r.err, "reconcile", with_bar=True)

    def __enter__(self):
        self.line.__enter__()
        return self

    def __call__(self, what: str, done: int, total: int) -> None:
        self.line.update(f"{what}: {done}/{total} requests", completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        self.line.__exit__(*exc)


# -- per day ------------------------------------------------------------------------

DAY_CSV_KEYS = ("day", "state", "line_delivered", "klaviyo_delivered", "delivered_ratio", "delivered_state",
                "line_new_followers", "klaviyo_followed", "followed_state", "line_blocks_change", "klaviyo_blocked",
                "blocked_state", "line_followers_total", "line_blocks_total", "note")

SHORT_STATE = {"unready": "unready", "privacy": "privacy <20", "out_of_service": "out_of_service",
               "future": "not over", "no_baseline": "no baseline", "error": "LINE error"}


def _num(value, term: bool) -> str:
    if value is None:
        return ""
    return f"{value:,}" if term else str(value)


def _ratio(c) -> str:
    return "" if c.ratio is None else f"{c.ratio * 100:.1f}%"


def _line_cell(c, term: bool) -> str:
    """LINE's figure, or why there is none (never 0 for a day LINE did not give)."""
    if c.compared:
        return _num(c.line, term)
    return SHORT_STATE.get(c.state, c.state)


def _flag(row) -> str:
    from linesync_cli.core.reconcile import MATCH, OVER, SHORT, STATE_TEXT, WITHIN

    short = [c.measure for c in row.comparisons if c.state == SHORT]
    if short:
        return "SHORT " + ", ".join(short)
    state = row.delivered.state
    if state in (MATCH, WITHIN):
        over = [c.measure for c in row.comparisons if c.state == OVER]
        return "ok" + (f" (more {', '.join(over)} in Klaviyo)" if over else "")
    if state == OVER:
        return "more delivered in Klaviyo"
    return STATE_TEXT.get(state, state)


def _day_row(row, term: bool, types: list[str]) -> dict:
    d, f, b = row.comparisons
    notes = [c.note for c in row.comparisons if c.note and c.state not in ("over",)]
    out = {
        "day": row.day.isoformat(),
        "state": row.state,
        "line_delivered": d.line if d.compared else None,
        "klaviyo_delivered": d.klaviyo,
        "delivered_ratio": None if d.ratio is None else round(d.ratio, 6),
        "delivered_state": d.state,
        "line_new_followers": f.line if f.compared else None,
        "klaviyo_followed": f.klaviyo,
        "followed_state": f.state,
        "line_blocks_change": b.line if b.compared else None,
        "klaviyo_blocked": b.klaviyo,
        "blocked_state": b.state,
        "line_followers_total": row.followers,
        "line_blocks_total": row.blocks,
        "note": "; ".join(notes),
        # table text
        "day_text": row.day.strftime("%Y-%m-%d %a") if term else row.day.isoformat(),
        "d_line": _line_cell(d, term), "d_klaviyo": _num(d.klaviyo, term), "d_ratio": _ratio(d),
        "f_line": _line_cell(f, term), "f_klaviyo": _num(f.klaviyo, term),
        "b_line": _line_cell(b, term), "b_klaviyo": _num(b.klaviyo, term),
        "flag": _flag(row),
        "followers_text": _num(row.followers, term), "blocks_text": _num(row.blocks, term),
    }
    for t in types:
        value = (row.by_type or {}).get(t)
        out[f"type_{t}"] = "" if row.by_type is None else ("<20" if t in (row.by_type or {}) and value is None
                                                             else _num(value or 0, term))
    return out


def _render_days(r, report, output, details: bool) -> None:
    from linesync_cli.api.line_insight import DELIVERY_TYPES
    from linesync_cli.core.reconcile import EXPECTED_MORE, METRIC_OF
    from linesync_cli.render import Column, OutputFormat

    term = r.is_terminal
    types = [t for t in DELIVERY_TYPES if any(t in (row.by_type or {}) for row in report.rows)] if details else []
    rows = [_day_row(row, term, types) for row in report.rows]
    if output is OutputFormat.json:
        r.json(report.to_json())
    elif output is OutputFormat.csv:
        keys = list(DAY_CSV_KEYS) + [f"type_{t}" for t in types]
        r.csv(rows, [Column(k, k) for k in keys])
    else:
        cols = [
            Column("day_text", "Day (JST)", no_wrap=True),
            Column("d_line", "LINE delivered", justify="right"),
            Column("d_klaviyo", "Klaviyo Delivered", justify="right"),
            Column("d_ratio", "Ratio", justify="right"),
            Column("f_line", "LINE new followers", justify="right"),
            Column("f_klaviyo", "Followed", justify="right"),
            Column("b_line", "LINE blocks +/-", justify="right"),
            Column("b_klaviyo", "Blocked", justify="right"),
            Column("flag", "Check"),
        ]
        if details:
            cols += [Column(f"type_{t}", t, justify="right") for t in types]
            cols += [Column("followers_text", "LINE followers", justify="right"),
                     Column("blocks_text", "LINE blocks", justify="right")]
        o = report.options
        title = (f"LINE Insight vs Klaviyo, {o.first} to {o.last} (JST days; Klaviyo counted per day in "
                 f"{o.timezone}; tolerance {_pct(o.tolerance)})")
        r.table(rows, cols, title=title)
        r.data(report.summary())
        if term:
            _chart(r, report)
    for measure in report.missing_metrics:
        _say(r, f"[yellow]note:[/] {METRIC_OF[measure]} does not exist in Klaviyo yet (no event has arrived): "
               "its counts are 0")
    for row in report.rows:
        for c in row.comparisons:
            if c.state == "error":
                _say(r, f"[yellow]{row.day}:[/] {c.measure}: {c.note}")
    if any(c.state == "over" and c.measure in EXPECTED_MORE for row in report.rows for c in row.comparisons):
        _say(r, "[cyan]note:[/] more Followed or Blocked in Klaviyo than LINE's change is expected: "
               + "; ".join(EXPECTED_MORE.values()))
    median = report.median_ratio
    if report.short_rows and median is not None and 0.2 < median < 1 - report.options.tolerance:
        _say(r, f"[cyan]note:[/] Klaviyo holds {median * 100:.0f}% of LINE's deliveries on a typical day: Klaviyo "
               "records events of ID-linked friends only, so a steady ratio below 100% is the share of friends "
               "not linked; the days well below it are the gap")


def _pct(value: float) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _chart(r, report) -> None:
    from datetime import datetime

    from linesync_cli.api.line_insight import JST
    from linesync_cli.chart import Series, TimeChart

    starts = [datetime(row.day.year, row.day.month, row.day.day, tzinfo=JST) for row in report.rows]
    line_values = [row.delivered.line if row.delivered.compared else 0 for row in report.rows]
    klaviyo_values = [row.delivered.klaviyo or 0 for row in report.rows]
    chart = TimeChart(starts, [Series("LINE delivered", line_values), Series("Klaviyo Delivered", klaviyo_values)],
                      interval="day",
                      totals=[("LINE delivered", f"{sum(line_values):,}"),
                              ("Klaviyo Delivered", f"{sum(klaviyo_values):,}")])
    r.out.print()
    r.out.print("Delivered per JST day (days without LINE figures are drawn empty; the table says why)",
                style="bold", markup=False)
    r.out.print(chart)


# -- per send -------------------------------------------------------------------------

SEND_CSV_KEYS = ("key", "kind", "sent_at", "line_delivered", "klaviyo_delivered", "delivered_state",
                 "line_unique_impression", "klaviyo_opened", "line_unique_click", "klaviyo_clicked", "problem")


def _render_sends(r, report, output) -> None:
    from linesync_cli.core.reconcile import IMPRESSIONS_NOTE, STATE_TEXT
    from linesync_cli.render import Column, OutputFormat

    term = r.is_terminal
    rows = []
    for s in report.rows:
        line = s.line
        delivered = s.delivered
        k = s.klaviyo
        rows.append({
            "key": s.key, "kind": s.kind,
            "sent_at": line.sent_at.isoformat() if line and line.sent_at else None,
            "line_delivered": line.delivered if line else None,
            "klaviyo_delivered": k.get("delivered"),
            "delivered_state": delivered.state if delivered else None,
            "line_unique_impression": line.unique_impression if line else None,
            "klaviyo_opened": k.get("opened"),
            "line_unique_click": line.unique_click if line else None,
            "klaviyo_clicked": k.get("clicked"),
            "problem": s.problem,
            "t_line_delivered": s.line_delivered_text or _withheld_or(line.delivered if line else None, term, s),
            "t_k_delivered": _num(k.get("delivered"), term),
            "t_impr": _withheld_or(line.unique_impression if line else None, term, s),
            "t_opened": _num(k.get("opened"), term),
            "t_click": _withheld_or(line.unique_click if line else None, term, s),
            "t_clicked": _num(k.get("clicked"), term),
            "t_check": s.problem or (STATE_TEXT.get(delivered.state, delivered.state) if delivered else "info only"),
        })
    if output is OutputFormat.json:
        r.json(report.to_json())
    elif output is OutputFormat.csv:
        r.csv(rows, [Column(k, k) for k in SEND_CSV_KEYS])
    else:
        cols = [Column("key", "Request ID / unit", no_wrap=True),
                Column("t_line_delivered", "LINE delivered", justify="right"),
                Column("t_k_delivered", "Klaviyo Delivered", justify="right"),
                Column("t_impr", "LINE unique impressions", justify="right"),
                Column("t_opened", "Klaviyo Opened", justify="right"),
                Column("t_click", "LINE unique clicks", justify="right"),
                Column("t_clicked", "Klaviyo Clicked", justify="right"),
                Column("t_check", "Delivered check")]
        r.table(rows, cols, title=f"LINE per send vs Klaviyo's unique profiles (events matched on "
                                  f"{report.match_property!r}, read with {report.source})")
    _say(r, f"[cyan]note:[/] {IMPRESSIONS_NOTE}")


def _withheld_or(value, term: bool, s) -> str:
    if s.problem:
        return ""
    return "<20 (withheld)" if value is None else _num(value, term)


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
