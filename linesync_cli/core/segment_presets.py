"""Klaviyo Segments from LINE reactions: presets, their definitions, and the create step.

A definition is a list of condition groups; Klaviyo ANDs the groups and ORs the
conditions inside a group (klaviyo-api.md section 9). The presets use
`profile-metric` conditions (count of a metric's events in the last N days), a
`profile-property` condition (`is-set`) and, for "clicked on LINE, then ordered", a
`profile-metric-funnel` condition, shaped as the spec's `SegmentsProfileMetricCondition`,
`ProfilePropertyCondition` and `SegmentsProfileMetricFunnelCondition`.

Only the funnel condition expresses a sequence: two `profile-metric` conditions in
separate groups say "both happened in the last N days", in any order and any distance
apart. The funnel's steps are ordered, its `completion_window_seconds` (the longest time
from the first step to the last) is one of a fixed set (1 hour, 1, 3 or 5 days, a week,
30, 90 or 180 days, a year), and its time period is at most a year. Klaviyo offers event
funnels in segments only to accounts with its Marketing Analytics (Advanced KDP) plan, so
`line-clicked-and-ordered` is the honest weaker preset for the others: named "and", not
"then", because it does not know which came first.

These are Klaviyo Segments. They are not the messaging platform's recipient
segments, and Klaviyo fills them in the background after creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo import segment_create_body
from linesync_cli.catalogue import ACTIONS
from linesync_cli.config import LinkKey
from linesync_cli.core.funnel import EMAIL_STEPS, KnownMetrics
from linesync_cli.core.order_metric import DEFAULT_ORDER_METRIC, find_order_metric
from linesync_cli.errors import BadRequest, CheckFailed, RateLimited, Unavailable, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.core.metrics import Metric

DEFAULT_DAYS = 30
DEFAULT_WINDOW = "5d"
MAX_FUNNEL_DAYS = 365  # the funnel condition's longest time period
# The funnel's completion windows (spec enum `completion_window_seconds`), by length in seconds.
COMPLETION_WINDOWS: dict[int, tuple[str, str]] = {
    3600: ("HOURS_1", "1h"), 86400: ("DAYS_1", "1d"), 3 * 86400: ("DAYS_3", "3d"), 5 * 86400: ("DAYS_5", "5d"),
    7 * 86400: ("WEEKS_1", "7d"), 30 * 86400: ("DAYS_30", "30d"), 90 * 86400: ("DAYS_90", "90d"),
    180 * 86400: ("DAYS_180", "180d"), 365 * 86400: ("YEARS_1", "365d"),
}
# An account's order-like metrics, listed when the order metric is not found.
ORDER = "order"  # the metric key of the configurable order metric

# Metric names by the keys presets use (LINE action keys, email step keys).
METRIC_NAMES: dict[str, str] = {a.key: a.metric_name for a in ACTIONS} | {s.key: s.metric_name for s in EMAIL_STEPS}

Condition = dict[str, Any]
Groups = list[list[Condition]]  # AND of groups, OR inside a group


def metric_count(metric_id: str, operator: str, value: int, days: int) -> Condition:
    """Count of the metric's events in the last `days` days, compared with `value`."""
    return {
        "type": "profile-metric",
        "metric_id": metric_id,
        "measurement": "count",
        "measurement_filter": {"type": "numeric", "operator": operator, "value": value},
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": days, "unit": "day"},
    }


def did(metric_id: str, days: int) -> Condition:
    return metric_count(metric_id, "greater-than", 0, days)


def did_not(metric_id: str, days: int) -> Condition:
    return metric_count(metric_id, "equals", 0, days)


def clicked_then(first_id: str, then_id: str, days: int, window: str) -> Condition:
    """The first metric, then the second within `window` (a completion-window enum), in the last `days` days."""
    return {
        "type": "profile-metric-funnel",
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": days, "unit": "day"},
        "completion_window_seconds": window,
        "steps": [{"metric_exists": True, "metric_id": first_id}, {"metric_exists": True, "metric_id": then_id}],
    }


