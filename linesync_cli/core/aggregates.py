"""Metric aggregates as zero-filled series.

Shared by `report funnel` and `metrics show`. Interface:

    query = AggregateQuery(metric_id, since, until, interval="day",
                           measurements=("count", "unique"), timezone="Asia/Tokyo")
    series = query_aggregates(klaviyo_client, query)   # every page, zero-filled
    series.buckets            # [Bucket(start=<aware datetime in the zone>, values={"count": 3, "unique": 2}), ...]
    series.values("count")    # [3, 0, 5, ...] one per bucket, oldest first
    series.sum("count")       # exact range total (counts and sum_value add up)
    series.range_unique()     # RangeUnique(value, exact, lower_bound): see below

Facts this relies on (klaviyo-api.md section 8):
- One query per metric over [since, until); the client writes the bounds in the
  query's time zone with their UTC offset (`KlaviyoClient.metric_aggregates`).
- Buckets follow the calendar of `timezone` (days start at local midnight, months
  on the 1st); the first and last bucket can be partly outside the range, and the
  filter, not the bucket, decides which events count. Dates are event times.
- `unique` is unique profiles *per bucket*. A sum of per-bucket uniques counts a
  person once per bucket, so it is never reported as a range unique: use
  `range_unique()`, which is exact only when at most one bucket has events.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from linesync_cli.api.klaviyo_records import measurement_number
from linesync_cli.errors import UsageError
from linesync_cli.timeutil import parse_zone

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.klaviyo_records import AggregatePage

INTERVALS = ("hour", "day", "week", "month")
MEASUREMENTS = ("count", "unique", "sum_value")
# Zones Klaviyo's validator does not know (spec, `timezone`), and the older names it does.
_KLAVIYO_ZONE_ALIASES = {"Europe/Kyiv": "Europe/Kiev", "Pacific/Kanton": "Pacific/Enderbury"}
_UNSUPPORTED_ZONES = frozenset({"Factory"})


@dataclass(frozen=True)
class AggregateQuery:
    """One metric, one range [since, until), one interval, in one time zone."""

    metric_id: str
    since: datetime  # aware, inclusive
    until: datetime  # aware, exclusive
    interval: str = "day"
    measurements: tuple[str, ...] = ("count",)
    timezone: str = "UTC"  # an IANA name Klaviyo accepts (see klaviyo_zone_name)

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
        bad = [m for m in self.measurements if m not in MEASUREMENTS]
        if bad or not self.measurements:
            raise ValueError(f"measurements must be among {', '.join(MEASUREMENTS)}")
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if self.since >= self.until:
            raise ValueError("since must be before until")

    @property
    def zone(self) -> tzinfo:
        return UTC if self.timezone.upper() == "UTC" else ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Bucket:
    start: datetime  # aware, in the query's zone
    values: dict[str, float]


@dataclass(frozen=True)
class RangeUnique:
    """Unique profiles over the whole range, as far as per-bucket uniques tell.

    exact: at most one bucket had events, so its unique count is the range's.
    Otherwise `value` is the sum of per-bucket uniques (an upper bound: a person
    active in two buckets counts twice) and `lower_bound` the largest bucket.
    """

    value: int
    exact: bool
    lower_bound: int


@dataclass
class AggregateSeries:
    query: AggregateQuery
    buckets: list[Bucket] = field(default_factory=list)

    def values(self, measurement: str) -> list[float]:
        return [b.values.get(measurement, 0) for b in self.buckets]

    def sum(self, measurement: str) -> float:
        """The exact range total of an additive measurement (`count`, `sum_value`)."""
        if measurement == "unique":
            raise ValueError("per-bucket unique counts do not add up; use range_unique()")
        return measurement_number(sum(self.values(measurement)))

    def range_unique(self) -> RangeUnique:
        per_bucket = [int(v) for v in self.values("unique")]
        with_events = [v for v in per_bucket if v]
        return RangeUnique(
            value=sum(with_events),
            exact=len(with_events) <= 1,
            lower_bound=max(with_events, default=0),
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [{"start": b.start.isoformat(), **b.values} for b in self.buckets]


# -- time zones ----------------------------------------------------------------

def klaviyo_zone_name(name: str, option: str = "--timezone") -> str:
    """Check an IANA name and return the spelling Klaviyo accepts (`Europe/Kyiv` → `Europe/Kiev`)."""
    if name.upper() == "UTC":
        return "UTC"
    if name in _UNSUPPORTED_ZONES:
        raise UsageError(f"{option} {name!r} is not supported by Klaviyo", hint="use a city zone such as Asia/Tokyo")
    parse_zone(name, option)  # raises UsageError for unknown names
    return _KLAVIYO_ZONE_ALIASES.get(name, name)


def local_zone_name() -> str:
    """This machine's IANA zone name (TZ, then /etc/localtime), or UTC when unknown."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            return klaviyo_zone_name(name)
        except UsageError:
            continue
    return "UTC"


