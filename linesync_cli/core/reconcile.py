"""`linesync reconcile`: LINE's own counts beside Klaviyo's, per JST day and per send.

Per day (LINE counts calendar days in JST, UTC+9):
- delivered: LINE's messages delivered (every send type added up) against Klaviyo's
  Delivered LINE Message events of the same day (metric aggregates, day interval,
  in the same zone);
- followed: the day's change of LINE's `followers` (cumulative first-time adds)
  against Followed LINE Account. A re-follow after an unblock is a Followed event but
  not a new follower, so Klaviyo may hold more, never fewer;
- blocked: the day's change of LINE's `blocks` (users blocking now; an unblock lowers
  it) against Blocked LINE Account. Klaviyo may hold more (unblocks hide blocks),
  never fewer while the change is positive.
Klaviyo is **short** on a measure when it holds fewer than LINE's figure by more than
the tolerance; a day is short when any measure is. Days LINE has not counted
(`unready`), withholds (privacy threshold, fewer than 20) or has no figures for
(`out_of_service`: before the account, or before LINE counted) are states, never 0.

Per send (`--request-id`, `--unit`): LINE's delivered, unique impressions and unique
clicks beside Klaviyo's unique profiles with Delivered, Opened and Clicked LINE
Message events whose `Broadcast ID` (or another property) is the ID, read from
`GET /api/events` over the 14 days LINE counts interactions. Impressions and opens
are different measurements (LINE counts impressions in its phone apps only; opens
are the platform's tracked image or link): shown as information, never a failure.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from linesync_cli.api.line_insight import (
    EVENT_WINDOW_DAYS,
    JST,
    OUT_OF_SERVICE,
    PRIVACY,
    READY,
    UNIT_MAX_SPAN_DAYS,
    UNIT_PATTERN,
    UNREADY,
    DeliveryCounts,
    FollowerCounts,
    InteractionOverview,
)
from linesync_cli.catalogue import lookup
from linesync_cli.errors import BadRequest, NotFound, UsageError
from linesync_cli.timeutil import parse_zone

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.line import LineClient
    from linesync_cli.core.events.mirror import Covered, Mirror
    from linesync_cli.core.insight_cache import InsightCache

DEFAULT_TOLERANCE = 0.02
# One metric-aggregates query covers at most a year (klaviyo-api.md section 13), and
# reconcile asks one per metric.
MAX_RANGE_DAYS = 366
# Klaviyo's aggregates reach at most 5 years back.
KLAVIYO_MAX_DAYS_BACK = 5 * 365
# LINE keeps Insight figures for a limited time and its reference gives no figure for
# these two endpoints: linesync asks for at most a year back, so an old date is refused
# with a reason rather than shown as "out_of_service".
LINE_MAX_DAYS_BACK = 365

MEASURES = ("delivered", "followed", "blocked")
METRIC_OF = {"delivered": "Delivered LINE Message", "followed": "Followed LINE Account",
             "blocked": "Blocked LINE Account"}

# Measure and day states. The first four are comparisons; the rest say why there is none.
MATCH, WITHIN, SHORT, OVER = "match", "within", "short", "over"
NOT_COUNTED, WITHHELD, BEFORE_ACCOUNT, FUTURE, NO_BASELINE, ERROR = (
    "unready", "privacy", "out_of_service", "future", "no_baseline", "error")
STATE_TEXT = {
    MATCH: "match",
    WITHIN: "within tolerance",
    SHORT: "SHORT",
    OVER: "more in Klaviyo",
    NOT_COUNTED: "LINE not counted yet (unready)",
    WITHHELD: "withheld by LINE (privacy threshold, fewer than 20)",
    BEFORE_ACCOUNT: "no LINE figures (out_of_service: before the account)",
    FUTURE: "not over yet (LINE counts finished days only)",
    NO_BASELINE: "no LINE figure for the day before",
    ERROR: "LINE error",
}

Progress = Callable[[str, int, int], None]  # (what, done, total)


# -- options -------------------------------------------------------------------

def parse_tolerance(text: str) -> float:
    """`2%`, `2.5%` or `0.02` → 0.02; a usage error otherwise (checked before any call)."""
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise UsageError(f"--tolerance {text!r} is not a percentage", hint="e.g. --tolerance 2% or --tolerance 0.5%") from None
    if not 0 <= value < 1:
        hint = f"write --tolerance {s}% (or {float(s) / 100:g})" if not s.endswith("%") and 1 <= float(s) < 100 \
            else "e.g. --tolerance 2%"
        raise UsageError(f"--tolerance {text!r} must be at least 0% and below 100%", hint=hint)
    return value


def check_zone_is_jst(zone_name: str, first: date, last: date) -> None:
    """LINE's days are JST: Klaviyo's days must start at the same instants, or rows would not line up."""
    zone = parse_zone(zone_name)
    day = first
    while day <= last + timedelta(days=1):
        offset = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
        if offset != timedelta(hours=9):
            raise UsageError(
                f"--timezone {zone_name} is UTC{_offset_text(offset)} on {day}, but LINE counts its days in JST "
                "(UTC+9): the days would not line up",
                hint="use --timezone Asia/Tokyo (or another UTC+9 zone such as Asia/Seoul)",
            )
        day += timedelta(days=1)


def _offset_text(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class ReconcileOptions:
    first: date  # JST day, inclusive
    last: date  # JST day, inclusive
    today: date  # JST: this day and later are not over yet
    timezone: str = "Asia/Tokyo"  # Klaviyo's spelling of a UTC+9 zone
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        check_range(self.first, self.last, self.today)
        check_zone_is_jst(self.timezone, self.first, self.last)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def counted_days(self) -> list[date]:
        """Days LINE can have counted (before today, JST)."""
        return [d for d in self.days if d < self.today]


def check_range(first: date, last: date, today: date) -> None:
    """Refuse, before any call, a range LINE or Klaviyo does not serve."""
    if first > last:
        raise UsageError(f"--since ({first}) is after the last day ({last})",
                         hint="e.g. --since 14d, or --since 2026-11-01 --until 2026-11-15")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise UsageError(
            f"the range is {days} days; Klaviyo's metric aggregates serve at most {MAX_RANGE_DAYS} days per query",
            hint="reconcile one year at a time, e.g. --since 2025-12-01 --until 2026-12-01",
        )
    back = (today - first).days
    if back > LINE_MAX_DAYS_BACK:
        raise UsageError(
            f"{first} is {back} days ago; LINE keeps Insight figures for a limited time and linesync asks for "
            f"at most {LINE_MAX_DAYS_BACK} days back",
            hint=f"start on or after {today - timedelta(days=LINE_MAX_DAYS_BACK)}",
        )


def plan_calls(options: ReconcileOptions, cache: InsightCache | None = None) -> dict[str, int]:
    """LINE Insight calls per endpoint: one per counted day (followers also for the day before),
    less the days `cache` already holds."""
    counted = options.counted_days
    days = {"deliveries": counted, "followers": ([counted[0] - timedelta(days=1)] + counted) if counted else []}
    if cache is None:
        return {kind: len(ds) for kind, ds in days.items()}
    return {kind: sum(1 for d in ds if not cache.has(kind, d)) for kind, ds in days.items()}


# -- per day -------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    measure: str  # delivered | followed | blocked
    state: str
    line: int | None = None  # LINE's figure (for followed/blocked: the day's change)
    klaviyo: int | None = None
    note: str | None = None

    @property
    def compared(self) -> bool:
        return self.state in (MATCH, WITHIN, SHORT, OVER)

    @property
    def ratio(self) -> float | None:
        """Klaviyo's share of LINE's figure; None without a comparison or when LINE's figure is not positive."""
        if not self.compared or not self.line or self.line <= 0 or self.klaviyo is None:
            return None
        return self.klaviyo / self.line

    @property
    def missing(self) -> int:
        """Events Klaviyo lacks against LINE's figure (0 unless short or within tolerance below)."""
        if not self.compared or self.line is None or self.klaviyo is None:
            return 0
        return max(0, self.line - self.klaviyo)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "line": self.line, "klaviyo": self.klaviyo,
                "ratio": None if self.ratio is None else round(self.ratio, 6), "missing": self.missing,
                "note": self.note}