def property_is_set(name: str) -> Condition:
    """A custom profile property that is set, written `properties['name']` as the spec asks."""
    quote = "'" if "'" not in name else '"'
    if quote in name:
        raise UsageError(f"the property name {name!r} holds both quote characters; Klaviyo cannot address it")
    return {
        "type": "profile-property",
        "property": f"properties[{quote}{name}{quote}]",
        "filter": {"type": "existence", "operator": "is-set"},
    }


@dataclass(frozen=True)
class Preset:
    key: str
    summary: str
    default_name: str  # may hold {days}, {property}, {window} and {order}
    metrics: tuple[str, ...]  # METRIC_NAMES keys it needs, and ORDER for the order metric
    uses_days: bool
    # ids by metric key, days, the link key, the completion window (enum) or None
    build: Callable[[dict[str, str], int, LinkKey, str | None], Groups] = field(repr=False)
    uses_window: bool = False
    note: str | None = None  # what `segments presets` says besides the summary

    def metric_names(self, order_metric: str = DEFAULT_ORDER_METRIC) -> list[str]:
        return [order_metric if k == ORDER else METRIC_NAMES[k] for k in self.metrics]

    @property
    def uses_order(self) -> bool:
        return ORDER in self.metrics


def _linked(ids: dict[str, str], days: int, link: LinkKey, _window: str | None) -> Groups:
    if link.kind != "property" or not link.property_name:
        raise UsageError(
            "line-linked needs a link property, but LINESYNC_LINK_KEY is external_id",
            hint="external_id is shared with other integrations, so \"external_id is set\" does not mean LINE-linked; "
            "if the platform also writes the LINE User ID property, run with --link-key \"property:LINE User ID\"",
        )
    return [[property_is_set(link.property_name)]]


PRESETS: tuple[Preset, ...] = (
    Preset(
        "line-opened-not-clicked",
        "Opened a LINE message in the last N days and clicked none",
        "LINE opened, not clicked ({days}d)",
        ("opened", "clicked"), True,
        lambda ids, d, *_: [[did(ids["opened"], d)], [did_not(ids["clicked"], d)]],
    ),
    Preset(
        "line-clicked-recently",
        "Clicked a LINE message in the last N days",
        "LINE clicked ({days}d)",
        ("clicked",), True,
        lambda ids, d, *_: [[did(ids["clicked"], d)]],
    ),
    Preset(
        "email-unopened-line-clicked",
        "Received email but opened none in the last N days, and clicked a LINE message",
        "Email unopened, LINE clicked ({days}d)",
        ("email_received", "email_opened", "clicked"), True,
        lambda ids, d, *_: [[did(ids["email_received"], d)], [did_not(ids["email_opened"], d)],
                           [did(ids["clicked"], d)]],
    ),
    Preset(
        "line-blocked-recently",
        "Blocked the LINE account in the last N days (a later re-follow is not checked)",
        "LINE blocked ({days}d)",
        ("blocked",), True,
        lambda ids, d, *_: [[did(ids["blocked"], d)]],
    ),
    Preset(
        "line-clicked-then-ordered",
        "Clicked a LINE message, then placed an order within the window (--window), in the last N days",
        "LINE clicked, then {order} within {window} ({days}d)",
        ("clicked", ORDER), True,
        lambda ids, d, _, window: [[clicked_then(ids["clicked"], ids[ORDER], d, window or "DAYS_5")]],
        uses_window=True,
        note="an event funnel (ordered steps): Klaviyo offers these only with its Marketing Analytics "
        "(Advanced KDP) plan; --window is one of 1h, 1d, 3d, 5d, 7d, 30d, 90d, 180d, 365d; --days at most 365",
    ),
    Preset(
        "line-clicked-and-ordered",
        "Clicked a LINE message and placed an order, both in the last N days (in either order)",
        "LINE clicked and {order} ({days}d)",
        ("clicked", ORDER), True,
        lambda ids, d, *_: [[did(ids["clicked"], d)], [did(ids[ORDER], d)]],
        note="not a sequence: an order before the click counts too; for every plan (line-clicked-then-ordered "
        "needs Marketing Analytics)",
    ),
    Preset(
        "line-linked",
        "Profiles whose link property (LINESYNC_LINK_KEY) is set",
        "LINE linked ({property} is set)",
        (), False,
        _linked,
    ),
)
_BY_KEY = {p.key: p for p in PRESETS}


