"""A 90-day `linesync reconcile`: API calls and time against both APIs' limits.

LINE allows its Insight endpoints 60 requests an hour per endpoint (method + path) per
channel (line-api.md section 7); a day needs one `message/delivery` and one
`followers` request, and the followers' change needs the day before too. Klaviyo's
side is one `GET /api/metrics` listing and one metric-aggregates query (3/s, 60/min) per
metric. So a 90-day range is 90 + 91 LINE requests and 1 + 3 Klaviyo ones, and LINE's
hourly budget, not the network, sets its length.

The benchmark runs the reconcile core against the stand-ins (`linesync_cli/sandbox/`),
seeded with 90 days of figures and a two-day Klaviyo outage, with the clients' pacing on
a virtual clock: a wait for LINE's hour is added to the clock instead of slept, so the
run takes seconds and reports the time a real run would take under the limits. The
"floor" is the least time any client could take for that many requests at 60 an hour
(the requests after the first 60 of an endpoint wait for the hour to roll).

Then the same range again: LINE's finished days come from the state directory.

Also measured: `--request-id` for 10 broadcasts, whose Klaviyo side is Get Events
(200 a page, 350/s and 3,500/min) over the 14-day interaction window.

    python benchmarks/reconcile_90d.py [--days 90] [--per-day 200]

Prints one JSON line; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from linesync_cli.api.klaviyo import KlaviyoClient  # noqa: E402
from linesync_cli.api.line import INSIGHT_PER_HOUR, LineClient  # noqa: E402
from linesync_cli.core.insight_cache import InsightCache  # noqa: E402
from linesync_cli.core.reconcile import ReconcileOptions, reconcile_days, reconcile_sends  # noqa: E402
from linesync_cli.sandbox.line_insight import JST, jst_today  # noqa: E402
from tests.support.standins import KlaviyoStandIn, LineStandIn  # noqa: E402

KEY = "pk_bench_reconcile_000000000"
TOKEN = "line-bench-token-0000000000"


class VirtualClock:
    """Real elapsed time plus every long wait the clients asked for (added, not slept).

    Waits of up to a minute are slept: the Klaviyo stand-in counts its windows on the
    real clock, and a client that skipped its wait after a 429 would retry into the same
    window until it gave up (the second run, seconds after the first, did).
    """

    SLEPT_UP_TO = 60.0

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.waited = 0.0

    def __call__(self) -> float:
        return time.monotonic() - self.started + self.waited

    def sleep(self, seconds: float) -> None:
        if seconds <= self.SLEPT_UP_TO:
            time.sleep(max(0.0, seconds))
        else:
            self.waited += seconds


def floor_seconds(requests: int, per_hour: int) -> float:
    """The least time for `requests` to one endpoint at `per_hour` a sliding hour."""
    return max(0, math.ceil(requests / per_hour) - 1) * 3600.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=200, help="LINE deliveries per day (Klaviyo events too)")
    args = parser.parse_args()

    today = jst_today()
    first = today - timedelta(days=args.days)
    delivered = [args.per_day + (i % 7) * 10 for i in range(args.days)]
    stored = list(delivered)
    gap = args.days * 4 // 9  # a two-day outage, a little before the middle
    stored[gap], stored[gap + 1] = 0, delivered[gap + 1] // 3

    klaviyo_standin = KlaviyoStandIn(api_key=KEY).start()
    line_standin = LineStandIn(token=TOKEN).start()
    try:
        line_standin.seed_insight(first, delivered, [25] * args.days, [21] * args.days)
        mid = klaviyo_standin.add_metric("Delivered LINE Message")
        profile = klaviyo_standin.add_profile(email="bench@example.com")
        for i, n in enumerate(stored):
            day = first + timedelta(days=i)
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=JST)
            for j in range(n):
                klaviyo_standin.add_event(mid, profile, noon + timedelta(seconds=j), unique_id=f"d-{i}-{j}")
        for name, per_day in (("Followed LINE Account", 25), ("Blocked LINE Account", 21)):
            metric = klaviyo_standin.add_metric(name)
            for i in range(args.days):
                day = first + timedelta(days=i)
                noon = datetime(day.year, day.month, day.day, 13, tzinfo=JST)
                for j in range(per_day):
                    klaviyo_standin.add_event(metric, profile, noon + timedelta(seconds=j), unique_id=f"{name}-{i}-{j}")

        clock = VirtualClock()
        line = LineClient(SecretStr(TOKEN), line_standin.base_url, clock=clock, sleep=clock.sleep)
        klaviyo = KlaviyoClient(SecretStr(KEY), klaviyo_standin.base_url, clock=clock, sleep=clock.sleep)
        options = ReconcileOptions(first=first, last=today - timedelta(days=1), today=today)
        cache = InsightCache(Path(tempfile.mkdtemp(prefix="linesync-bench-")), "bench-channel")
        started = time.monotonic()
        report = reconcile_days(line, klaviyo, options, cache=cache)
        real = time.monotonic() - started
        line_calls = dict(line_standin.served)
        klaviyo_calls = dict(klaviyo_standin.served)
        busiest = max(line_calls.values())
        days_result = {
            "days": args.days,
            "line_requests": line_calls,
            "klaviyo_requests": klaviyo_calls,
            "line_429": sum(1 for r in line_standin.requests if r.status == 429),
            "klaviyo_429": sum(1 for r in klaviyo_standin.requests if r.status == 429),
            "time_under_limits_s": round(clock(), 1),
            "floor_s": floor_seconds(busiest, INSIGHT_PER_HOUR),
            "processing_s": round(real, 2),
            "short_days": [r.day.isoformat() for r in report.short_rows],
        }
        # The next run: LINE's finished days come from the state directory.
        rerun_clock = VirtualClock()
        line_rerun = LineClient(SecretStr(TOKEN), line_standin.base_url, clock=rerun_clock, sleep=rerun_clock.sleep)
        klaviyo_rerun = KlaviyoClient(SecretStr(KEY), klaviyo_standin.base_url, clock=rerun_clock,
                                      sleep=rerun_clock.sleep)
        rerun = reconcile_days(line_rerun, klaviyo_rerun, options, cache=cache)
        days_result["rerun_line_requests"] = rerun.line_calls
        days_result["rerun_time_under_limits_s"] = round(rerun_clock(), 1)
        cache.close()

        # --request-id for 10 broadcasts: the Klaviyo side reads each metric's events once.
        sent = datetime.now(JST).replace(microsecond=0) - timedelta(days=20)
        ids = [f"bench-{n:02d}-0000-0000-0000-000000000000" for n in range(10)]
        metrics = {name: (klaviyo_standin.metric_by_name(name) or {}).get("id")
                   or klaviyo_standin.add_metric(name)
                   for name in ("Delivered LINE Message", "Opened LINE Message", "Clicked LINE Message")}
        for n, request_id in enumerate(ids):
            line_standin.insight.add_message_event(request_id, sent + timedelta(hours=n), 500, 300, 100)
            for name, count in (("Delivered LINE Message", 500), ("Opened LINE Message", 200),
                                ("Clicked LINE Message", 100)):
                for j in range(count):
                    klaviyo_standin.add_event(metrics[name], profile, sent + timedelta(hours=n, seconds=j + 1),
                                              {"Broadcast ID": request_id}, unique_id=f"{request_id}-{name}-{j}")
        before = dict(klaviyo_standin.served)
        send_clock = VirtualClock()
        line2 = LineClient(SecretStr(TOKEN), line_standin.base_url, clock=send_clock, sleep=send_clock.sleep)
        klaviyo2 = KlaviyoClient(SecretStr(KEY), klaviyo_standin.base_url, clock=send_clock, sleep=send_clock.sleep)
        started = time.monotonic()
        sends = reconcile_sends(line2, klaviyo2, request_ids=ids)
        real = time.monotonic() - started
        after = dict(klaviyo_standin.served)
        sends_result = {
            "request_ids": len(ids),
            "events_in_window": sum(1 for e in klaviyo_standin.events if e["datetime"] >= sends.window[0]),
            "get_events_requests": after.get("get_events", 0) - before.get("get_events", 0),
            "line_requests": len(ids),
            "time_under_limits_s": round(send_clock(), 2),
            "processing_s": round(real, 2),
        }
    finally:
        klaviyo_standin.stop()
        line_standin.stop()
    print(json.dumps({"benchmark": "reconcile", "day_range": days_result, "per_send": sends_result}))


if __name__ == "__main__":
    main()