EXPECTED_MORE = {
    "followed": "a re-follow after an unblock is a Followed event but not a new LINE follower",
    "blocked": "an unblock lowers LINE's block count, so blocks on a day with unblocks exceed the change",
}


def compare(measure: str, line: int, klaviyo: int, tolerance: float) -> Comparison:
    """Klaviyo's count against LINE's figure (for followed/blocked, the day's change of LINE's total)."""
    note = None
    if klaviyo == line or (line <= 0 and klaviyo == 0):
        state = MATCH
    elif line > 0 and klaviyo < line * (1 - tolerance):
        state = SHORT
    elif klaviyo < line or klaviyo <= line * (1 + tolerance):
        state = WITHIN
    else:
        state = OVER
        note = EXPECTED_MORE.get(measure)
    return Comparison(measure, state, line, klaviyo, note)


def _line_state(status: str) -> str | None:
    """The measure state a LINE status forces, or None when the figures can be compared."""
    if status == READY:
        return None
    return {UNREADY: NOT_COUNTED, OUT_OF_SERVICE: BEFORE_ACCOUNT, PRIVACY: WITHHELD}.get(status, NOT_COUNTED)


@dataclass
class DayRow:
    day: date
    delivered: Comparison
    followed: Comparison
    blocked: Comparison
    by_type: dict[str, int | None] | None = None  # LINE's delivered per send type
    followers: int | None = None  # LINE's cumulative figures at the end of the day
    blocks: int | None = None
    targeted_reaches: int | None = None

    @property
    def comparisons(self) -> tuple[Comparison, Comparison, Comparison]:
        return self.delivered, self.followed, self.blocked

    @property
    def short(self) -> bool:
        return any(c.state == SHORT for c in self.comparisons)

    @property
    def state(self) -> str:
        """The day's state: SHORT when any measure is; else the delivered measure's state."""
        if self.short:
            return SHORT
        return self.delivered.state

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "line_date": self.day.strftime("%Y%m%d"),
            "state": self.state,
            "short": self.short,
            **{c.measure: c.to_json() for c in self.comparisons},
            "line_delivered_by_type": self.by_type,
            "line_followers_total": self.followers,
            "line_blocks_total": self.blocks,
            "line_targeted_reaches": self.targeted_reaches,
        }


