"""`report revenue`: the orders and revenue of people after a click on a LINE message.

Not attribution: Klaviyo's own attribution credits none of this revenue to LINE (it is
built for its email and SMS), and this report does not credit it either. It puts three
groups of orders side by side, from the event mirror:

- clicked:  the person clicked a LINE message at or before the order, no more than the
            window before it (exactly the window counts);
- received: not that, but a LINE message was sent or delivered to them in the same window;
- other:    every other order of the order metric in the range.

Each order is classified once (two clicks before one order are one order), with two ASOF
joins: the latest click and the latest send at or before each order. `--by broadcast`
splits the clicked group by the Broadcast ID of that last click. Revenue is summed per
currency only: currencies are never added together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from linesync_cli.core.events.mirror import Mirror
from linesync_cli.errors import UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo_records import Metric

MEASURE = "revenue after a LINE click"
NOTICE = ("revenue after a LINE click: orders placed within the window after a click on a LINE message, "
          "beside those of people who only received one and of everyone else. This is not attribution: "
          "Klaviyo itself attributes none of this revenue to LINE.")
GROUPS = ("clicked", "received", "other")
GROUP_TEXT = {"clicked": "clicked on LINE", "received": "received, no click", "other": "everyone else"}
NONE_BROADCAST = "(none)"
UNKNOWN_CURRENCY = "(unknown)"
# Where an order's value and currency are read from its event properties, first found wins.
# `$value` / `$value_currency` are what Klaviyo stores for an event's `value` and `value_currency`
# (Create Event); Shopify's Placed Order carries `$value` and `$currency_code`; other
# integrations and hand-made events use the plain names.
VALUE_PROPERTY = "$value"
CURRENCY_PROPERTIES = ("$value_currency", "$currency_code", "currency_code", "currency", "Currency")
PERIODS = ("range", "week")


def _path(name: str) -> str:
    return "$." + json.dumps(name)


@dataclass(frozen=True)
class RevenueOptions:
    since: datetime
    until: datetime
    window: timedelta
    order_metric_id: str
    by_broadcast: bool = False
    per: str = "range"

    def __post_init__(self) -> None:
        check_window(self.window, self.since, self.until)
        if self.per not in PERIODS:
            raise UsageError(f"--per {self.per!r} is not one of {', '.join(PERIODS)}", hint="e.g. --per week")

    @property
    def reads_from(self) -> datetime:
        """Clicks and sends are read this far back: an order at --since looks back one window."""
        return self.since - self.window


def check_window(window: timedelta, since: datetime, until: datetime) -> None:
    if window <= timedelta(0):
        raise UsageError("--window must be longer than zero", hint="e.g. --window 5d or --window 12h")
    if window > until - since:
        raise UsageError(f"--window {duration_text(window)} is longer than the range ({duration_text(until - since)} from --since to "
                         "--until)", hint="shorten --window or start --since earlier, e.g. --since 30d --window 5d")


def duration_text(delta: timedelta) -> str:
    """5d, 12h, 90m; a span that is not whole units to a tenth of its largest unit (30.5d)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds:
            return f"{seconds // size}{unit}"
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


RESERVED_KEYS = {"sent", "delivered", "failed", "opened", "clicked", "followed", "blocked", "joined", "left",
                 "email_received", "email_opened", "email_clicked"}


def order_key(metric: Metric) -> str:
    """The order metric's key in the mirror's `metric` column (reports select it by metric id)."""
    key = re.sub(r"[^a-z0-9]+", "_", metric.name.casefold()).strip("_") or "order"
    return f"order_{key}" if key in RESERVED_KEYS else key


@dataclass
class RevenueRow:
    period: str  # "range" or an ISO week, 2026-W48
    period_since: datetime
    period_until: datetime
    group: str
    broadcast_id: str | None  # with --by broadcast, clicked rows only; None: clicks without the ID
    currency: str | None  # None: orders without a currency property
    orders: int
    orders_without_value: int
    revenue: Decimal | None  # None: no order of the row had a value
    people: int

    @property
    def orders_with_value(self) -> int:
        return self.orders - self.orders_without_value

    @property
    def average_order_value(self) -> Decimal | None:
        n = self.orders_with_value
        return self.revenue / n if self.revenue is not None and n else None

    def to_json(self) -> dict[str, Any]:
        aov = self.average_order_value
        return {"period": self.period, "period_since": self.period_since.isoformat(),
                "period_until": self.period_until.isoformat(), "group": self.group,
                "broadcast_id": self.broadcast_id, "currency": self.currency, "orders": self.orders, "orders_with_value": self.orders_with_value,
                "orders_without_value": self.orders_without_value, "revenue": json_number(self.revenue),
                "average_order_value": json_number(aov), "people": self.people}


@dataclass
class GroupTotal:
    """A group's orders and people in a period over every currency (revenue is per currency only)."""

    period: str
    group: str
    orders: int
    orders_without_value: int
    people: int

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "group": self.group, "orders": self.orders,
                "orders_without_value": self.orders_without_value, "people": self.people}


def json_number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    rounded = round(value, 6)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


