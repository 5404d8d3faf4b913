"""The LINE funnel (Sent → Delivered → Opened → Clicked), its side events, and email beside it.

Figures come from `POST /api/metric-aggregates` (core/aggregates.py), one query per
metric and measurement set, paced by the client at 3/s and 60/min.

Totals are exact (event counts add up across buckets). Unique people over the
range are exact only when Klaviyo can count them in one bucket: the range query
uses `interval: month`, so a range inside one calendar month (of the report's zone)
is one bucket. A range that crosses a month boundary gets the sum of the monthly
uniques, flagged `unique_exact: false` (an upper bound; the busiest month is the
lower bound). Per-interval uniques in the series are uniques of that interval only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from linesync_cli.catalogue import EMAIL_METRICS, lookup
from linesync_cli.core.aggregates import AggregateQuery, AggregateSeries, RangeUnique, query_aggregates
from linesync_cli.core.metrics import Metric, line_metric_status, list_metrics
from linesync_cli.errors import UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

# Klaviyo's reference for this endpoint has said a query may span at most one
# year; asking for more fails before any call, with a hint, rather than as a 400.
MAX_RANGE = timedelta(days=366)
MEASUREMENTS = ("count", "unique")
MISSING = "no events yet"


@dataclass(frozen=True)
class Step:
    key: str  # stable name in JSON/CSV: sent, delivered, ..., email_opened
    metric_name: str
    channel: str  # "LINE" | "Email"
    base: str | None = None  # key of the step this one's rate is taken of


def _line(key: str, base: str | None = None) -> Step:
    action = lookup(key)
    assert action is not None, key
    return Step(key, action.metric_name, "LINE", base)


LINE_FUNNEL = (_line("sent"), _line("delivered", "sent"), _line("opened", "delivered"), _line("clicked", "opened"))
LINE_SIDE = (_line("failed", "sent"), _line("followed"), _line("blocked"))
EMAIL_STEPS = (
    Step("email_received", EMAIL_METRICS[0], "Email"),
    Step("email_opened", EMAIL_METRICS[1], "Email", base="email_received"),
    Step("email_clicked", EMAIL_METRICS[2], "Email", base="email_opened"),
)


@dataclass(frozen=True)
class FunnelOptions:
    since: datetime  # aware, inclusive
    until: datetime  # aware, exclusive
    interval: str = "day"  # of the series (chart, JSON)
    timezone: str = "UTC"  # IANA name in Klaviyo's spelling
    compare_email: bool = False
    with_series: bool = False  # fetch the per-interval series too (chart, JSON)
    exact: bool = False  # counted from the event mirror: no one-year limit of an aggregate query

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise UsageError("--since must be before --until", hint="e.g. --since 30d, or --since 2026-10-01 --until 2026-11-01")
        if self.until - self.since > MAX_RANGE and not self.exact:
            raise UsageError(
                "the range is longer than one year, the most one Klaviyo aggregate query covers",
                hint="run one report per year, e.g. --since 2025-01-01 --until 2026-01-01, or add --exact",
            )


@dataclass
class KnownMetrics:
    """Metric IDs by step key: LINE metrics under integration API, email under Klaviyo's own."""

    by_key: dict[str, Metric | None]
    split: dict[str, list[Metric]] = field(default_factory=dict)  # LINE names also under other integrations
    every: list[Metric] = field(default_factory=list)  # the whole listing (an order metric is looked up in it)

    def get(self, key: str) -> Metric | None:
        return self.by_key.get(key)


def _is_klaviyo_own(m: Metric) -> bool:
    return m.integration_category.casefold() == "internal" or m.integration_name.casefold() == "klaviyo"


def known_metrics(client: KlaviyoClient) -> KnownMetrics:
    """The nine LINE metrics and Klaviyo's three email metrics, from one listing of /api/metrics."""
    every = list_metrics(client, api_only=False)
    by_key: dict[str, Metric | None] = {}
    split: dict[str, list[Metric]] = {}
    for st in line_metric_status([m for m in every if m.is_api], every):
        by_key[st.action.key] = st.metric
        if st.split:
            split[st.action.key] = st.others
    for step in EMAIL_STEPS:
        found = sorted(
            (m for m in every if m.name == step.metric_name and _is_klaviyo_own(m)),
            key=lambda m: m.created.timestamp() if m.created else float("inf"),
        )
        by_key[step.key] = found[0] if found else None
    return KnownMetrics(by_key, split, every)


