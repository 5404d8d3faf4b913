"""Dry-run throughput and peak memory of the local backfill pipeline.

Generates N actions (CSV, 10,000 LINE users, all linked through a link map with
profile IDs, so nothing goes over the network), then times

    linesync backfill actions.csv --link-map map.csv --dry-run --json

in a fresh process and reads its peak resident memory (ru_maxrss of the child).

    python benchmarks/backfill_dryrun.py 100000 1000000
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backfill_data import line_id, write_actions_csv, write_link_map  # noqa: E402

USERS = 10_000


def run(n: int, work: Path) -> dict:
    actions = work / f"actions-{n}.csv"
    if not actions.exists():
        write_actions_csv(actions, n, USERS)
    link_map = work / "map.csv"
    if not link_map.exists():
        write_link_map(link_map, {line_id(u): f"01BENCH{u:019d}" for u in range(USERS)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    env.update({"LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
    (work / "none.toml").write_text("")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "linesync_cli", "backfill", str(actions), "--link-map", str(link_map),
                           "--dry-run", "--json"], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode())
    counts = json.loads(proc.stdout)["counts"]
    # CPU seconds too: on a shared machine the wall time also counts other processes.
    return {"actions": n, "seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 2),
            "actions_per_second": round(n / elapsed), "load_average_1m": round(os.getloadavg()[0], 2),
            "peak_rss_mb": round(max(peak, before) / 1024, 1), "would_send": counts["would_send"],
            "batches": counts["batches"], "input_mb": round(actions.stat().st_size / 1e6, 1)}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            # Each size in its own child, so ru_maxrss (a high-water mark) is this size's own.
            if len(sizes) > 1:
                out = subprocess.run([sys.executable, __file__, str(n)], capture_output=True, text=True, check=True,
                                     env=os.environ | {"BENCH_DIR": tmp})
                print(out.stdout.strip())
            else:
                work = Path(os.environ.get("BENCH_DIR") or tmp)
                print(json.dumps(run(n, work)))


if __name__ == "__main__":
    main()
