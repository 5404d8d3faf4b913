"""Are LINE events arriving? The nine metrics, split metrics, and each metric's latest event."""

from __future__ import annotations

from typing import Any

from linesync_cli.core.doctor.model import CheckResult, Status, failed, passed, warned
from linesync_cli.core.doctor.runner import DoctorContext
from linesync_cli.errors import BadRequest
from linesync_cli.timeutil import humanize_age

NOT_ARRIVED = "no event of this kind has arrived yet"


def check_line_metrics(ctx: DoctorContext) -> CheckResult:
    ctx.need("klaviyo-auth")
    statuses = ctx.line_metrics()
    present = [st for st in statuses if st.present]
    missing = [st for st in statuses if not st.present]
    details = [f"present: {st.action.metric_name} ({st.metric.id})" for st in present]
    details += [f"missing: {st.action.metric_name}: {NOT_ARRIVED}" for st in missing]
    data: dict[str, Any] = {"metrics": [st.to_json() for st in statuses]}
    if not present:
        return failed(
            f"none of the {len(statuses)} LINE metrics exists under integration API: no LINE event has reached Klaviyo",
            "events go only to linked profiles: `linesync doctor --line-user-id U...` checks one customer; "
            "`linesync backfill FILE` loads history",
            details, **data,
        )
    if missing:
        return warned(
            f"{len(present)} of {len(statuses)} LINE metrics present; {NOT_ARRIVED} for "
            + ", ".join(st.action.metric_name for st in missing),
            "events go only to linked profiles (`linesync check-link LINE_USER_ID`); opens and clicks need a "
            "trackable link or image (`linesync doctor --message FILE`)",
            details, **data,
        )
    return passed(f"all {len(statuses)} LINE metrics present under integration API", None, details, **data)


def check_metric_split(ctx: DoctorContext) -> CheckResult:
    # Runs even when no API metric exists: a LINE name only under another integration is a split too.
    ctx.need("line-metrics", accept=(Status.PASS, Status.WARN, Status.FAIL))
    statuses = ctx.line_metrics()
    split = [st for st in statuses if st.split]
    details = []
    for st in split:
        home = f"API metric {st.metric.id}" if st.metric else "no API metric"
        others = ", ".join(f"{o.integration_name or o.integration_category or '?'} ({o.id})" for o in st.others)
        details.append(f"{st.action.metric_name}: {home}; also under {others}")
    data = {"split": [st.to_json() for st in split]}
    if split:
        return warned(
            f"{len(split)} LINE event name{'s' if len(split) > 1 else ''} under more than one integration "
            f"(split metric): {', '.join(st.action.metric_name for st in split)}",
            "reports, segments and Flows must use the API one; `linesync metrics` shows the IDs",
            details, **data,
        )
    return passed("each LINE event name exists under one integration only", None, details, **data)


def _mirror_reading(ctx: DoctorContext) -> tuple[str | None, dict]:
    """With an event mirror present: how fresh it is (when last pulled, its newest event)."""
    from linesync_cli.core.events.status import mirror_status
    from linesync_cli.errors import LinesyncError

    try:
        status = mirror_status(ctx.settings.state_dir)
    except LinesyncError as exc:  # a corrupt or busy mirror is said, not fatal to the check
        return f"event mirror: {exc.message}", {"error": exc.message}
    if not status.exists:
        return None, {}
    now = ctx.now()
    newest = max((m.newest for m in status.metrics if m.newest), default=None)
    pulled = status.last_pulled
    line = (f"event mirror: {status.total:,} events, pulled {humanize_age(pulled, now)}"
            + (f", newest event {humanize_age(newest, now)}" if newest else "")
            + (f"; {status.interrupted} slice(s) of an interrupted pull left (`linesync events pull` finishes them)"
               if status.interrupted else ""))
    return line, {"events": status.total, "last_pulled": pulled.isoformat() if pulled else None,
                  "newest_event": newest.isoformat() if newest else None, "interrupted_slices": status.interrupted}


def check_recent_events(ctx: DoctorContext) -> CheckResult:
    result = _recent_events(ctx)
    mirror_line, mirror_data = _mirror_reading(ctx)
    if mirror_line is None:
        return result
    return CheckResult(result.status, f"{result.detail}; {mirror_line}", result.hint,
                       (*result.details, mirror_line), {**result.data, "mirror": mirror_data}, result.exit_code)


def _recent_events(ctx: DoctorContext) -> CheckResult:
    ctx.need("line-metrics")
    since, label = ctx.options.since, ctx.options.since_label
    client = ctx.klaviyo()
    now = ctx.now()
    rows, stale, unknown, details = [], [], [], []
    for st in ctx.line_metrics():
        if not st.present:
            continue
        name = st.action.metric_name
        try:
            latest = client.latest_event_time(st.metric.id)
        except BadRequest as exc:
            # Some listed metric IDs are refused by get_events ("Metric IDs ... do not exist").
            unknown.append(name)
            details.append(f"{name}: could not read its events: {exc.message}")
            rows.append({"name": name, "metric_id": st.metric.id, "latest": None, "recent": None})
            continue
        recent = latest is not None and latest >= since
        if not recent:
            stale.append((name, latest))
        details.append(f"{name}: latest event {latest.isoformat() if latest else 'none found'}"
                       + (f" ({humanize_age(latest, now)})" if latest else ""))
        rows.append({"name": name, "metric_id": st.metric.id, "latest": latest.isoformat() if latest else None,
                     "recent": recent})
    data = {"since": since.isoformat(), "metrics": rows}
    checked = len(rows)
    if stale:
        listed = ", ".join(f"{n} (last {humanize_age(t, now)})" if t else f"{n} (none found)" for n, t in stale)
        return warned(
            f"{len(stale)} of {checked} LINE metrics had no event {label}: {listed}",
            "check that Event Sync is on in the messaging platform and the customers are linked; "
            "`linesync inspect-profile --line-user-id U...` shows one customer's timeline",
            details, **data,
        )
    if unknown:
        return warned(f"could not read the latest event of {', '.join(unknown)}; the other metrics had events {label}",
                      "re-run `linesync doctor --only recent-events`", details, **data)
    return passed(f"all {checked} LINE metrics had events {label}", None, details, **data)