def _delivered(day: date, counts: DeliveryCounts | str | None, klaviyo: int, tolerance: float, today: date) -> Comparison:
    if day >= today:
        return Comparison("delivered", FUTURE, None, klaviyo)
    if isinstance(counts, str) or counts is None:
        return Comparison("delivered", ERROR, None, klaviyo, note=counts)
    forced = _line_state(counts.status)
    if forced is None and counts.withheld:
        forced = WITHHELD
    if forced is not None:
        return Comparison("delivered", forced, None, klaviyo)
    total = counts.total
    assert total is not None
    return compare("delivered", total, klaviyo, tolerance)


def _change(measure: str, attr: str, day: date, followers: dict[date, FollowerCounts | str], klaviyo: int,
            tolerance: float, today: date) -> Comparison:
    """The day's change of a cumulative LINE figure against the day's Klaviyo events."""
    if day >= today:
        return Comparison(measure, FUTURE, None, klaviyo)
    now, before = followers.get(day), followers.get(day - timedelta(days=1))
    if isinstance(now, str) or now is None:
        return Comparison(measure, ERROR, None, klaviyo, note=now)
    forced = _line_state(now.status)
    if forced is None and getattr(now, attr) is None:
        forced = WITHHELD
    if forced is not None:
        return Comparison(measure, forced, None, klaviyo)
    if isinstance(before, str) or before is None or before.status == UNREADY:
        return Comparison(measure, NO_BASELINE, None, klaviyo,
                          note=f"LINE's {attr} for {day - timedelta(days=1)} is not available")
    prior = getattr(before, attr)
    if before.status == OUT_OF_SERVICE:
        prior = 0  # the account's first day: everything so far is the day's change
    if prior is None:
        return Comparison(measure, NO_BASELINE, None, klaviyo,
                          note=f"LINE withholds {attr} for {day - timedelta(days=1)} (privacy threshold)")
    return compare(measure, getattr(now, attr) - prior, klaviyo, tolerance)


# -- the Klaviyo side ------------------------------------------------------------

@dataclass(frozen=True)
class KlaviyoDays:
    counts: dict[str, dict[date, int]]  # measure -> JST day -> events
    missing_metrics: tuple[str, ...] = ()  # measures whose metric has no event at all yet


