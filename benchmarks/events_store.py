"""The store path of `linesync events pull` alone: raw Get Events pages into Mirror.store_pages, no HTTP.

Pages are built beforehand as Klaviyo sends them (1,000 events each, the JSON the client
hands the mirror) for 9 metrics x 8 readers' slices, stored in batches of 16 pages taken
round-robin from the slices as the pull's readers deliver them; every 10th batch re-stores
its previous batch (the overlap window's re-reads), which must add nothing. Each size runs
in its own process so its peak memory is its own VmHWM (/proc/self/status), read at the end.
CPU is the process's user+system time for storing only (building the pages is excluded).

    python benchmarks/events_store.py [--events 200000 1000000 3000000] [--code DIR] [--memory-limit 128MB]

`--code DIR` stores with the linesync package found in DIR (e.g. a checkout of main), for before/after;
`--memory-limit` replaces the mirror's MEMORY_LIMIT for the run (where the code has one).
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

METRICS = 9
READERS = 8
PAGE = 1000
BATCH = 16


def vm(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(field)) // 1024


def page_body(metric: int, reader: int, page: int, end: datetime, span: timedelta) -> bytes:
    start = end - span + reader * span / READERS
    step = span / READERS / 10_000_000
    data = []
    for k in range(PAGE):
        n = page * PAGE + k
        data.append({"type": "event", "id": f"E{metric}x{reader}x{n:09d}", "attributes": {
            "datetime": (start + n * step).isoformat(), "event_properties": {
                "$event_id": f"u-{metric}-{reader}-{n}", "Broadcast ID": f"b-{n // 5000}",
                "Message ID": f"m-{n // 500}", "LINE User ID": f"U{n % 20000:032x}", "Channel": "LINE"}},
            "relationships": {"profile": {"data": {"type": "profile", "id": f"P{(n * 7 + reader) % 20000:06d}"}}}})
    return json.dumps({"data": data}, separators=(",", ":")).encode()


def child(events: int, memory_limit: str | None) -> None:
    import linesync_cli
    from linesync_cli.core.events import mirror as mirror_module
    from linesync_cli.core.events.mirror import Mirror

    if memory_limit:
        mirror_module.MEMORY_LIMIT = memory_limit  # type: ignore[attr-defined]

    assert linesync_cli.__file__.startswith(sys.path[0]), linesync_cli.__file__

    end = datetime(2026, 11, 1, tzinfo=UTC)
    span = timedelta(days=30)
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Mirror(Path(tmp) / "events.duckdb")
        planned = [(f"M{m}", f"metric{m}", end - span + r * span / READERS, end - span + (r + 1) * span / READERS, False)
                   for m in range(METRICS) for r in range(READERS)]
        slices = mirror.add_slices(planned)
        pages_each = -(-events // PAGE // len(slices))
        order = [(i, p) for p in range(pages_each) for i in range(len(slices))][:events // PAGE]
        batches = [order[k:k + BATCH] for k in range(0, len(order), BATCH)]
        stored_cpu = 0.0
        previous: list = []
        started = time.perf_counter()
        for b, batch in enumerate(batches):
            pages = [(slices[i], page_body(i // READERS, i % READERS, p, end, span), f"c{p}", None) for i, p in batch]
            if b % 10 == 9:
                pages = previous + pages
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            mirror.store_pages(pages)
            after = resource.getrusage(resource.RUSAGE_SELF)
            stored_cpu += (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
            previous = pages[-BATCH:]
        stored = mirror.scalar("SELECT count(*) FROM events")
        distinct = mirror.scalar("SELECT count(DISTINCT id) FROM events")
        limit = mirror.scalar("SELECT current_setting('memory_limit')")
        mirror.close()
        print(json.dumps({"events": stored, "limit": limit, "distinct": distinct, "peak_mb": vm("VmHWM"),
                          "cpu_ms_per_1000": 1000 * stored_cpu / stored * 1000,
                          "seconds": time.perf_counter() - started}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[200_000, 1_000_000, 3_000_000])
    parser.add_argument("--code", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--memory-limit")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.code)
        child(args.child, args.memory_limit)
        return
    print(f"code: {args.code}" + (f", memory limit {args.memory_limit}" if args.memory_limit else ""))
    for n in args.events:
        load = os.getloadavg()[0]
        extra = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        out = subprocess.run([sys.executable, __file__, "--code", args.code, "--child", str(n), *extra],
                             capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=args.code))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['events']:>9,} events ({r['distinct']:,} distinct)  peak RSS {r['peak_mb']} MB (DuckDB limit {r['limit']})  "
              f"CPU {r['cpu_ms_per_1000']:.0f} ms/1,000 events  {r['seconds']:.0f} s  "
              f"load {load:.1f}->{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
