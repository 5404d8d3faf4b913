"""`linesync links sync` throughput against the stand-in Klaviyo at Klaviyo's get_profiles limits.

Klaviyo allows GET /api/profiles 75 requests/s (burst) and 750/min (steady); at 100
profiles a page the steady ceiling is 1,250 profiles/s. The stand-in enforces those
windows (fixed windows, 429 without Retry-After beyond them, `RateLimit-Limit`
announced), optionally scaled in time by --scale (4: 75 per 0.25 s and 750 per 15 s,
a 5,000 profiles/s ceiling) to keep the run short. The sync runs as a separate
process, as an operator would run it:

    linesync links sync --full --json

Figures: profiles/s in steady state (pages answered in each steady window that the
run spans whole, i.e. not the first nor the last) against the steady ceiling; over
the whole run (first request to last answer, from the stand-in's log) against the
fastest any client could go for that many pages under those fixed windows (burst
first, then wait for the next window); and the share of requests answered 429.
Over a few windows the whole-run rate beats the steady ceiling (the first window is
used at once), which is why the steady-state figure needs a run of 3 windows or more.

    python benchmarks/links_sync.py [--profiles 300000] [--scale 4]

The stand-in serves profiles from a list kept sorted (its generic endpoint re-sorts
every profile on every page, which would make it, not the client, the bottleneck).
Prints one JSON line; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.standins import KlaviyoStandIn  # noqa: E402

KEY = "pk_bench_links_000000000000"
PAGE = 100
BURST, STEADY = 75, 750  # get_profiles: per 1 s and per 60 s


class ProfilesStandIn(KlaviyoStandIn):
    """The stand-in with a pre-sorted profile list and a timestamp per get_profiles answer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sorted: list[dict] | None = None
        self.answered: list[float] = []
        self._answered_lock = threading.Lock()

    def _get_profiles(self, req, record):
        if req.arg("filter") or req.arg("sort"):
            return super()._get_profiles(req, record)
        if self._sorted is None:
            self._sorted = sorted(self.profiles.values(), key=lambda p: (p["created"], p["id"]))
        result = 200, self._page(req, self._sorted, default=20, maximum=100, render=lambda p: self._profile_doc(p, req))
        with self._answered_lock:
            self.answered.append(time.monotonic())
        return result


def fastest_seconds(pages: int, burst: tuple[int, float], steady: tuple[int, float]) -> float:
    """Least time from the first to the last request under fixed windows starting at the first request."""
    per_steady = min(steady[0], burst[0] * math.floor(steady[1] / burst[1]))
    full, rest = divmod(pages, per_steady)
    if rest == 0:
        full, rest = full - 1, per_steady
    return full * steady[1] + (math.ceil(rest / burst[0]) - 1) * burst[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=300_000, help="linked profiles in the stand-in")
    parser.add_argument("--scale", type=float, default=4.0, help="how much faster than Klaviyo's windows")
    parser.add_argument("--save-trace", type=Path, help="write linesync's --debug log (its pacing lines) to this file")
    args = parser.parse_args()
    burst = (BURST, 1.0 / args.scale)
    steady = (STEADY, 60.0 / args.scale)
    ceiling = STEADY * PAGE / steady[1]
    standin = ProfilesStandIn(api_key=KEY, validate=False, record_bodies=False).start()
    try:
        for n in range(args.profiles):
            standin.add_profile(properties={"LINE User ID": "U" + f"{n:032x}"})
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "none.toml").write_text("")
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
            env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                        "LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
            standin.set_rate_limit("get_profiles", burst=burst, steady=steady)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            debug = ["--debug"] if args.save_trace else []
            done = subprocess.run([sys.executable, "-m", "linesync_cli", *debug, "links", "sync", "--full", "--json"],
                                  env=env, cwd=work, capture_output=True, text=True)
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time close to `process_seconds` means linesync was short of CPU (the stand-in shares
            # the 2 cores), not held back by pacing.
            cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        if args.save_trace:
            args.save_trace.write_text(done.stderr)
        if done.returncode != 0:
            raise SystemExit(f"links sync failed ({done.returncode}): {done.stderr[-2000:]}")
        requests = standin.requests_for("get_profiles")
        pages = len(standin.answered)
        first = min(r for r in standin.answered)  # answers are ~1 ms after their requests
        span = max(standin.answered) - first
        fastest = fastest_seconds(pages, burst, steady)
        epoch = standin.rate_limits["get_profiles"].epoch
        per_window = Counter(int((t - epoch) // steady[1]) for t in standin.answered)
        whole = sorted(per_window)[1:-1]
        steady_rate = sum(per_window[w] for w in whole) * PAGE / (len(whole) * steady[1]) if whole else None
        rate = args.profiles / span if span else float("inf")
        print(json.dumps({
            "benchmark": "links sync",
            "profiles": args.profiles,
            "pages": pages,
            "scale": args.scale,
            "windows": {"burst": f"{BURST} per {burst[1]:g} s", "steady": f"{STEADY} per {steady[1]:g} s"},
            "seconds": round(span, 2),
            "process_seconds": round(wall, 2),
            "linesync_cpu_s": round(cpu, 2),
            "benchmark_cpu_s": round(time.process_time(), 2),
            "profiles_per_second": round(rate),
            "steady_ceiling_profiles_per_second": round(ceiling),
            "whole_steady_windows": len(whole),
            "steady_state_profiles_per_second": round(steady_rate) if steady_rate else None,
            "share_of_steady_ceiling": round(steady_rate / ceiling, 3) if steady_rate else None,
            "fastest_possible_seconds": round(fastest, 2),
            "share_of_fastest_possible": round(fastest / span, 3) if span else None,
            "requests": len(requests),
            "throttled_429": standin.throttled["get_profiles"],
            "share_429": round(standin.throttled["get_profiles"] / max(1, len(requests)), 4),
            "summary": json.loads(done.stdout) if done.stdout.strip().startswith("{") else None,
        }))
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
