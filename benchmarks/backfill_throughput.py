"""Backfill throughput against the stand-in Klaviyo at Klaviyo's rate limits, scaled down in time.

Klaviyo allows bulk create 10 requests/s (burst) and 150/min (steady): at 1,000
events a request the ceiling is 2,500 events/s. To keep the run short the stand-in's
windows are scaled 4x (default): 10 per 0.25 s and 150 per 15 s, so the ceiling is
10 requests/s = 10,000 events/s; the stand-in announces them in `RateLimit-Limit`
and answers 429 (no Retry-After) beyond them, like Klaviyo. The backfill runs as a
separate process:

    linesync backfill actions.csv --link-map map.csv --json

and the figures are events/s as a fraction of the ceiling and the share of
requests answered 429, plus how many requests were accepted in each of the
stand-in's fixed steady windows. The overall figure of a short run is blurred at
both ends: the first window is open in full at the start (a bonus), and the end of
the input can spill a few requests into one more window (a loss); the inner windows
show whether the whole budget is used. Request validation and body recording are off in the
stand-in here (they cost more CPU than the client on a 2-core machine).

    python benchmarks/backfill_throughput.py [--windows 3] [--scale 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backfill_data import line_id, write_actions_csv, write_link_map  # noqa: E402
from tests.support.standins import KlaviyoStandIn  # noqa: E402

KEY = "pk_bench_0000000000000000"
USERS = 5_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=3, help="steady windows the run should last")
    parser.add_argument("--scale", type=float, default=4.0, help="how much faster than Klaviyo's windows")
    args = parser.parse_args()
    burst_s, steady_s = 1.0 / args.scale, 60.0 / args.scale
    ceiling_rps = 150 / steady_s
    requests = int(150 * args.windows)
    events = requests * 1000
    standin = KlaviyoStandIn(api_key=KEY, validate=False, record_bodies=False).start()
    accepted_at: list[float] = []  # when each bulk request was accepted (202)
    answer = standin.answer

    def timed_answer(req, record):
        reply = answer(req, record)
        if record.op == "bulk_create_events" and reply.status == 202:
            accepted_at.append(time.monotonic())
        return reply

    standin.answer = timed_answer  # type: ignore[method-assign]
    try:
        standin.set_rate_limit("bulk_create_events", burst=(10, burst_s), steady=(150, steady_s))
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            mapping = {line_id(u): standin.add_profile() for u in range(USERS)}
            link_map = write_link_map(work / "map.csv", mapping)
            actions = write_actions_csv(work / "actions.csv", events, USERS)
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
            env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                        "LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
            (work / "none.toml").write_text("")
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "linesync_cli", "backfill", str(actions), "--link-map",
                                   str(link_map), "--json"], env=env, capture_output=True, check=False)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(proc.stderr.decode())
            summary = json.loads(proc.stdout)
    finally:
        standin.stop()
    bulk = [r for r in standin.requests if r.op == "bulk_create_events"]
    throttled = sum(1 for r in bulk if r.status == 429)
    sent = summary["counts"]["sent"]
    rate = sent / elapsed
    # Requests accepted in each of the stand-in's fixed steady windows: the inner ones
    # (neither the first, open in full at the start, nor the last, cut off by the end
    # of the input) show whether the budget is used whole.
    epoch = standin.rate_limits["bulk_create_events"].epoch
    per_window = Counter(int((t - epoch) // steady_s) for t in accepted_at)
    windows = [per_window.get(i, 0) for i in range(min(per_window), max(per_window) + 1)]
    inner = windows[1:-1]
    print(json.dumps({
        "windows": f"10 per {burst_s:g}s, 150 per {steady_s:g}s (Klaviyo's, {args.scale:g}x faster)",
        "events": sent, "events_recorded": len(standin.events), "requests": len(bulk), "answered_429": throttled,
        "share_429": round(throttled / len(bulk), 4), "seconds": round(elapsed, 2),
        "events_per_second": round(rate), "ceiling_events_per_second": round(ceiling_rps * 1000),
        "fraction_of_ceiling": round(rate / (ceiling_rps * 1000), 3),
        "accepted_per_steady_window": windows,
        "inner_windows_budget_used": round(sum(inner) / (150 * len(inner)), 3) if inner else None,
        "same_at_klaviyo_speed_events_per_second": round(rate / args.scale),
    }, indent=2))


if __name__ == "__main__":
    main()