def klaviyo_day_counts(client: KlaviyoClient, options: ReconcileOptions) -> KlaviyoDays:
    """Events per JST day of the three metrics (one aggregates query each)."""
    from linesync_cli.core.aggregates import AggregateQuery, query_aggregates
    from linesync_cli.core.metrics import line_metric_status, list_metrics

    statuses = {st.action.key: st for st in line_metric_status(list_metrics(client, api_only=True))}
    zone = parse_zone(options.timezone)
    since = datetime(options.first.year, options.first.month, options.first.day, tzinfo=zone)
    last = options.last + timedelta(days=1)
    until = datetime(last.year, last.month, last.day, tzinfo=zone)
    counts: dict[str, dict[date, int]] = {}
    missing = []
    for measure in MEASURES:
        action = lookup(measure)
        assert action is not None
        metric = statuses[action.key].metric
        if metric is None:
            counts[measure] = {d: 0 for d in options.days}
            missing.append(measure)
            continue
        series = query_aggregates(client, AggregateQuery(metric.id, since, until, "day", ("count",), options.timezone))
        days = {d: 0 for d in options.days}
        for bucket in series.buckets:
            day = bucket.start.astimezone(JST).date()
            if day in days:
                days[day] += int(bucket.values.get("count", 0))
        counts[measure] = days
    return KlaviyoDays(counts, tuple(missing))


# -- the report ----------------------------------------------------------------------

@dataclass
class DayReport:
    options: ReconcileOptions
    rows: list[DayRow]
    missing_metrics: tuple[str, ...] = ()
    line_calls: int = 0

    @property
    def short_rows(self) -> list[DayRow]:
        return [r for r in self.rows if r.short]

    @property
    def first_short(self) -> DayRow | None:
        return next(iter(self.short_rows), None)

    @property
    def worst_short(self) -> DayRow | None:
        """The short day with the lowest delivered ratio (then the most missing)."""
        rows = self.short_rows
        if not rows:
            return None
        return min(rows, key=lambda r: (_worst_ratio(r), -sum(c.missing for c in r.comparisons)))

    @property
    def missing_delivered(self) -> int:
        return sum(r.delivered.missing for r in self.short_rows if r.delivered.state == SHORT)

    def count(self, state: str) -> int:
        return sum(1 for r in self.rows if r.delivered.state == state)

    @property
    def median_ratio(self) -> float | None:
        ratios = [r.delivered.ratio for r in self.rows if r.delivered.ratio is not None]
        return statistics.median(ratios) if ratios else None

    @property
    def within_below(self) -> list[DayRow]:
        """Days Klaviyo holds fewer than LINE but within the tolerance (doctor warns on them)."""
        return [r for r in self.rows if not r.short and any(c.state == WITHIN and c.missing for c in r.comparisons)]

    def summary(self) -> str:
        """One line: no short day, or how many, when (first and worst) and how many events are missing."""
        days = len(self.rows)
        compared = sum(1 for r in self.rows if r.delivered.compared)
        if not self.short_rows:
            return f"no short day: Klaviyo holds LINE's counts on all {compared} compared days of {days}" \
                + (f" (tolerance {_pct(self.options.tolerance)})" if compared else "")
        first, worst = self.first_short, self.worst_short
        assert first is not None and worst is not None
        n = len(self.short_rows)
        when = (f"first and worst {_day_text(first)}" if first is worst
                else f"first {_day_text(first)}, worst {_day_text(worst)}")
        return (f"Klaviyo is short on {n} of {days} days ({self.short_spans()}): {when}; "
                f"{self.missing_delivered:,} Delivered LINE Message events missing in all")

    def short_spans(self) -> str:
        """The short days as runs: `2026-11-24 to 2026-11-25, 2026-11-29`."""
        spans: list[list[date]] = []
        for row in self.short_rows:
            if spans and row.day - spans[-1][-1] == timedelta(days=1):
                spans[-1].append(row.day)
            else:
                spans.append([row.day])
        return ", ".join(f"{s[0]} to {s[-1]}" if len(s) > 1 else str(s[0]) for s in spans)

    def to_json(self) -> dict[str, Any]:
        o = self.options
        first, worst = self.first_short, self.worst_short
        return {
            "range": {"first_day": o.first.isoformat(), "last_day": o.last.isoformat(), "days": len(self.rows),
                      "day_basis": "JST (UTC+9) calendar days, as LINE counts", "timezone": o.timezone},
            "tolerance": o.tolerance,
            "summary": {
                "text": self.summary(),
                "short_days": [r.day.isoformat() for r in self.short_rows],
                "first_short_day": first.day.isoformat() if first else None,
                "worst_short_day": worst.day.isoformat() if worst else None,
                "missing_delivered": self.missing_delivered,
                "median_delivered_ratio": self.median_ratio,
                "states": {s: self.count(s) for s in STATE_TEXT},
            },
            "missing_metrics": [METRIC_OF[m] for m in self.missing_metrics],
            "line_calls": self.line_calls,
            "days": [r.to_json() for r in self.rows],
        }


