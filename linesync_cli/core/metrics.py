"""Are the nine LINE metrics present in Klaviyo under integration type API?

A metric exists only once its first event has arrived (there is no create-metric
endpoint), so "missing" means "no event of this kind has arrived yet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo_records import Metric
from linesync_cli.catalogue import ACTIONS, LineAction, by_metric_name, lookup
from linesync_cli.errors import UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

MISSING_TEXT = "no event of this kind has arrived yet"

__all__ = ["Metric", "LineMetricStatus", "list_metrics", "line_metric_status"]


@dataclass
class LineMetricStatus:
    action: LineAction
    metric: Metric | None  # the API-integration metric, None when no event arrived yet
    # The same event name under other integrations (or duplicated under API): a split.
    others: list[Metric] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.metric is not None

    @property
    def split(self) -> bool:
        return bool(self.others)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.key,
            "name": self.action.metric_name,
            "present": self.present,
            "metric": self.metric.to_json() if self.metric else None,
            "status": "present" if self.present else "missing",
            "detail": None if self.present else MISSING_TEXT,
            "split": self.split,
            "split_with": [m.to_json() for m in self.others],
        }


def list_metrics(client: KlaviyoClient, *, api_only: bool) -> list[Metric]:
    return client.list_metrics(api_only=api_only)


def line_metric_status(api_metrics: list[Metric], all_metrics: list[Metric] | None = None) -> list[LineMetricStatus]:
    """Pair each of the nine actions with its API metric and any split copies.

    `all_metrics` (every integration) finds a LINE event name recorded under another
    integration too; without it only duplicates under API are found.
    """
    by_name: dict[str, list[Metric]] = {}
    pool = {m.id: m for m in (all_metrics or [])} | {m.id: m for m in api_metrics}
    for m in pool.values():
        if by_metric_name(m.name):
            by_name.setdefault(m.name.casefold(), []).append(m)
    statuses = []
    for action in ACTIONS:
        # API metrics first, oldest first: the one that has been collecting events.
        found = sorted(
            by_name.get(action.metric_name.casefold(), []),
            key=lambda m: (not m.is_api, m.created.timestamp() if m.created else float("inf")),
        )
        api = [m for m in found if m.is_api and m.name == action.metric_name] or [m for m in found if m.is_api]
        primary = api[0] if api else None
        statuses.append(LineMetricStatus(action, primary, [m for m in found if m is not primary]))
    return statuses


def read_line_metrics(client: KlaviyoClient) -> list[LineMetricStatus]:
    """The nine LINE metrics as Klaviyo sees them (two paged listings of /api/metrics)."""
    api_metrics = list_metrics(client, api_only=True)
    all_metrics = list_metrics(client, api_only=False)
    return line_metric_status(api_metrics, all_metrics)


# -- metrics show: one metric's counts over time and its recent events ----------


def line_action(name: str) -> LineAction:
    """The action a user named (`clicked` or `Clicked LINE Message`); unknown names are a
    usage error listing the valid ones (checked before any API call)."""
    action = lookup(name)
    if action is None:
        valid = ", ".join(a.key for a in ACTIONS)
        raise UsageError(
            f"{name!r} is not a LINE metric",
            hint=f"use a short name ({valid}) or the Klaviyo event name, e.g. \"Clicked LINE Message\"",
        )
    return action


def resolve_line_metric(client: KlaviyoClient, name: str) -> LineMetricStatus:
    """The LINE metric a user named, with split copies; a metric that has not received
    an event yet comes back with `metric=None`."""
    action = line_action(name)
    return next(st for st in read_line_metrics(client) if st.action is action)


def align_start(since: datetime, interval: str, zone: Any) -> datetime:
    """The start of the interval holding `since`, on the zone's calendar (weeks: the day)."""
    local = since.astimezone(zone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class ShowOptions:
    name: str  # as the user typed it
    since: datetime  # aware, inclusive
    until: datetime  # aware, exclusive
    interval: str = "day"
    timezone: str = "UTC"  # IANA name in Klaviyo's spelling
    feed: int = 20
    # Limit the feed to events before `until` (only when --until was given: with
    # the default "now" the feed is simply the latest events, like Klaviyo's page).
    feed_until: bool = False


@dataclass
class RangeTotals:
    count: float
    unique: int
    unique_exact: bool  # False: `unique` is the sum of per-interval uniques
    unique_lower_bound: int  # the busiest interval's unique: the range has at least this many

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "unique": self.unique, "unique_exact": self.unique_exact,
                "unique_lower_bound": self.unique_lower_bound}


@dataclass
class MetricShow:
    status: LineMetricStatus
    options: ShowOptions
    series: Any = None  # core.aggregates.AggregateSeries (count, unique); None when the metric is missing
    totals: RangeTotals | None = None
    feed: Any = None  # core.activity.ActivityFeed; None when the metric is missing or --feed 0

    @property
    def metric(self) -> Metric | None:
        return self.status.metric

    def to_json(self) -> dict[str, Any]:
        o = self.options
        return {
            "action": self.status.action.key,
            "name": self.status.action.metric_name,
            "present": self.status.present,
            "detail": None if self.status.present else MISSING_TEXT,
            "metric": self.metric.to_json() if self.metric else None,
            "split_with": [m.to_json() for m in self.status.others],
            "range": {"since": o.since.isoformat(), "until": o.until.isoformat(),
                      "interval": o.interval, "timezone": o.timezone},
            "totals": self.totals.to_json() if self.totals else None,
            "series": self.series.to_json() if self.series is not None else None,
            "feed": self.feed.to_json() if self.feed is not None else None,
        }


def _exact_range_unique(client: KlaviyoClient, metric_id: str, opts: ShowOptions) -> int | None:
    """Unique profiles over the whole range, when one calendar day or month holds it.

    Per-interval uniques do not add up (a person active on two days counts twice);
    a second query whose single bucket covers the range counts each person once.
    Weeks are not used: Klaviyo does not document on which day they start.
    """
    from linesync_cli.core.aggregates import AggregateQuery, bucket_starts, query_aggregates

    probe = AggregateQuery(metric_id, opts.since, opts.until, "day", ("unique",), opts.timezone)
    for interval in ("day", "month"):
        if len(bucket_starts(opts.since, opts.until, interval, probe.zone)) == 1:
            series = query_aggregates(client, AggregateQuery(metric_id, opts.since, opts.until, interval,
                                                             ("unique",), opts.timezone))
            return int(sum(series.values("unique")))
    return None


def show_metric(client: KlaviyoClient, opts: ShowOptions) -> MetricShow:
    """Resolve the metric, then its counts per interval and its most recent events."""
    from linesync_cli.core.activity import recent_events
    from linesync_cli.core.aggregates import AggregateQuery, query_aggregates

    status = resolve_line_metric(client, opts.name)
    result = MetricShow(status, opts)
    if status.metric is None:
        return result
    metric_id = status.metric.id
    query = AggregateQuery(metric_id, opts.since, opts.until, opts.interval, ("count", "unique"), opts.timezone)
    result.series = query_aggregates(client, query)
    ru = result.series.range_unique()
    totals = RangeTotals(result.series.sum("count"), ru.value, ru.exact, ru.lower_bound)
    if not ru.exact:
        found = _exact_range_unique(client, metric_id, opts)
        if found is not None:
            totals = RangeTotals(totals.count, found, True, found)
    result.totals = totals
    if opts.feed > 0:
        result.feed = recent_events(client, metric_id, opts.feed, opts.until if opts.feed_until else None)
    return result