def get_preset(key: str) -> Preset:
    preset = _BY_KEY.get(key.strip().lower())
    if preset is None:
        raise UsageError(f"no preset called {key!r}", hint="presets: " + ", ".join(_BY_KEY) +
                         " (`linesync segments presets` describes them)")
    return preset


def placeholder_id(metric_key: str, order_metric: str = DEFAULT_ORDER_METRIC) -> str:
    return f"<ID of {order_metric if metric_key == ORDER else METRIC_NAMES[metric_key]}>"


def completion_window(text: str) -> tuple[str, str]:
    """`5d` to the funnel's enum and its label ("DAYS_5", "5d"); UsageError for other lengths."""
    from linesync_cli.timeutil import parse_duration

    length = parse_duration(text)
    allowed = ", ".join(label for _, label in COMPLETION_WINDOWS.values())
    window = COMPLETION_WINDOWS.get(int(length.total_seconds())) if length is not None else None
    if window is None:
        raise UsageError(f"--window {text!r} is not a completion window Klaviyo offers",
                         hint=f"use one of {allowed} (the longest time from the click to the order)")
    return window


def segment_definition(groups: Groups) -> dict[str, Any]:
    """A segment definition (spec `SegmentDefinition`): the groups, each a list of conditions."""
    return {"condition_groups": [{"conditions": conditions} for conditions in groups]}


@dataclass
class SegmentPlan:
    preset: Preset
    name: str
    days: int | None
    definition: dict[str, Any]
    missing: list[str]  # metric names with no events yet
    placeholders: bool  # metric IDs are placeholders (not resolved)
    existing: list[dict[str, Any]] = field(default_factory=list)  # segments already named so
    window: str | None = None  # the completion window as given (5d), funnel presets only
    order_metric: Metric | None = None  # the resolved order metric, presets that use one

    @property
    def body(self) -> dict[str, Any]:
        """Exactly what create would send (a dry run shows it)."""
        return segment_create_body(self.name, self.definition)

    def to_json(self) -> dict[str, Any]:
        return {
            "preset": self.preset.key, "name": self.name, "days": self.days,
            "missing_metrics": self.missing, "placeholders": self.placeholders,
            "existing": self.existing, "body": self.body, "window": self.window,
            "order_metric": self.order_metric.to_json() if self.order_metric else None,
        }


def plan_segment(preset: Preset, *, link: LinkKey, days: int | None = None, name: str | None = None,
                 metrics: KnownMetrics | None = None, window: str | None = None,
                 order_metric: str | None = None) -> SegmentPlan:
    """The request for a preset. Without `metrics` (no key) metric IDs are placeholders.

    Bad options are usage errors before anything is sent: a window Klaviyo does not offer, one
    longer than the time period, an order metric the account does not have (or has twice).
    """
    if days is not None and days < 1:
        raise UsageError("--days must be 1 or more")
    used_days = (days or DEFAULT_DAYS) if preset.uses_days else None
    window_enum, window_label = completion_window(window or DEFAULT_WINDOW) if preset.uses_window else (None, None)
    if preset.uses_window and used_days is not None:
        if used_days > MAX_FUNNEL_DAYS:
            raise UsageError(f"--days {used_days}: an event funnel looks back at most {MAX_FUNNEL_DAYS} days",
                             hint=f"use --days {MAX_FUNNEL_DAYS} or less")
        seconds = next(length for length, (enum, _) in COMPLETION_WINDOWS.items() if enum == window_enum)
        if seconds > used_days * 86400:
            raise UsageError(f"--window {window_label} is longer than the time period (--days {used_days})",
                             hint=f"use a shorter --window, or --days {seconds // 86400} or more")
    order_name = (order_metric or DEFAULT_ORDER_METRIC).strip() or DEFAULT_ORDER_METRIC
    ids: dict[str, str] = {}
    missing: list[str] = []
    resolved_order: Metric | None = None
    for key in preset.metrics:
        if key == ORDER:
            resolved_order = find_order_metric(metrics.every, order_name) if metrics is not None else None
            ids[key] = resolved_order.id if resolved_order is not None else placeholder_id(key, order_name)
            continue
        metric = metrics.get(key) if metrics is not None else None
        if metric is None and metrics is not None:
            missing.append(METRIC_NAMES[key])
        ids[key] = metric.id if metric is not None else placeholder_id(key)
    groups = preset.build(ids, used_days or DEFAULT_DAYS, link, window_enum)
    label = name.strip() if name and name.strip() else preset.default_name.format(
        days=used_days, property=link.property_name or "external_id", window=window_label,
        order=resolved_order.name if resolved_order else order_name)
    return SegmentPlan(preset, label, used_days, segment_definition(groups), missing,
                       placeholders=metrics is None and bool(preset.metrics), window=window_label,
                       order_metric=resolved_order)


