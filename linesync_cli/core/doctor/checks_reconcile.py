"""line-vs-klaviyo: LINE's own delivered, follow and block counts against Klaviyo's, last 7 JST days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from linesync_cli.core.doctor.checks_account import settings_or_skip
from linesync_cli.core.doctor.model import CheckResult, failed, passed, skipped, warned
from linesync_cli.core.doctor.runner import DoctorContext
from linesync_cli.errors import AuthError

DAYS = 7
HINT = "linesync reconcile --since 7d"


def check_line_vs_klaviyo(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.api.line_insight import today_jst
    from linesync_cli.core.reconcile import OVER, ReconcileOptions, reconcile_days

    settings_or_skip(ctx)
    line = ctx.line()
    if line is None:
        return skipped("no LINE channel access token is configured: LINE's own counts are not compared",
                       "set LINESYNC_LINE_CHANNEL_ACCESS_TOKEN to compare LINE's Insight counts with Klaviyo's")
    ctx.need("klaviyo-auth")
    ctx.need("line-token")
    today = today_jst(ctx.now())
    options = ReconcileOptions(first=today - timedelta(days=DAYS), last=today - timedelta(days=1), today=today)
    try:
        report = reconcile_days(line, ctx.klaviyo(), options)
    except AuthError as exc:  # a token without Insight access (403) names the permission
        return failed(exc.message, exc.hint)
    details = [f"{row.day}: " + ", ".join(
        f"{c.measure} {c.state}" + (f" ({c.klaviyo} of {c.line})" if c.compared else "") for c in row.comparisons)
        for row in report.rows]
    data: dict[str, Any] = {"short_days": [r.day.isoformat() for r in report.short_rows],
            "first_day": options.first.isoformat(), "last_day": options.last.isoformat()}
    if report.short_rows:
        return failed(report.summary(), HINT, details, **data)
    below = report.within_below
    over = [r for r in report.rows if r.delivered.state == OVER]
    if below or over:
        parts = []
        if below:
            parts.append(f"Klaviyo holds slightly fewer than LINE (within {options.tolerance:.0%}) on {len(below)} "
                         f"of the last {DAYS} days")
            details.append("slightly fewer: " + ", ".join(str(r.day) for r in below))
        if over:
            parts.append(f"more Delivered LINE Message in Klaviyo than LINE delivered on {len(over)} of the last "
                         f"{DAYS} days")
            details.append("more in Klaviyo: " + ", ".join(str(r.day) for r in over))
        return warned("; ".join(parts), HINT, details, **data)
    compared = sum(1 for r in report.rows if r.delivered.compared)
    if not compared:
        return skipped(f"LINE has no comparable day in the last {DAYS} (not counted yet, withheld under 20, "
                       "or before the account)", HINT, details, **data)
    return passed(f"Klaviyo holds LINE's counts on all {compared} compared days of the last {DAYS} (JST)",
                  None, details, **data)
