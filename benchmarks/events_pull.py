"""`linesync events pull` against the stand-in Klaviyo: throughput against Get Events' ceiling, CPU, memory.

Klaviyo allows Get Events 350 requests/s (burst) and 3,500/min (steady): at 1,000
events a page the steady ceiling is 58,333 events/s. Neither a Python stand-in nor the
client on 2 shared cores serves that, so the ceiling is measured the honest way round:

- **Against a scaled ceiling.** `--slow N` gives Get Events windows with N times fewer
  requests (350/N per 1 s, 3,500/N per 60 s: Klaviyo's own window lengths and 1:10
  ratio), so the steady ceiling (3,500/N per minute x 1,000 events) is below what this
  machine serves and the pull is bound by the windows alone. Fewer requests per window,
  not longer windows: 1,000,000 events are ~1,000 requests, less than one steady window
  of 3,500, so longer windows alone would measure the burst window. The figure is
  events/s against that ceiling, and the time against the fastest schedule the windows
  allow for the fewest requests those events need (one page per 1,000 per metric).
- **The client's own CPU per 1,000 events** (HTTP, parsing, storing: the pull process's
  user+system time), which bounds what one core of the client can take at Klaviyo's real
  ceiling, beside the stand-in's CPU for serving the same events.

Beforehand a **reference** child fetches every page with the same client and readers at
Klaviyo's real windows and stores nothing: what this machine and the stand-in serve at all.
The pull runs as its own process (`linesync events pull --since 31d --json`); its peak
resident memory is its own VmHWM, read inside it at exit, and its resident size is sampled
every second (reported as the highest in each quarter of the pull: flat memory is four equal figures). Request validation and recording are off in
the stand-in (they cost more CPU than the client on 2 cores).

    python benchmarks/events_pull.py [--events 1000000] [--slow 25] [--no-reference]
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
    metric_ids = [m.id for m in client.list_metrics(api_only=False)]
    lo, hi = datetime.fromisoformat(since), datetime.fromisoformat(until)
    step = (hi - lo) / readers
    jobs = [(m, lo + i * step, lo + (i + 1) * step) for m in metric_ids for i in range(readers)]

    def fetch(job) -> int:
        metric_id, a, b = job
        n, cursor = 0, None
        while True:
            page = client.get_events_page_raw(metric_id, a, b, cursor=cursor)
            n += page.body.count(b'"type": "event"')  # one per event in the stand-in's JSON
            if page.next_cursor is None:
                return n
            cursor = page.next_cursor

    started = time.perf_counter()
    with ThreadPoolExecutor(readers) as pool:
        total = sum(pool.map(fetch, jobs))
    print(json.dumps({"events": total, "seconds": time.perf_counter() - started}))


def fastest_seconds(requests: int, burst: int, steady: int) -> float:
    """The least time `requests` take under fixed windows of `burst` per 1 s and `steady` per 60 s
    (answers taking no time): full steady windows, then the rest at the burst rate."""
    full, rest = divmod(max(0, requests - 1), steady)
    return full * 60.0 + rest // burst


def rss_by_quarter(samples: list[list[float]]) -> list[int]:
    """The highest sampled resident size (MB) in each quarter of the pull's time: at the scaled
    windows events arrive at a steady rate, so flat memory is four equal figures."""
    if not samples:
        return []
    end = samples[-1][0] or 1.0
    quarters = [0.0] * 4
    for at, kb in samples:
        q = min(3, int(4 * at / end))
        quarters[q] = max(quarters[q], kb / 1024)
    return [round(mb) for mb in quarters]


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _status_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(field))


def pull_child(report: str, args: list[str]) -> None:
    """Child process: `linesync <args>`, writing its own peak memory (VmHWM) to `report` at exit,
    with its resident size sampled every second (whether memory grows with the events read).
    Not ru_maxrss from the parent: a forked child starts with the parent's resident size (here
    the stand-in's events) before exec, and ru_maxrss keeps that."""
    import atexit
    import threading

    started = time.monotonic()
    samples: list[tuple[float, int]] = []

    def sample() -> None:
        while True:
            samples.append((time.monotonic() - started, _status_kb("VmRSS")))
            time.sleep(1.0)

    def peak() -> None:
        Path(report).write_text(json.dumps({"peak_kb": _status_kb("VmHWM"), "rss_kb": samples}))

    threading.Thread(target=sample, daemon=True).start()
    atexit.register(peak)
    sys.argv = ["linesync", *args]
    from linesync_cli.entry import main as linesync

    linesync()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--reference":
        reference(*sys.argv[2:3], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--pull-child":
        pull_child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--slow", type=int, default=25, help="Get Events' windows allow N times fewer requests")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--no-reference", action="store_true", help="skip the fetch-only reference run")
    parser.add_argument("--save-trace", type=Path, help="write the pull's --debug log (its pacing lines) to this file")
    args = parser.parse_args()
    burst, steady = max(1, 350 // args.slow), max(1, 3500 // args.slow)
    standin = KlaviyoStandIn(api_key=KEY, validate=False, record_bodies=False).start()
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    load = [os.getloadavg()[0]]
    try:
        t = time.perf_counter()
        seed(standin, args.events, 20_000, end)
        seeded = time.perf_counter() - t
        standin.events_page_max = 1000
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "none.toml").write_text("")
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
            env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                        "LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
            since = (end - timedelta(days=31)).isoformat()
            reference_rate = None
            if not args.no_reference:
                standin.set_rate_limit("get_events", burst=(350, 1.0), steady=(3500, 60.0))
                ref = subprocess.run([sys.executable, __file__, "--reference", standin.base_url, str(args.readers),
                                      since, (end + timedelta(minutes=1)).isoformat()], env=env, capture_output=True,
                                     check=True)
                ref_doc = json.loads(ref.stdout)
                reference_rate = ref_doc["events"] / ref_doc["seconds"]
                load.append(os.getloadavg()[0])
            standin.requests.clear()
            # The windows' epoch is now: the pull's start-up is paid inside the first window.
            standin.set_rate_limit("get_events", burst=(burst, 1.0), steady=(steady, 60.0))
            own_cpu = cpu_seconds(resource.RUSAGE_SELF)
            started = time.perf_counter()
            with open(work / "out", "wb") as out, open(work / "err", "wb") as err:
                debug = ["--debug"] if args.save_trace else []
                proc = subprocess.Popen([sys.executable, __file__, "--pull-child", str(work / "peak"), *debug, "events", "pull",
                                         "--since", "31d", "--readers", str(args.readers), "--json"], env=env,
                                        stdout=out, stderr=err)
                # wait4: this child's own CPU time (not the reference's).
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            elapsed = time.perf_counter() - started
            if args.save_trace:
                args.save_trace.write_bytes((work / "err").read_bytes())
            pull_cpu = usage.ru_utime + usage.ru_stime
            standin_cpu = cpu_seconds(resource.RUSAGE_SELF) - own_cpu
            load.append(os.getloadavg()[0])
            if proc.returncode != 0:
                raise SystemExit((work / "err").read_text())
            summary = json.loads((work / "out").read_text())
            mirror_mb = (work / "state" / "events.duckdb").stat().st_size / 1e6
            memory = json.loads((work / "peak").read_text())
            peak_mb = memory["peak_kb"] / 1024
    finally:
        standin.stop()
    gets = [r for r in standin.requests if r.op == "get_events"]
    throttled = sum(1 for r in gets if r.status == 429)
    events = summary["events_read"]
    ceiling = steady / 60.0 * 1000
    rate = events / elapsed
    fewest = sum(-(-m["events_read"] // 1000) for m in summary["metrics"])
    fastest = fastest_seconds(fewest, burst, steady)
    print(json.dumps({
        "windows": f"{burst} per 1 s, {steady} per 60 s (Klaviyo's with {args.slow}x fewer requests)",
        "events": events, "events_new": summary["events_new"], "seeded_seconds": round(seeded, 1),
        "requests": len(gets), "fewest_requests": fewest, "answered_429": throttled, "seconds": round(elapsed, 2),
        "events_per_second": round(rate), "steady_ceiling_events_per_second": round(ceiling),
        "fraction_of_steady_ceiling": round(rate / ceiling, 3),
        "fastest_schedule_seconds": round(fastest, 1), "fraction_of_fastest_schedule": round(fastest / elapsed, 3),
        "pull_cpu_ms_per_1000_events": round(pull_cpu / events * 1e6, 1),
        "one_core_events_per_second": round(events / pull_cpu) if pull_cpu else None,
        "standin_cpu_ms_per_1000_events": round(standin_cpu / events * 1e6, 1),
        "real_steady_ceiling_events_per_second": round(3500 / 60 * 1000),
        "reference_fetch_only_events_per_second": round(reference_rate) if reference_rate else None,
        "peak_rss_mb": round(peak_mb), "peak_rss_mb_by_quarter_of_the_pull": rss_by_quarter(memory["rss_kb"]),
        "mirror_mb": round(mirror_mb, 1),
        "load_average": [round(x, 2) for x in load],
    }, indent=2))


if __name__ == "__main__":
    main()
