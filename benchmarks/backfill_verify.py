"""`linesync backfill verify` of a large run: time and peak memory against the stand-in Klaviyo.

Generates N actions for 20,000 linked users, sends them with `linesync backfill` (the
stand-in's bulk-create windows sped up 20x, so sending is not what takes the time),
then runs `linesync backfill verify --settle 0s --json` as a separate process and
reports its time, its peak resident memory and, per phase (derive, plan, read, result,
close), its time and the highest RSS sampled in it.

The peak is the child's own VmHWM (/proc/self/status at exit). Not ru_maxrss: exec
carries the parent's high-water mark into the child's ru_maxrss, and the parent holds
the stand-in with every event sent, so ru_maxrss grew with N whatever verify did (that
was last session's 261 MB at 100k, 501 MB at 300k). Memory should not grow with N.

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


# In the verify child: a sampler thread reads VmRSS every 10 ms; each phase prints its time, the
# highest RSS sampled in it, its RSS after and before (PHASE lines on stderr); at exit, VmHWM.
PHASES = """
import threading, time as _time
def _status():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return int(fields['VmRSS'].split()[0]) // 1024, int(fields['VmHWM'].split()[0]) // 1024
_highest = [0]
def _sample():
    while True:
        _highest[0] = max(_highest[0], _status()[0])
        _time.sleep(0.01)
threading.Thread(target=_sample, daemon=True).start()
def _phase(cls, name):
    original = getattr(cls, name)
    def timed(self, *a, **k):
        started, before = _time.perf_counter(), _status()[0]
        _highest[0] = before
        try:
            return original(self, *a, **k)
        finally:
            rss = _status()[0]
            print('PHASE', name, round(_time.perf_counter() - started, 1), max(_highest[0], rss), rss, before,
                  file=sys.stderr, flush=True)
    setattr(cls, name, timed)
try:
    from linesync_cli.core.verify import Verification
    for _n in ('derive', 'plan', 'read', 'result', 'close'):
        _phase(Verification, _n)
except ImportError:
    pass
"""


def child(args: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run linesync in a child via a wrapper that reports the child's own peak RSS."""
    wrapper = ("import runpy, sys; sys.argv = ['linesync'] + sys.argv[1:]\n"
               f"{PHASES}\n"
               "try:\n    runpy.run_module('linesync_cli', run_name='__main__')\n"
               "finally:\n    print('PEAK_RSS_MB', _status()[1], file=sys.stderr)")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], env=env, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    peak = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_MB")), 0)
    return elapsed, peak, proc


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
    phases = {parts[1]: {"seconds": float(parts[2]), "highest_rss_mb": int(parts[3]), "rss_after_mb": int(parts[4]),
                         "rss_before_mb": int(parts[5])}
              for parts in (line.split() for line in proc.stderr.splitlines() if line.startswith("PHASE "))}
    print(json.dumps({
        "events": args.events, "backfill_seconds": round(sent_s, 1), "backfill_peak_rss_mb": round(sent_mb),
        "verify_seconds": round(verify_s, 1), "verify_peak_rss_mb": round(verify_mb),
        "verify_phases": phases, "load_average": os.getloadavg()[0],
        "checked": doc["checked"], "stored": doc["stored"], "missing": doc["missing"],
        "plans": {p["metric"]: p["plan"] for p in doc["plans"]},
        "get_events_requests": sum(1 for r in standin.requests if r.op == "get_events"),
    }, indent=2))


if __name__ == "__main__":
    main()