def _worst_ratio(row: DayRow) -> float:
    ratios = [c.ratio for c in row.comparisons if c.state == SHORT and c.ratio is not None]
    return min(ratios, default=1.0)


def _pct(value: float) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _day_text(row: DayRow) -> str:
    short = [c for c in row.comparisons if c.state == SHORT]
    parts = [f"{c.klaviyo:,} of {c.line:,} {c.measure}" for c in short]
    return f"{row.day} ({', '.join(parts)})"


def build_day_rows(options: ReconcileOptions, deliveries: dict[date, DeliveryCounts | str],
                   followers: dict[date, FollowerCounts | str], klaviyo: KlaviyoDays) -> list[DayRow]:
    """The rows, from what LINE answered per day (a string is LINE's error for that day)."""
    rows = []
    for day in options.days:
        counts = deliveries.get(day)
        now = followers.get(day)
        kd = {m: klaviyo.counts[m].get(day, 0) for m in MEASURES}
        rows.append(DayRow(
            day=day,
            delivered=_delivered(day, counts, kd["delivered"], options.tolerance, options.today),
            followed=_change("followed", "followers", day, followers, kd["followed"], options.tolerance, options.today),
            blocked=_change("blocked", "blocks", day, followers, kd["blocked"], options.tolerance, options.today),
            by_type=dict(counts.by_type) if isinstance(counts, DeliveryCounts) else None,
            followers=now.followers if isinstance(now, FollowerCounts) else None,
            blocks=now.blocks if isinstance(now, FollowerCounts) else None,
            targeted_reaches=now.targeted_reaches if isinstance(now, FollowerCounts) else None,
        ))
    return rows


def reconcile_days(line: LineClient, klaviyo: KlaviyoClient, options: ReconcileOptions,
                   progress: Progress | None = None, cache: InsightCache | None = None) -> DayReport:
    """Ask LINE for every counted day (deliveries and followers), Klaviyo for the three series, compare.

    `cache` (core.insight_cache.InsightCache) answers the days LINE finished before and
    keeps the ones it finishes now. A day LINE answers with a 400/404 becomes that row's
    error; the rest goes on. Credentials refused (401/403) and unavailability stop the
    run (typed errors).
    """
    deliveries: dict[date, DeliveryCounts | str] = {}
    followers: dict[date, FollowerCounts | str] = {}
    counted = options.counted_days
    follower_days = ([counted[0] - timedelta(days=1)] + counted) if counted else []
    asks: list[tuple[str, date]] = []
    # Interleaved, so each endpoint's hourly budget is spent side by side.
    for i, day in enumerate(follower_days):
        asks.append(("followers", day))
        if i < len(counted):
            asks.append(("deliveries", counted[i]))
    calls = 0
    for done, (kind, day) in enumerate(asks, start=1):
        found: DeliveryCounts | FollowerCounts | str | None = cache.get(kind, day) if cache is not None else None
        if found is None:
            calls += 1
            found = _from_line(line, kind, day)
            if cache is not None and not isinstance(found, str):
                cache.put(kind, found)
        if kind == "followers":
            assert not isinstance(found, DeliveryCounts)
            followers[day] = found
        else:
            assert not isinstance(found, FollowerCounts)
            deliveries[day] = found
        if progress:
            progress("LINE Insight", done, len(asks))
    kd = klaviyo_day_counts(klaviyo, options)
    rows = build_day_rows(options, deliveries, followers, kd)
    return DayReport(options, rows, kd.missing_metrics, line_calls=calls)


def _from_line(line: LineClient, kind: str, day: date) -> DeliveryCounts | FollowerCounts | str:
    """LINE's figures for one day, or LINE's refusal of that day (400/404) as the row's note."""
    try:
        return line.get_followers(day) if kind == "followers" else line.get_message_deliveries(day)
    except (BadRequest, NotFound) as exc:
        return exc.message


# -- per send ------------------------------------------------------------------------

INTERACTIONS = ("delivered", "opened", "clicked")
INTERACTION_METRIC = {"delivered": "Delivered LINE Message", "opened": "Opened LINE Message",
                      "clicked": "Clicked LINE Message"}
