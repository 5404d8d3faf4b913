"""Backfill throughput against the stand-in Klaviyo's fixed windows, as a ratio to an ideal client.

For each server latency, each run starts a fresh stand-in with bulk create's windows
(Klaviyo's: 10 per 1 s burst, 150 per 60 s steady; `--scale` makes them faster),
puts the start `--phase` of the way into a steady window, and times:

- **the ideal client**, in this process: 1,000 events a request, every request sent
  the instant the server's windows allow it (it reads the stand-in's own window
  clock, so it never guesses), as many in flight as it likes;
- **linesync**: `linesync backfill actions.csv --link-map map.csv --json`, a
  separate process, from launch to exit (start-up and reading included);
- optionally **the peer** (`--peer-python`, an interpreter with the official
  `klaviyo-api` SDK installed; not a project dependency): `benchmarks/peer_sdk.py`,
  one Create Event per action, for as long as linesync took, against a fresh
  stand-in with the same scale, phase and latency (Create Event's own windows).

Figures: the ideal's time over linesync's (`ratio_to_ideal`), and the floor's over
linesync's (`ratio_to_floor`: the floor is the fastest possible, every request counted the
instant the windows allow and answered a latency later, which the ideal itself misses by
its own start-up and, when the stand-in counts late, its own burst 429s), requests
answered 429 and by which window (for both clients), requests accepted in each steady
window (the inner ones show whether the budget is used whole), events stored exactly
once, linesync's CPU, and `where_time_went`: from linesync's `--debug` pacing lines (each
request's send and answer instants, on the monotonic clock the stand-in counts with), the
seconds to the first send, how late the last window's first request was counted after the
window opened, how long its budget took to spend against the burst windows' floor, how
many of its sends the limiter did not hold back (a body that arrived late: client CPU),
send-to-count delays (the jitter the burst margin covers), the last answer's latency and
the time from it to the process's exit; and how close the full burst windows came to a 429
(where in its window each one's 10th request was counted: past 1, a 429). `--save-trace DIR`
keeps each run's `--debug` lines and the stand-in's count instants, to follow a 429 to its window.

The stand-in counts a request against its windows when it starts to answer it,
then answers `--latency` seconds later (Klaviyo's gateway counts first; the work
takes its time). Its bulk-create handler is replaced here by a light one that parses
the body and keeps only each event's `unique_id` (to check exactly-once): the full
handler stores every event under one lock and, on a shared 2-core machine, becomes
the bottleneck in the 10-requests-a-second bursts for the ideal client as much as
for linesync; the latency stands for the server's work instead.

    python benchmarks/backfill_throughput.py                         # 300,000 events, 50/300/800 ms, 1 run each
    python benchmarks/backfill_throughput.py --runs 3 --latency 0.8  # spread over 3 runs
    python benchmarks/backfill_throughput.py --events 1500000 --scale 4 --latency 0.3   # a long run, windows 4x faster
    python benchmarks/backfill_throughput.py --peer-python /tmp/peer-venv/bin/python
    python benchmarks/backfill_throughput.py --events 1500000 --latency 0.3 --no-ideal --save-trace /tmp/traces
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linesync_cli.sandbox.base import Incoming, RecordedRequest  # noqa: E402
from tests.support.backfill_data import line_id, write_actions_csv, write_link_map  # noqa: E402
from tests.support.standins import KlaviyoStandIn  # noqa: E402

KEY = "pk_bench_0000000000000000"
USERS = 5_000
OP = "bulk_create_events"
PER_REQUEST = 1000


class BenchStandIn(KlaviyoStandIn):
    """The stand-in with a light bulk-create handler: parse, count, keep unique_ids."""

    def __init__(self) -> None:
        super().__init__(api_key=KEY, validate=False, record_bodies=False)
        self.unique_ids: set[str] = set()
        self.events_received = 0
        self.accepted_at: list[float] = []  # when each bulk request was counted (not refused)
        self.refused_by: Counter[str] = Counter()  # 429s by the window that was full
        self.refused_at: list[tuple[float, str]] = []  # when each 429 was decided, and by which window

    def _bulk_create_events(self, req: Incoming, record: RecordedRequest):
        body = json.loads(req.raw)
        for entry in body["data"]["attributes"]["events-bulk-create"]["data"]:
            for event in entry["attributes"]["events"]["data"]:
                self.events_received += 1
                self.unique_ids.add(event["attributes"]["unique_id"])
        self.bulk_jobs += 1
        record.processed = True
        return 202, None


def start_standin(args: argparse.Namespace, latency: float, op: str = OP,
                  limits: tuple[int, int] = (10, 150)) -> BenchStandIn:
    standin = BenchStandIn().start()
    standin.set_latency(latency)
    standin.set_rate_limit(op, burst=(limits[0], 1.0 / args.scale), steady=(limits[1], 60.0 / args.scale))
    limit = standin.rate_limits[op]
    take = limit.try_take

    def counted_take(now: float) -> float | None:
        # Which window refused: a full steady window costs up to its rest, a full burst one a moment.
        wait = take(now)
        if wait is not None:
            window = "steady" if limit._count(1, now) >= limit.windows[1][0] else "burst"
            standin.refused_by[window] += 1
            standin.refused_at.append((now, window))
        elif op == OP:
            standin.accepted_at.append(now)  # the instant it was counted, in the window it was counted in
        return wait

    limit.try_take = counted_take  # type: ignore[method-assign]
    return standin


def set_phase(standin: KlaviyoStandIn, args: argparse.Namespace, op: str = OP) -> float:
    """Put now `phase` of the way into a fresh steady window; return now."""
    now = time.monotonic()
    limit = standin.rate_limits[op]
    limit.epoch = now - args.phase * (60.0 / args.scale)
    limit.counts.clear()
    return now


# -- the ideal client ---------------------------------------------------------------------

def ideal_body(r: int) -> bytes:
    """Request r's 1,000 events, shaped like linesync's (one profile and one event per entry)."""
    entries = []
    for i in range(PER_REQUEST):
        n = r * PER_REQUEST + i
        entries.append({"type": "event-bulk-create", "attributes": {
            "profile": {"data": {"type": "profile", "id": f"01PROFILE{n % USERS:017d}"}},
            "events": {"data": [{"type": "event", "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": "Opened LINE Message"}}},
                "properties": {"line_user_id": line_id(n % USERS), "message_id": f"msg-{n // 50}"},
                "time": "2026-06-01T00:00:00+00:00", "unique_id": f"ideal-{n}", "backfill": True}}]}}})
    return json.dumps({"data": {"type": "event-bulk-create-job",
                                "attributes": {"events-bulk-create": {"data": entries}}}}).encode()


def ideal_schedule(standin: KlaviyoStandIn, requests: int, start: float) -> list[float]:
    """When each request may be counted: the first instant both fixed windows have room."""
    limit = standin.rate_limits[OP]
    (burst, burst_s), (steady, steady_s) = limit.windows
    used: Counter[tuple[int, int]] = Counter()
    times = []
    # On the stand-in's own scale (seconds since its epoch), as it counts: `epoch + k * w` can
    # fall a hair short of window k once subtracted back, and a schedule stepped to it never moves.
    rel = start - limit.epoch

    def opening(k: int, seconds: float) -> float:
        at = k * seconds
        while at // seconds < k:
            at = math.nextafter(at, math.inf)
        return at

    for _ in range(requests):
        while True:
            b, s = int(rel // burst_s), int(rel // steady_s)
            if used[(1, s)] >= steady:
                rel = opening(s + 1, steady_s)
            elif used[(0, b)] >= burst:
                rel = opening(b + 1, burst_s)
            else:
                break
        used[(0, b)] += 1
        used[(1, s)] += 1
        times.append(limit.epoch + rel)
    return times


def run_ideal(args: argparse.Namespace, latency: float, requests: int) -> dict:
    standin = start_standin(args, latency)
    headers = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15",
               "Content-Type": "application/vnd.api+json", "Accept": "application/vnd.api+json"}
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    throttled = 0
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=standin.base_url, headers=headers, limits=limits, timeout=60) as client:
            client.get("/api/accounts")  # a warm connection, as a long-running client has
            # Bodies built beforehand (the ideal spends no time on them); one steady window's
            # worth, reused: a repeated unique_id costs the server the same.
            bodies = [ideal_body(r) for r in range(min(requests, 150))]
            start = set_phase(standin, args)
            schedule = ideal_schedule(standin, requests, start)

            def send(i: int) -> None:
                nonlocal throttled
                body = bodies[i % len(bodies)]
                # A hair after the window opens: the stand-in's clock is ours, to the microsecond.
                delay = schedule[i] + 0.002 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                while client.post("/api/event-bulk-create-jobs", content=body).status_code == 429:
                    # Counted late (a loaded machine): try again as the next burst window opens.
                    with lock:
                        throttled += 1
                    limit = standin.rate_limits[OP]
                    burst_s = limit.windows[0][1]
                    now = time.monotonic()
                    time.sleep(burst_s - ((now - limit.epoch) % burst_s) + 0.002)

            with ThreadPoolExecutor(max_workers=64) as pool:
                list(pool.map(send, range(requests)))
            elapsed = time.monotonic() - start
    finally:
        standin.stop()
    return {"seconds": elapsed, "answered_429": throttled, "refused_by": dict(standin.refused_by)}


# -- linesync ----------------------------------------------------------------------------

def run_linesync(args: argparse.Namespace, latency: float, events: int, work: Path, actions: Path) -> dict:
    standin = start_standin(args, latency)
    try:
        mapping = {line_id(u): standin.add_profile() for u in range(USERS)}
        link_map = write_link_map(work / "map.csv", mapping)
        state = work / f"state-{time.monotonic_ns()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
        env.update({"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": standin.base_url,
                    "LINESYNC_STATE_DIR": str(state), "LINESYNC_CONFIG": str(work / "none.toml")})
        (work / "none.toml").write_text("")
        # --debug: linesync.pacing lines give each request's instants on the same monotonic clock as the stand-in's.
        argv = [sys.executable, "-m", "linesync_cli", "--debug", "backfill", str(actions), "--link-map", str(link_map),
                "--json"]
        if args.workers:
            argv += ["--workers", str(args.workers)]
        start = set_phase(standin, args)
        # The floor: every request counted the instant the windows allow, the last one answered
        # a latency later, nothing else (no start-up, no count delay, no exit): the fastest possible.
        floor = ideal_schedule(standin, -(-events // PER_REQUEST), start)[-1] - start + latency
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak_kb = watch_peak_rss(child.pid)
        stdout, stderr = child.communicate()
        elapsed = time.monotonic() - start
        proc = subprocess.CompletedProcess(argv, child.returncode, stdout, stderr)
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr.decode())
        summary = json.loads(proc.stdout)
    finally:
        standin.stop()
    bulk = [r for r in standin.requests if r.op == OP]
    steady_s = 60.0 / args.scale
    epoch = standin.rate_limits[OP].epoch
    per_window = Counter(int((t - epoch) // steady_s) for t in standin.accepted_at)
    windows = [per_window.get(i, 0) for i in range(min(per_window), max(per_window) + 1)]
    # How long each window took to spend its budget, from its opening (the run's start for the first).
    spent_in = []
    for i in range(min(per_window), max(per_window) + 1):
        opened = max(start, epoch + i * steady_s)
        last = max(t for t in standin.accepted_at if int((t - epoch) // steady_s) == i)
        spent_in.append(round(last - opened, 1))
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    trace = proc.stderr.decode()
    if args.save_trace:
        save_trace(Path(args.save_trace), latency, start, epoch, standin, trace)
    sends = parse_trace(trace)
    went = where_time_went(args, start, start + elapsed, epoch, standin.accepted_at, sends, trace)
    return {"linesync_peak_rss_mb": round(peak_kb[0] / 1024, 1), "where_time_went": went, "floor": floor, "refused_by": dict(standin.refused_by), "seconds_to_spend_each_window": spent_in, "linesync_cpu_s": round(cpu, 1),"seconds": elapsed, "requests": len(bulk), "answered_429": sum(1 for r in bulk if r.status == 429),
            "events_sent": summary["counts"]["sent"], "events_stored": len(standin.unique_ids),
            "events_received": standin.events_received, "accepted_per_steady_window": windows}


def watch_peak_rss(pid: int) -> list[int]:
    """The process's own peak RSS in KB (VmHWM), read every 0.2 s while it runs: [latest]."""
    peak = [0]

    def watch() -> None:
        status = Path(f"/proc/{pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return  # exited (reaped)
            found = re.search(r"VmHWM:\s+(\d+)", text)
            if found is None:
                return  # a zombie: its memory is gone, the last reading stands
            peak[0] = max(peak[0], int(found[1]))
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    return peak


def save_trace(folder: Path, latency: float, start: float, epoch: float, standin: BenchStandIn, trace: str) -> None:
    """linesync's --debug lines and the stand-in's counts, on one clock, for tracing a 429 to its window."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"latency-{latency:g}-{time.strftime('%H%M%S')}"
    (folder / f"{stem}.linesync.log").write_text(trace)
    counted = [(t, "accepted") for t in standin.accepted_at] + [(t, f"429 {w}") for t, w in standin.refused_at]
    lines = [f"# start {start:.4f} epoch {epoch:.4f}"] + [f"{t:.4f}\t{what}" for t, what in sorted(counted)]
    (folder / f"{stem}.standin.tsv").write_text("\n".join(lines) + "\n")


PLACED = re.compile(r"linesync\.pacing: bulk_create_events .* placed=1")
TRACE = re.compile(r"linesync\.pacing: bulk_create_events waited=([\d.]+) sent=([\d.]+) answered=([\d.]+) status=(\d+)")


def parse_trace(stderr: str) -> list[tuple[float, float, float, int]]:
    """(waited, sent, answered, status) per bulk request, from linesync's --debug pacing lines."""
    return sorted((float(m[1]), float(m[2]), float(m[3]), int(m[4])) for m in TRACE.finditer(stderr))


def where_time_went(args: argparse.Namespace, start: float, end: float, epoch: float, accepted: list[float],
                    sends: list[tuple[float, float, float, int]], trace: str = "") -> dict:
    """The run cut at its instants (seconds): what an ideal client would also pay, and what it would not.

    The last steady window decides the run's length (the earlier ones have slack), so it is
    cut finest: how late its first request was counted after it opened, and how long its
    budget took to spend against the burst window's floor (n requests need ceil(n/10)-1
    burst windows after the first).
    """
    steady_s, burst_s = 60.0 / args.scale, 1.0 / args.scale
    accepted = sorted(accepted)
    last_window = int((accepted[-1] - epoch) // steady_s)
    opened = max(start, epoch + last_window * steady_s)
    in_last = [t for t in accepted if t >= opened]
    floor = (math.ceil(len(in_last) / 10) - 1) * burst_s
    # How close the full burst windows came to a 429: where in its window (0-1) each one's
    # 10th request was counted. Past 1 it would have been counted in the next window, the
    # 11th there, and refused.
    per_burst: dict[int, list[float]] = {}
    for t in accepted:
        per_burst.setdefault(math.floor((t - epoch) / burst_s), []).append(t)
    tenth = sorted(((ts[-1] - epoch) / burst_s) % 1 for ts in per_burst.values() if len(ts) >= 10)
    went = {"to_first_send": round(sends[0][1] - start, 2) if sends else None,
            "last_window_first_counted_after_open": round(in_last[0] - opened, 3),
            "last_window_spend": round(in_last[-1] - in_last[0], 2), "last_window_spend_floor": round(floor, 2)}
    if tenth:
        went["full_burst_windows"] = len(tenth)
        went["tenth_counted_at_share_of_burst_window"] = {
            "p50": round(tenth[len(tenth) // 2], 3), "p99": round(tenth[int(len(tenth) * 0.99)], 3),
            "max": round(tenth[-1], 3)}
    if sends:
        last_answer = max(answered for _, _, answered, _ in sends)
        late = [s for s in sends if s[1] >= opened - 1e-3]
        # Sends of the last window the limiter did not hold back (asked and granted within 2 ms):
        # a body arrived at the limiter later than the pacing would have let it go.
        # Send to count (the jitter the burst margin must cover), matching accepted requests in order.
        sent_ok = sorted(sent for _, sent, _, status in sends if status != 429)
        delays = sorted(c - s for s, c in zip(sent_ok, accepted, strict=False))
        if delays:
            went["send_to_count_ms"] = {"p50": round(1000 * delays[len(delays) // 2]),
                                        "p99": round(1000 * delays[int(len(delays) * 0.99)]),
                                        "max": round(1000 * delays[-1])}
        went.update({
            # Sends the limiter placed at a burst window it located from the answers (linesync's
            # --debug `placed=1`; 0 from a checkout without it).
            "sends_placed": len(PLACED.findall(trace)),
            "last_window_sends_not_held": sum(1 for waited, *_ in late if waited < 0.002),
            "last_count_to_last_answer": round(last_answer - accepted[-1], 3),
            "last_answer_to_exit": round(end - last_answer, 3)})
    return went


# -- the peer: the official SDK, one Create Event per action ----------------------------------------

def run_peer(args: argparse.Namespace, latency: float, seconds: float) -> dict:
    standin = start_standin(args, latency, op="create_event", limits=(350, 3500))
    try:
        profiles = [standin.add_profile() for _ in range(100)]
        set_phase(standin, args, op="create_event")
        proc = subprocess.run([args.peer_python, str(Path(__file__).with_name("peer_sdk.py")), standin.base_url, KEY,
                               f"{seconds:.3f}", ",".join(profiles)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        peer = json.loads(proc.stdout)
    finally:
        standin.stop()
    peer["events_stored"] = len(standin.events)
    peer["answered_429"] = standin.throttled["create_event"]
    return peer


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f}, {len(values)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events to send (1,000 a request)")
    parser.add_argument("--latency", type=float, nargs="+", default=[0.05, 0.3, 0.8],
                        help="server latencies in seconds, each measured in turn")
    parser.add_argument("--runs", type=int, default=1, help="runs per latency (for the spread)")
    parser.add_argument("--scale", type=float, default=1.0, help="windows this many times faster than Klaviyo's")
    parser.add_argument("--phase", type=float, default=0.5,
                        help="how far into a steady window the run starts (0-1; 0.5: the middle)")
    parser.add_argument("--workers", type=int, default=0, help="pass --workers to linesync (0: its default)")
    parser.add_argument("--no-ideal", action="store_true",
                        help="skip the ideal client (long runs: the figure is the share of the ceiling)")
    parser.add_argument("--save-trace", metavar="DIR",
                        help="write linesync's --debug lines and the stand-in's count instants there, a pair a run")
    parser.add_argument("--peer-python", help="an interpreter with klaviyo-api installed: also run the peer")
    args = parser.parse_args()
    requests = args.events // PER_REQUEST
    load = os.getloadavg()
    print(f"windows: 10 per {1 / args.scale:g} s, 150 per {60 / args.scale:g} s (Klaviyo's{'' if args.scale == 1 else f', {args.scale:g}x faster'}); "
          f"{args.events:,} events; start {args.phase:g} into a steady window; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
          flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        actions = write_actions_csv(work / "actions.csv", args.events, USERS)
        for latency in args.latency:
            ratios, ones = [], []
            for run in range(args.runs):
                ideal = None if args.no_ideal else run_ideal(args, latency, requests)
                mine = run_linesync(args, latency, args.events, work, actions)
                ratio = ideal["seconds"] / mine["seconds"] if ideal else None
                if ratio is not None:
                    ratios.append(ratio)
                inner = mine["accepted_per_steady_window"][1:-1]
                row = {"latency_s": latency, "run": run + 1, "ideal_s": round(ideal["seconds"], 2) if ideal else None,
                       "ideal_429": ideal["answered_429"] if ideal else None,
                       "ideal_429_by_window": ideal["refused_by"] if ideal else None, "linesync_s": round(mine["seconds"], 2),
                       "ratio_to_ideal": round(ratio, 3) if ratio is not None else None,
                       "floor_s": round(mine["floor"], 2), "ratio_to_floor": round(mine["floor"] / mine["seconds"], 3),
                       "requests": mine["requests"],
                       "answered_429": mine["answered_429"],
                       "share_429": round(mine["answered_429"] / max(1, mine["requests"]), 4),
                       "429_by_window": mine["refused_by"],
                       "accepted_per_steady_window": mine["accepted_per_steady_window"],
                       "seconds_to_spend_each_window": mine["seconds_to_spend_each_window"],
                       "linesync_cpu_s": mine["linesync_cpu_s"], "linesync_peak_rss_mb": mine["linesync_peak_rss_mb"], "where_time_went": mine["where_time_went"],
                       "inner_windows_budget_used": round(sum(inner) / (150 * len(inner)), 4) if inner else None,
                       "events_stored_once": mine["events_stored"] == args.events == mine["events_sent"],
                       "load": round(os.getloadavg()[0], 1)}
                if args.peer_python and run == 0:
                    peer = run_peer(args, latency, mine["seconds"])
                    ones.append(peer)
                    row["peer_events_in_same_time"] = peer["events_stored"]
                    row["peer_429"] = peer["answered_429"]
                    row["linesync_over_peer"] = round(args.events / max(1, peer["events_stored"]), 1)
                print(json.dumps(row), flush=True)
                results.append(row)
            if ratios:
                print(f"latency {latency * 1000:.0f} ms: ratio to ideal {spread(ratios)}", flush=True)


if __name__ == "__main__":
    main()
