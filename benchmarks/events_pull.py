"""`linesync events pull` against the stand-in Klaviyo: time against Get Events' ceiling, peak memory.

Klaviyo allows Get Events 350 requests/s (burst) and 3,500/min (steady): at 1,000
events a page the steady ceiling is 58,333 events/s (11,667 at 200 a page). The
stand-in (`linesync_cli/sandbox/klaviyo.py`) serves N generated events over 30 days
for the nine metrics, with Get Events' windows optionally scaled down in time
(`--scale 0.5`: 3,500 per 120 s) so that its own speed is not what is measured, and
answers 429 (no Retry-After) beyond them. The pull runs as a separate process:

    linesync events pull --since 31d --json

The figures: events/s as a fraction of the ceiling at those windows, requests, 429s,
and the pull's peak resident memory (ru_maxrss of the children). Where the stand-in on this
machine cannot serve the ceiling, the reference measured in the same run says what it
can: the same client and readers fetching every page and storing nothing. Request validation and
recording are off in the stand-in (they cost more CPU than the client on 2 cores).

    python benchmarks/events_pull.py [--events 1000000] [--page 1000] [--scale 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linesync_cli.catalogue import ACTIONS  # noqa: E402
from tests.support.standins import KlaviyoStandIn  # noqa: E402

KEY = "pk_bench_0000000000000000"
# Share of each metric in the generated events (a broadcast-heavy account).
MIX = {"sent": 0.35, "delivered": 0.33, "opened": 0.15, "clicked": 0.07, "failed": 0.02, "followed": 0.03,
       "blocked": 0.02, "qr_scanned": 0.02, "linked": 0.01}


def seed(standin: KlaviyoStandIn, n: int, profiles: int, end: datetime) -> None:
    metric_ids = {a.key: standin.add_metric(a.metric_name) for a in ACTIONS}
    pids = [standin.add_profile() for _ in range(profiles)]
    span = 30 * 86400
    i = 0
    for key, share in MIX.items():
        count = round(n * share) if key != "linked" else n - i
        mid = metric_ids[key]
        for j in range(count):
            when = end - timedelta(seconds=span - (j * span) // max(1, count))
            standin.add_event(mid, pids[(i + j) % profiles], when,
                              {"LINE User ID": "U" + f"{(i + j) % profiles:032x}", "Channel": "LINE",
                               "Broadcast ID": f"b-{j // 5000}", "Message ID": f"m-{j // 500}"},
                              unique_id=f"u-{key}-{j}")
        i += count


def reference(base_url: str, readers: int, since: str, until: str) -> None:
    """Child process: fetch every page of every metric with `readers` threads and store nothing,
    through the same client; prints events/s. What this machine and stand-in can serve."""
    from concurrent.futures import ThreadPoolExecutor

    from pydantic import SecretStr

    from linesync_cli.api.klaviyo import KlaviyoClient

    client = KlaviyoClient(SecretStr(KEY), base_url)
    metric_ids = [m["id"] for m in client.get_metrics()]
    lo, hi = datetime.fromisoformat(since), datetime.fromisoformat(until)
    step = (hi - lo) / readers
    jobs = [(m, lo + i * step, lo + (i + 1) * step) for m in metric_ids for i in range(readers)]

    def fetch(job) -> int:
        metric_id, a, b = job
        n, cursor = 0, None
        while True:
            page = client.get_events_page(metric_id, a, b, cursor=cursor)
            n += len(page.events)
            if page.next_cursor is None:
                return n
            cursor = page.next_cursor

    started = time.perf_counter()
    with ThreadPoolExecutor(readers) as pool:
        total = sum(pool.map(fetch, jobs))
    print(json.dumps({"events": total, "seconds": time.perf_counter() - started}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--reference":
        reference(*sys.argv[2:3], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=1000, help="largest page[size] the stand-in accepts")
    parser.add_argument("--scale", type=float, default=1.0, help="Get Events' windows sped up (>1) or slowed (<1)")
    parser.add_argument("--readers", type=int, default=8)
    args = parser.parse_args()
    burst_s, steady_s = 1.0 / args.scale, 60.0 / args.scale
    standin = KlaviyoStandIn(api_key=KEY, validate=False, record_bodies=False).start()
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    try:
        t = time.perf_counter()
        seed(standin, args.events, 20_000, end)
        seeded = time.perf_counter() - t
        standin.events_page_max = args.page
        standin.set_rate_limit("get_events", burst=(350, burst_s), steady=(3500, steady_s))
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "none.toml").write_text("")
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
            env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                        "LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
            since = (end - timedelta(days=31)).isoformat()
            ref = subprocess.run([sys.executable, __file__, "--reference", standin.base_url, str(args.readers), since,
                                  (end + timedelta(minutes=1)).isoformat()], env=env, capture_output=True, check=True)
            ref_doc = json.loads(ref.stdout)
            reference_rate = ref_doc["events"] / ref_doc["seconds"]
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "linesync_cli", "events", "pull", "--since", "31d",
                                   "--readers", str(args.readers), "--json"], env=env, capture_output=True,
                                  check=False)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(proc.stderr.decode())
            summary = json.loads(proc.stdout)
            mirror_mb = (work / "state" / "events.duckdb").stat().st_size / 1e6
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        standin.stop()
    gets = [r for r in standin.requests if r.op == "get_events"]
    throttled = sum(1 for r in gets if r.status == 429)
    page = min(args.page, 1000)
    ceiling = 3500 / steady_s * page
    rate = summary["events_read"] / elapsed
    print(json.dumps({
        "windows": f"350 per {burst_s:g}s, 3500 per {steady_s:g}s (Klaviyo's x{args.scale:g})",
        "events": summary["events_read"], "events_new": summary["events_new"], "seeded_seconds": round(seeded, 1),
        "page_size": page, "requests": len(gets), "answered_429": throttled, "seconds": round(elapsed, 2),
        "events_per_second": round(rate), "ceiling_events_per_second": round(ceiling),
        "fraction_of_ceiling": round(rate / ceiling, 3),
        "reference_fetch_only_events_per_second": round(reference_rate),
        "fraction_of_reference": round(rate / reference_rate, 3), "peak_rss_mb": round(peak_mb),
        "mirror_mb": round(mirror_mb, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