DEFAULT_MATCH_PROPERTY = "Broadcast ID"
IMPRESSIONS_NOTE = (
    "LINE's impressions and the platform's Opened are different measurements: LINE counts an impression only "
    "in its iOS and Android apps, the platform counts an open through its tracked image or link; a difference "
    "between them is expected and is information, not a failure")


def check_unit(unit: str) -> None:
    if not re.fullmatch(UNIT_PATTERN, unit):
        raise UsageError(f"--unit {unit!r} is not a custom aggregation unit name",
                         hint="unit names are 1-30 letters, digits or underscores (case-sensitive), e.g. Promotion_a")


def check_unit_range(first: date, last: date) -> None:
    if first > last:
        raise UsageError(f"--since ({first}) is after the last day ({last})", hint="e.g. --since 30d")
    if (last - first).days > UNIT_MAX_SPAN_DAYS:
        raise UsageError(
            f"the range is {(last - first).days + 1} days; LINE serves a custom aggregation unit for at most "
            f"{UNIT_MAX_SPAN_DAYS + 1} days (to at most 30 days after from)",
            hint=f"e.g. --since {last - timedelta(days=UNIT_MAX_SPAN_DAYS)}",
        )


@dataclass
class SendRow:
    key: str  # the request ID or the unit name
    kind: str  # "request" | "unit"
    line: InteractionOverview | None = None
    klaviyo: dict[str, int] = field(default_factory=dict)  # unique profiles per interaction
    problem: str | None = None  # why LINE gave no figures for this row
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def delivered(self) -> Comparison | None:
        if self.line is None or self.line.delivered is None or self.problem:
            return None
        return compare("delivered", self.line.delivered, self.klaviyo.get("delivered", 0), self.tolerance)

    @property
    def short(self) -> bool:
        c = self.delivered
        return c is not None and c.state == SHORT

    @property
    def line_delivered_text(self) -> str:
        if self.problem:
            return ""
        if self.kind == "unit":
            return "not served for units"
        if self.line is not None and self.line.delivered is None:
            return "not final (sending, or withheld)"
        return ""

    def to_json(self) -> dict[str, Any]:
        line = self.line
        delivered = self.delivered
        return {
            "key": self.key,
            "kind": self.kind,
            "problem": self.problem,
            "sent_at": line.sent_at.isoformat() if line and line.sent_at else None,
            "line": None if line is None else {
                "delivered": line.delivered, "unique_impression": line.unique_impression,
                "unique_click": line.unique_click, "unique_media_played": line.unique_media_played},
            "klaviyo_unique": dict(self.klaviyo),
            "delivered": delivered.to_json() if delivered else None,
            "short": self.short,
        }


@dataclass
class SendReport:
    rows: list[SendRow]
    match_property: str
    window: tuple[datetime, datetime] | None
    source: str = "Get Events"  # where Klaviyo's figures were read: "event mirror" or "Get Events"
    source_note: str | None = None  # why the mirror was not used, when there is one

    @property
    def short_rows(self) -> list[SendRow]:
        return [r for r in self.rows if r.short]

    def to_json(self) -> dict[str, Any]:
        return {
            "match_property": self.match_property,
            "klaviyo_source": self.source,
            "klaviyo_source_note": self.source_note,
            "klaviyo_window": None if self.window is None else
            {"since": self.window[0].isoformat(), "until": self.window[1].isoformat()},
            "note": IMPRESSIONS_NOTE,
            "short": [r.key for r in self.short_rows],
            "sends": [r.to_json() for r in self.rows],
        }


def _unique_by_key(klaviyo: KlaviyoClient, keys: Iterable[str], match_property: str, since: datetime, until: datetime,
                   progress: Progress | None) -> dict[str, dict[str, int]]:
    """Unique profiles per key and interaction, from one read of each metric's events in the window."""
    from linesync_cli.core.metrics import line_metric_status, list_metrics

    wanted = set(keys)
    statuses = {st.action.metric_name: st for st in line_metric_status(list_metrics(klaviyo, api_only=True))}
    people: dict[str, dict[str, set[str]]] = {k: {i: set() for i in INTERACTIONS} for k in wanted}
    for n, interaction in enumerate(INTERACTIONS, start=1):
        metric = statuses[INTERACTION_METRIC[interaction]].metric
        if metric is not None:
            for event in klaviyo.metric_events_between(metric.id, since, until):
                value = event.properties.get(match_property)
                key = None if value is None else str(value)
                if key in wanted and event.profile_id:
                    people[key][interaction].add(event.profile_id)
        if progress:
            progress("Klaviyo events", n, len(INTERACTIONS))
    return {k: {i: len(v) for i, v in per.items()} for k, per in people.items()}