@dataclass
class RevenueReport:
    options: RevenueOptions
    order_metric: Metric
    rows: list[RevenueRow]
    totals: list[GroupTotal]
    currencies: list[str | None] = field(default_factory=list)

    @property
    def orders(self) -> int:
        return sum(t.orders for t in self.totals)

    @property
    def orders_without_value(self) -> int:
        return sum(t.orders_without_value for t in self.totals)

    def to_json(self) -> dict[str, Any]:
        o = self.options
        return {
            "measure": MEASURE, "notice": NOTICE,
            "order_metric": {"id": self.order_metric.id, "name": self.order_metric.name,
                             "integration": self.order_metric.integration_name},
            "since": o.since.isoformat(), "until": o.until.isoformat(),
            "window_seconds": int(o.window.total_seconds()), "per": o.per,
            "by": "broadcast" if o.by_broadcast else None,
            "value_property": VALUE_PROPERTY, "currency_properties": list(CURRENCY_PROPERTIES),
            "orders": self.orders, "orders_without_value": self.orders_without_value,
            "currencies": self.currencies,
            "rows": [r.to_json() for r in self.rows],
            "totals": [t.to_json() for t in self.totals],
        }


def _currency_sql() -> tuple[str, dict[str, str]]:
    """The first currency property found, upper-cased ("jpy" and "JPY" are one currency)."""
    names = {f"currency_{i}": _path(p) for i, p in enumerate(CURRENCY_PROPERTIES)}
    parts = ", ".join(f"nullif(upper(trim(json_extract_string(properties, ${n}))), '')" for n in names)
    return f"coalesce({parts})", names


def revenue_report(mirror: Mirror, opts: RevenueOptions, order_metric: Metric) -> RevenueReport:
    """Orders of `order_metric` in [since, until) classified by the LINE events before them, in SQL."""
    currency_sql, currency_params = _currency_sql()
    if opts.per == "week":
        # ISO weeks (Monday 00:00 UTC), clipped to the range.
        period = "strftime(o.time, '%G-W%V')"
        period_start = "greatest(date_trunc('week', o.time), $since)"
        period_end = "least(date_trunc('week', o.time) + INTERVAL 7 DAY, $until)"
    else:
        period, period_start, period_end = "'range'", "$since", "$until"
    broadcast = "CASE WHEN grp = 'clicked' THEN c_broadcast END" if opts.by_broadcast else "NULL"
    sql = f"""
    WITH orders AS (
        SELECT profile_key, time,
               TRY_CAST(json_extract_string(properties, $value_path) AS DECIMAL(38, 6)) AS value,
               {currency_sql} AS currency
        FROM events WHERE metric_id = $order_metric AND time >= $since AND time < $until
    ), clicks AS (
        SELECT profile_key, time, broadcast_id FROM events
        WHERE metric = 'clicked' AND time >= $reads_from AND time < $until AND profile_key IS NOT NULL
    ), sends AS (
        SELECT profile_key, time FROM events
        WHERE metric IN ('sent', 'delivered') AND time >= $reads_from AND time < $until AND profile_key IS NOT NULL
    ), classified AS (
        SELECT o.profile_key, o.value, o.currency, o.time,
               CASE WHEN c.time >= o.time - $window THEN 'clicked'
                    WHEN s.time >= o.time - $window THEN 'received'
                    ELSE 'other' END AS grp,
               c.broadcast_id AS c_broadcast,
               {period} AS period, {period_start} AS period_since, {period_end} AS period_until
        FROM orders o
        ASOF LEFT JOIN clicks c ON o.profile_key = c.profile_key AND o.time >= c.time
        ASOF LEFT JOIN sends s ON o.profile_key = s.profile_key AND o.time >= s.time
    )
    SELECT period, min(period_since), max(period_until), grp, {broadcast} AS bcast, currency,
           count(*), count(*) - count(value), sum(value), count(DISTINCT profile_key),
           GROUPING(bcast, currency) AS total_row
    FROM classified
    GROUP BY GROUPING SETS ((period, grp, bcast, currency), (period, grp))
    """
    params: dict[str, Any] = dict(currency_params)
    params |= {"value_path": _path(VALUE_PROPERTY), "order_metric": opts.order_metric_id, "since": opts.since,
               "until": opts.until, "reads_from": opts.reads_from, "window": opts.window}
    result = mirror.db.execute(sql, params).fetchall()
    rows: list[RevenueRow] = []
    totals: list[GroupTotal] = []
    for period_name, lo, hi, grp, bcast, currency, orders, no_value, revenue, people, total_row in result:
        if total_row:
            totals.append(GroupTotal(period_name, grp, int(orders), int(no_value), int(people)))
        else:
            rows.append(RevenueRow(period_name, lo, hi, grp, bcast, currency, int(orders), int(no_value),
                                   revenue, int(people)))
    order = {g: i for i, g in enumerate(GROUPS)}
    # Clicks without a Broadcast ID (flows) and orders without a currency come last in their group.
    rows.sort(key=lambda r: (r.period_since, order[r.group], r.broadcast_id is None, r.broadcast_id or "",
                             r.currency is None, r.currency or ""))
    totals.sort(key=lambda t: (t.period, order[t.group]))
    currencies = sorted({r.currency for r in rows}, key=lambda c: (c is None, c or ""))
    return RevenueReport(opts, order_metric, rows, totals, currencies)