@dataclass
class FunnelRow:
    step: Step
    metric: Metric | None
    total: float | None = None  # events in the range; None when the metric is missing
    unique: RangeUnique | None = None  # people in the range
    series: AggregateSeries | None = None  # per interval: count and that interval's unique
    total_rate: float | None = None  # total / base total
    unique_rate: float | None = None  # unique / base unique
    unique_rate_exact: bool | None = None  # both uniques exact

    @property
    def present(self) -> bool:
        return self.metric is not None

    @property
    def status(self) -> str:
        return "ok" if self.present else "missing"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.step.key,
            "event": self.step.metric_name,
            "channel": self.step.channel,
            "status": self.status,
            "detail": None if self.present else MISSING,
            "metric_id": self.metric.id if self.metric else None,
            "total": self.total,
            "unique": self.unique.value if self.unique else None,
            "unique_exact": self.unique.exact if self.unique else None,
            "unique_lower_bound": self.unique.lower_bound if self.unique else None,
            "rate_base": self.step.base,
            "total_rate": self.total_rate,
            "unique_rate": self.unique_rate,
            "unique_rate_exact": self.unique_rate_exact,
            # Each interval's unique counts that interval's people only.
            "series": [{"start": b.start.isoformat(), "count": b.values.get("count", 0),
                        "unique_in_interval": b.values.get("unique", 0)} for b in self.series.buckets]
            if self.series else None,
        }


@dataclass
class FunnelReport:
    options: FunnelOptions
    rows: list[FunnelRow]
    split: dict[str, list[Metric]] = field(default_factory=dict)

    def row(self, key: str) -> FunnelRow | None:
        return next((r for r in self.rows if r.step.key == key), None)

    @property
    def uniques_exact(self) -> bool:
        return all(r.unique.exact for r in self.rows if r.unique)

    def to_json(self) -> dict[str, Any]:
        o = self.options
        return {
            "range": {
                "since": o.since.isoformat(), "until": o.until.isoformat(),
                "timezone": o.timezone, "interval": o.interval if o.with_series else None,
            },
            "uniques_exact": self.uniques_exact,
            "steps": [r.to_json() for r in self.rows],
            "split_metrics": {k: [m.to_json() for m in v] for k, v in self.split.items()},
        }


def _rate(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


def _measure(client: KlaviyoClient, metric: Metric, options: FunnelOptions) -> tuple[float, RangeUnique, AggregateSeries | None]:
    """Range total, range unique and (if asked) the series, with as few queries as possible."""

    def run(interval: str) -> AggregateSeries:
        return query_aggregates(client, AggregateQuery(
            metric.id, options.since, options.until, interval, MEASUREMENTS, options.timezone))

    series = run(options.interval) if options.with_series else None
    if series is not None and (options.interval == "month" or series.range_unique().exact):
        return series.sum("count"), series.range_unique(), series
    months = run("month")
    return months.sum("count"), months.range_unique(), series


def _steps(options: FunnelOptions) -> tuple[Step, ...]:
    return LINE_FUNNEL + LINE_SIDE + (EMAIL_STEPS if options.compare_email else ())


def funnel_keys(options: FunnelOptions) -> list[str]:
    return [s.key for s in _steps(options)]


def build_funnel(client: KlaviyoClient, options: FunnelOptions, metrics: KnownMetrics | None = None) -> FunnelReport:
    """Query every step whose metric exists; steps whose metric is missing stay empty."""
    metrics = metrics or known_metrics(client)
    rows: list[FunnelRow] = []
    for step in _steps(options):
        row = FunnelRow(step, metrics.get(step.key))
        if row.metric is not None:
            row.total, row.unique, row.series = _measure(client, row.metric, options)
        rows.append(row)
    return _with_rates(options, rows, metrics)


def build_exact_funnel(options: FunnelOptions, metrics: KnownMetrics,
                       totals: dict[str, tuple[int, int]]) -> FunnelReport:
    """The funnel from counts over the event mirror (key -> (events, unique people)): every Unique exact."""
    rows: list[FunnelRow] = []
    for step in _steps(options):
        row = FunnelRow(step, metrics.get(step.key))
        if row.metric is not None:
            total, unique = totals.get(step.key, (0, 0))
            row.total, row.unique = total, RangeUnique(unique, True, unique)
        rows.append(row)
    return _with_rates(options, rows, metrics)


def _with_rates(options: FunnelOptions, rows: list[FunnelRow], metrics: KnownMetrics) -> FunnelReport:
    by_key = {r.step.key: r for r in rows}
    for row in rows:
        base = by_key.get(row.step.base) if row.step.base else None
        if base is None:
            continue
        row.total_rate = _rate(row.total, base.total)
        if row.unique and base.unique:
            row.unique_rate = _rate(row.unique.value, base.unique.value)
            row.unique_rate_exact = row.unique.exact and base.unique.exact
    return FunnelReport(options, rows, {k: v for k, v in metrics.split.items()})