def covers(ranges: Iterable[Covered], since: datetime, until: datetime) -> bool:
    """Whether the mirror's read ranges of one metric cover [since, until) without a gap."""
    reached = since
    for r in sorted(ranges, key=lambda c: c.since):
        if r.since > reached:
            return False
        reached = max(reached, r.until)
        if reached >= until:
            return True
    return reached >= until


def _unique_from_mirror(mirror: Mirror, keys: Sequence[str], match_property: str, since: datetime,
                        until: datetime) -> dict[str, dict[str, int]] | str:
    """Unique profiles per key from the event mirror, or why it cannot answer (a range it has not read)."""
    coverage = mirror.coverage()
    for interaction in INTERACTIONS:
        if not covers([c for c in coverage if c.metric == interaction], since, until):
            return (f"the event mirror has not read {INTERACTION_METRIC[interaction]} for all of "
                    f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC")
    return {k: {i: mirror.unique_profiles(i, since, until, property_name=match_property, value=k)
                for i in INTERACTIONS} for k in keys}


def reconcile_sends(line: LineClient, klaviyo: KlaviyoClient, *, request_ids: Sequence[str] = (), unit: str | None = None,
                    unit_days: tuple[date, date] | None = None, match_property: str = DEFAULT_MATCH_PROPERTY,
                    tolerance: float = DEFAULT_TOLERANCE, now: datetime | None = None,
                    progress: Progress | None = None, mirror: Mirror | None = None) -> SendReport:
    """LINE's figures per request ID (or one unit) beside Klaviyo's unique profiles for the same send.

    Klaviyo's side comes from the event mirror (`linesync events pull`) when it has read
    the whole window for Delivered, Opened and Clicked; otherwise from Get Events.
    """
    now = now or datetime.now(UTC)
    rows: list[SendRow] = []
    for request_id in request_ids:
        row = SendRow(request_id, "request", tolerance=tolerance)
        try:
            row.line = line.get_message_event(request_id)
        except (BadRequest, NotFound) as exc:
            row.problem = f"LINE does not know this request ID ({exc.message})"
        else:
            if not row.line.known:
                row.problem = ("LINE has no figures for this request ID (unknown, not a broadcast or narrowcast, "
                               "or withheld under the privacy threshold)")
        rows.append(row)
    windows = []
    for row in rows:
        if row.line is not None and row.line.sent_at is not None and not row.problem:
            windows.append((row.line.sent_at - timedelta(hours=1),
                            row.line.sent_at + timedelta(days=EVENT_WINDOW_DAYS + 1)))
    if unit is not None:
        assert unit_days is not None
        first, last = unit_days
        row = SendRow(unit, "unit", tolerance=tolerance)
        try:
            row.line = line.get_statistics_per_unit(unit, first, last)
        except (BadRequest, NotFound) as exc:
            row.problem = f"LINE has no statistics for this unit ({exc.message})"
        else:
            if not row.line.known:
                row.problem = "LINE has no figures for this unit in the range (unknown unit, or under 20 users)"
        rows.append(row)
        start = datetime(first.year, first.month, first.day, tzinfo=JST)
        end_day = last + timedelta(days=1 + EVENT_WINDOW_DAYS)
        windows.append((start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=JST)))
    window = None
    source, note = "Get Events", None
    if windows:
        window = (min(w[0] for w in windows), min(max(w[1] for w in windows), now))
        if window[0] < window[1]:
            keys = [r.key for r in rows if not r.problem]
            found: dict[str, dict[str, int]] | str = "no event mirror yet (`linesync events pull` makes one)"
            if mirror is not None:
                found = _unique_from_mirror(mirror, keys, match_property, window[0], window[1])
            if isinstance(found, str):
                note = found if mirror is not None else None
                found = _unique_by_key(klaviyo, keys, match_property, window[0], window[1], progress)
            else:
                source = "event mirror"
            for row in rows:
                row.klaviyo = found.get(row.key, {i: 0 for i in INTERACTIONS}) if not row.problem else {}
    return SendReport(rows, match_property, window, source, note)
