"""`linesync backfill verify` of a large run: time and peak memory against the stand-in Klaviyo.

Generates N actions for 20,000 linked users, sends them with `linesync backfill` (the
stand-in's bulk-create windows sped up 20x, so sending is not what takes the time),
then runs `linesync backfill verify --settle 0s --json` as a separate process and
reports its time, its peak resident memory (ru_maxrss of that child alone) and the
figures it found. Memory should not grow with N: the sent events stream into a DuckDB
table under a 256 MB limit.

    python benchmarks/backfill_verify.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backfill_data import line_id, write_actions_csv, write_link_map  # noqa: E402
from tests.support.standins import KlaviyoStandIn  # noqa: E402

KEY = "pk_bench_0000000000000000"
USERS = 20_000


def child(args: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run linesync in a child via a wrapper that reports the child's own peak RSS."""
    wrapper = ("import resource, runpy, sys; sys.argv = ['linesync'] + sys.argv[1:]\n"
               "try:\n    runpy.run_module('linesync_cli', run_name='__main__')\n"
               "finally:\n    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
               "file=sys.stderr)")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], env=env, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    peak = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB")), 0)
    return elapsed, peak / 1024, proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    standin = KlaviyoStandIn(api_key=KEY, validate=False, record_bodies=False).start()
    try:
        standin.set_rate_limit("bulk_create_events", burst=(10, 0.05), steady=(150, 3.0))
        standin.events_page_max = 1000
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "none.toml").write_text("")
            mapping = {line_id(u): standin.add_profile() for u in range(USERS)}
            link_map = write_link_map(work / "map.csv", mapping)
            actions = write_actions_csv(work / "actions.csv", args.events, USERS)
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
            env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                        "LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
            sent_s, sent_mb, proc = child(["backfill", str(actions), "--link-map", str(link_map), "--json"], env)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            verify_s, verify_mb, proc = child(["backfill", "verify", "--settle", "0s", "--json"], env)
            if proc.returncode not in (0, 1):
                raise SystemExit(proc.stderr)
            try:
                doc = json.loads(proc.stdout)
            except ValueError:
                raise SystemExit(f"verify said: {proc.stdout[:500]!r} {proc.stderr[-1500:]}") from None
    finally:
        standin.stop()
    print(json.dumps({
        "events": args.events, "backfill_seconds": round(sent_s, 1), "backfill_peak_rss_mb": round(sent_mb),
        "verify_seconds": round(verify_s, 1), "verify_peak_rss_mb": round(verify_mb),
        "checked": doc["checked"], "stored": doc["stored"], "missing": doc["missing"],
        "plans": {p["metric"]: p["plan"] for p in doc["plans"]},
        "get_events_requests": sum(1 for r in standin.requests if r.op == "get_events"),
    }, indent=2))


if __name__ == "__main__":
    main()