def segments_named(client: KlaviyoClient, name: str) -> list[dict[str, Any]]:
    """Segments whose name equals `name`, as the plan shows them."""
    return [{"id": seg.id, "name": seg.name, "created": seg.created} for seg in client.segments_named(name)]


def check_plan(plan: SegmentPlan, *, force: bool) -> None:
    """Refuse what Klaviyo would reject or the user would regret (missing metrics, a taken name)."""
    if plan.missing:
        raise CheckFailed(
            f"cannot create {plan.preset.key}: no events yet for {', '.join(plan.missing)}, so Klaviyo has no "
            "such metric to build on (the first event of a kind creates its metric)",
            hint="send those events first (`linesync backfill FILE`), then check with `linesync metrics`",
        )
    if plan.existing and not force:
        ids = ", ".join(str(s["id"]) for s in plan.existing)
        raise CheckFailed(
            f"a segment named {plan.name!r} already exists ({ids})",
            hint="choose another --name, or --force to create another segment with the same name",
        )


@dataclass
class CreatedSegment:
    id: str
    name: str
    is_processing: bool | None
    created: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "is_processing": self.is_processing, "created": self.created}


def create_segment(client: KlaviyoClient, plan: SegmentPlan) -> CreatedSegment:
    """Send the create. It is not retried after a 5xx or a dropped connection (not idempotent)."""
    try:
        doc = client.create_segment(plan.name, plan.definition)
    except RateLimited as exc:
        raise RateLimited(
            "Klaviyo refused the create with 429: an account may create or update at most 100 segments a day "
            "(and 1 a second, 15 a minute)",
            hint="try again tomorrow, or reuse an existing segment; `--dry-run` shows the definition to add by hand",
            service=exc.service, status=exc.status, errors=exc.errors,
        ) from None
    except BadRequest as exc:
        if not plan.preset.uses_window:
            raise
        # Not documented what an account without event funnels gets back; a 4xx on a valid body is the sign.
        raise BadRequest(
            f"{exc.message} (an event-funnel segment)",
            hint="Klaviyo offers event funnels in segments only with its Marketing Analytics (Advanced KDP) "
            "plan; without it, `linesync segments create line-clicked-and-ordered` asks for both in the "
            "period instead (not a sequence)",
            service=exc.service, status=exc.status, errors=exc.errors,
        ) from None
    except Unavailable as exc:
        raise Unavailable(
            f"{exc.message}; the segment may or may not have been created",
            hint=f"look for {plan.name!r} in Klaviyo (Audience > Lists & segments) before retrying; re-running this "
            "command refuses if it exists",
            service=exc.service, status=exc.status, errors=exc.errors,
        ) from None
    return CreatedSegment(id=doc.id, name=doc.name or plan.name, is_processing=doc.is_processing, created=doc.created)