# -- response ------------------------------------------------------------------

def bucket_starts(since: datetime, until: datetime, interval: str, zone: tzinfo,
                  week_anchor: date | None = None) -> list[datetime]:
    """Every bucket start touching [since, until), on the zone's calendar.

    Weeks start on `week_anchor`'s weekday when Klaviyo told us one (the first
    date it returned), else on Monday (ISO); Klaviyo does not document its week start.
    """
    local = since.astimezone(zone)
    if interval == "hour":
        first = local.replace(minute=0, second=0, microsecond=0)
        out, t = [], first.astimezone(UTC)
        while t < until:
            out.append(t.astimezone(zone))
            t += timedelta(hours=1)
        return out
    day = local.date()
    if interval == "week":
        weekday = week_anchor.weekday() if week_anchor else 0
        day -= timedelta(days=(day.weekday() - weekday) % 7)
    elif interval == "month":
        day = day.replace(day=1)
    out = []
    while True:
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        if start >= until:
            return out
        out.append(start)
        if interval == "day":
            day += timedelta(days=1)
        elif interval == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)


def series_from_pages(query: AggregateQuery, pages: Iterable[AggregatePage]) -> AggregateSeries:
    """One zero-filled series from the answer's pages (rows of all pages added up).

    Without `by`, Klaviyo returns one row of measurements lined up with `dates`;
    a metric with no events in the range may return no row at all: zeros.
    """
    zone = query.zone
    totals: dict[datetime, dict[str, float]] = {}
    for page in pages:
        for d in page.dates:
            if d is not None:
                totals.setdefault(d, {})
        for row in page.rows:
            for name in query.measurements:
                for d, v in zip(page.dates, row.measurements.get(name, ()), strict=False):
                    if d is not None:
                        slot = totals.setdefault(d, {})
                        slot[name] = measurement_number(slot.get(name, 0) + v)
    returned = sorted(totals)
    anchor = returned[0].astimezone(zone).date() if returned and query.interval == "week" else None
    grid = bucket_starts(query.since, query.until, query.interval, zone, anchor)
    # Klaviyo's own dates win when they are not on our grid (its calendar rules are
    # not documented); otherwise our grid fills the buckets it left out.
    axis = grid if set(returned) <= set(grid) else returned
    buckets = []
    for start in axis:
        got = totals.get(start, {})
        buckets.append(Bucket(start.astimezone(zone), {m: got.get(m, 0) for m in query.measurements}))
    return AggregateSeries(query, buckets)


def query_aggregates(client: KlaviyoClient, query: AggregateQuery) -> AggregateSeries:
    """Run one aggregate query (every page) and zero-fill it.

    Errors are the client's typed errors (a deleted metric ID is a 4xx BadRequest/NotFound).
    """
    pages = client.metric_aggregates(query.metric_id, measurements=query.measurements, interval=query.interval,
                                     since=query.since, until=query.until, timezone=query.timezone)
    return series_from_pages(query, pages)
