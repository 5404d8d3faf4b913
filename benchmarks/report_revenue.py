"""`report revenue` over a large mirror: time and peak memory of the report's query.

Builds a mirror straight in DuckDB (SQL, no HTTP): N LINE events (default 9,000,000:
Sent, Delivered, Opened, Clicked over 35 days, 2,000 broadcasts, 500,000 people) and
M orders (default 1,000,000 "Placed Order" events over the last 30 days, `$value` and
`$currency_code` in their properties JSON as Shopify sends them; 2 % USD, 0.5 % without
a value). Then, each in a fresh process that opens the mirror read-only as the command
does, times (best of 3) and reads the peak resident memory (VmHWM of that child):

- the reference: `report broadcasts` (one GROUP BY over the same mirror, same range),
  so the revenue figures can be read as a ratio on a shared machine;
- `report revenue` for the range, and with `--by broadcast --per week`.

    python benchmarks/report_revenue.py [--events 9000000] [--orders 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linesync_cli.core.events.mirror import Mirror  # noqa: E402

PEOPLE = 500_000
ORDER_METRIC = "PlacedOrd"

CHILD = r"""
import json, sys, time
from datetime import datetime, timedelta
sys.path.insert(0, {root!r})
from linesync_cli.api.klaviyo_records import Metric
from linesync_cli.core.events.broadcasts import broadcast_report
from linesync_cli.core.events.mirror import Mirror
from linesync_cli.core.events.revenue import RevenueOptions, revenue_report

path, kind, since, until = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
metric = Metric({metric!r}, "Placed Order", "Shopify", "Shopify", None, None)
best, rows = float("inf"), 0
with Mirror(__import__("pathlib").Path(path), read_only=True) as mirror:
    for _ in range(3):
        t = time.perf_counter()
        if kind == "broadcasts":
            rows = len(broadcast_report(mirror, since, until).rows)
        else:
            opts = RevenueOptions(since, until, timedelta(days=5), metric.id, by_broadcast=kind == "by-week",
                                  per="week" if kind == "by-week" else "range")
            report = revenue_report(mirror, opts, metric)
            rows, orders = len(report.rows), report.orders
        best = min(best, time.perf_counter() - t)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (which built the mirror).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": best, "rows": rows, "peak_rss_mb": hwm / 1024}}))
"""


def build(mirror: Mirror, events: int, orders: int, end: datetime) -> None:
    span = 35 * 86400  # clicks and sends from one window (5d) before the 30 days of orders
    mirror.db.execute(f"INSERT INTO profiles SELECT 'P' || k, k + 1 FROM range({PEOPLE}) r(k)")
    # Sent 40 %, Delivered 38 %, Opened 14 %, Clicked 8 %.
    mirror.db.execute(f"""
        INSERT INTO events
        SELECT 'e' || i, 'M' || m, ['sent','delivered','opened','clicked'][m + 1],
               'P' || (hash(i) % {PEOPLE}), (hash(i) % {PEOPLE}) + 1,
               TIMESTAMPTZ '{end.isoformat()}' - to_seconds((i * {span}) // {events}),
               'u' || i, 'm-' || (i % 20000), CASE WHEN i % 50 = 0 THEN NULL ELSE 'b-' || (i % 2000) END,
               NULL, NULL, '{{"Channel":"LINE"}}', NULL
        FROM (SELECT i, CASE WHEN i % 50 < 20 THEN 0 WHEN i % 50 < 39 THEN 1 WHEN i % 50 < 46 THEN 2
                             ELSE 3 END AS m FROM range({events}) r(i))""")
    mirror.db.execute(f"""
        INSERT INTO events
        SELECT 'o' || i, '{ORDER_METRIC}', 'placed_order', 'P' || (hash(i + 7) % {PEOPLE}),
               (hash(i + 7) % {PEOPLE}) + 1,
               TIMESTAMPTZ '{end.isoformat()}' - to_seconds((i * 2592000) // {orders}),
               'ou' || i, NULL, NULL, NULL, NULL,
               CASE WHEN i % 200 = 0 THEN '{{"$currency_code":"JPY","Item Count":1}}'
                    WHEN i % 50 = 1 THEN '{{"$value":' || (i % 9000) / 100.0 || ',"$currency_code":"USD"}}'
                    ELSE '{{"$value":' || (1000 + (i % 90) * 100) || ',"$currency_code":"JPY","Item Count":2}}' END,
               NULL
        FROM range({orders}) r(i)""")


def child(path: Path, kind: str, since: datetime, until: datetime) -> dict:
    code = CHILD.format(root=str(ROOT), metric=ORDER_METRIC)
    out = subprocess.run([sys.executable, "-c", code, str(path), kind, since.isoformat(), until.isoformat()],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=9_000_000, help="LINE events")
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    end = datetime.now(UTC).replace(microsecond=0)
    since = end - timedelta(days=30)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.duckdb"
        mirror = Mirror(path)
        t = time.perf_counter()
        build(mirror, args.events, args.orders, end)
        mirror.db.execute("CHECKPOINT")
        mirror.close()
        built = time.perf_counter() - t
        load = os.getloadavg()[0]
        reference = child(path, "broadcasts", since, end)
        revenue = child(path, "range", since, end)
        by_week = child(path, "by-week", since, end)
        load_after = os.getloadavg()[0]
        size_mb = path.stat().st_size / 1e6
    print(json.dumps({
        "line_events": args.events, "orders": args.orders, "mirror_events": args.events + args.orders,
        "build_seconds": round(built, 1), "mirror_mb": round(size_mb),
        "report_broadcasts_seconds": round(reference["seconds"], 2),
        "report_broadcasts_peak_rss_mb": round(reference["peak_rss_mb"]), "report_broadcasts_rows": reference["rows"],
        "revenue_seconds": round(revenue["seconds"], 2), "revenue_rows": revenue["rows"],
        "revenue_peak_rss_mb": round(revenue["peak_rss_mb"]),
        "revenue_by_broadcast_per_week_seconds": round(by_week["seconds"], 2),
        "revenue_by_broadcast_per_week_rows": by_week["rows"],
        "revenue_by_broadcast_per_week_peak_rss_mb": round(by_week["peak_rss_mb"]),
        "revenue_over_broadcasts": round(revenue["seconds"] / reference["seconds"], 2),
        "by_week_over_broadcasts": round(by_week["seconds"] / reference["seconds"], 2),
        "load_average": [round(load, 1), round(load_after, 1)],
    }, indent=2))


if __name__ == "__main__":
    main()
