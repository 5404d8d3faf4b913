"""Dry-run throughput and peak memory of the local backfill pipeline, against a reference.

Generates N actions (CSV, 10,000 LINE users, all linked through a link map with
profile IDs, so nothing goes over the network), then runs, each in a fresh process:

- the reference: Python's csv module reading the same file and json.dumps of one
  dict per row (the least a Python tool that reads and encodes each record does);
- linesync: `linesync backfill actions.csv --link-map map.csv --dry-run --json`;
- with --compare DIR, the same command from another checkout (its own .venv), e.g.
  the main branch, for a before/after figure.

The runs alternate (reference, linesync, [old], reference, linesync, [old], ...) so
a change in the machine's load hits them alike; each figure is the median over
--runs. CPU time is the process's user + system time, peak memory its own ru_maxrss
(os.wait4). The ratio that matters on a shared machine is linesync over the
reference in the same run.

    python benchmarks/backfill_dryrun.py                     # 100,000 and 1,000,000
    python benchmarks/backfill_dryrun.py --ten-million       # and 10,000,000 (about 15 min)
    python benchmarks/backfill_dryrun.py --sizes 1000000 --runs 3 --compare /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backfill_data import line_id, write_actions_csv, write_link_map  # noqa: E402

USERS = 10_000
REFERENCE = """
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    reader = csv.reader(fh)
    header = next(reader)
    n = 0
    for row in reader:
        json.dumps(dict(zip(header, row)))
        n += 1
print(n)
"""


def measure(argv: list[str], cwd: Path | None, env: dict[str, str], work: Path) -> dict:
    """Run one process to the end: wall and CPU seconds, its own peak RSS, its stdout."""
    out_path, err_path = work / "stdout", work / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{err_path.read_text()[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "stdout": out_path.read_text()}


def linesync_argv(python: str, actions: Path, link_map: Path) -> list[str]:
    return [python, "-m", "linesync_cli", "backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--json"]


def bench(n: int, work: Path, runs: int, compare: Path | None) -> dict:
    actions = work / f"actions-{n}.csv"
    if not actions.exists():
        write_actions_csv(actions, n, USERS)
    link_map = work / "map.csv"
    if not link_map.exists():
        write_link_map(link_map, {line_id(u): f"01BENCH{u:019d}" for u in range(USERS)})
    (work / "none.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    env.update({"LINESYNC_STATE_DIR": str(work / "state"), "LINESYNC_CONFIG": str(work / "none.toml")})
    here = Path(__file__).resolve().parents[1]
    kinds = {"reference": ([sys.executable, "-c", REFERENCE, str(actions)], None),
             "linesync": (linesync_argv(sys.executable, actions, link_map), here)}
    if compare is not None:
        kinds["old"] = (linesync_argv(str(compare / ".venv" / "bin" / "python"), actions, link_map), compare)
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    loads = []
    for _ in range(runs):
        for kind, (argv, cwd) in kinds.items():
            loads.append(os.getloadavg()[0])
            results[kind].append(measure(argv, cwd, env, work))
    for kind in ("linesync", "old"):
        for r in results.get(kind, []):
            counts = json.loads(r["stdout"])["counts"]
            if counts["would_send"] != n or not counts["reconciled"]:
                raise SystemExit(f"{kind}: {counts}")
    if any(int(r["stdout"]) != n for r in results["reference"]):
        raise SystemExit("the reference did not read every row")

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    row = {"actions": n, "input_mb": round(actions.stat().st_size / 1e6, 1), "runs": runs,
           "load_average_1m": [round(min(loads), 1), round(max(loads), 1)],
           "linesync_cpu_s": round(med("linesync", "cpu"), 2), "linesync_wall_s": round(med("linesync", "wall"), 2),
           "linesync_cpu_us_per_action": round(med("linesync", "cpu") / n * 1e6, 2),
           "linesync_actions_per_cpu_s": round(n / med("linesync", "cpu")),
           "linesync_peak_rss_mb": round(max(r["rss_mb"] for r in results["linesync"]), 1),
           "reference_cpu_s": round(med("reference", "cpu"), 2), "reference_wall_s": round(med("reference", "wall"), 2),
           "ratio_cpu": round(med("linesync", "cpu") / med("reference", "cpu"), 2),
           "ratio_wall": round(med("linesync", "wall") / med("reference", "wall"), 2),
           "ratio_cpu_runs": [round(a["cpu"] / b["cpu"], 2) for a, b in zip(results["linesync"], results["reference"],
                                                                             strict=True)]}
    if compare is not None:
        row |= {"old_cpu_s": round(med("old", "cpu"), 2), "old_peak_rss_mb": round(max(r["rss_mb"] for r in results["old"]), 1),
                "speedup_cpu": round(med("old", "cpu") / med("linesync", "cpu"), 2),
                "speedup_cpu_runs": [round(a["cpu"] / b["cpu"], 2) for a, b in zip(results["old"], results["linesync"],
                                                                                   strict=True)]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes_given", type=int, nargs="*", metavar="N", help="sizes, as --sizes")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--ten-million", action="store_true", help="add the 10,000,000 case (long)")
    parser.add_argument("--runs", type=int, default=1, help="alternating runs of each process per size")
    parser.add_argument("--compare", type=Path, help="another checkout (with .venv) to time the same dry run from")
    parser.add_argument("--work", type=Path, help="keep the generated inputs here (default: a temporary directory)")
    args = parser.parse_args()
    sizes = (args.sizes_given or args.sizes) + ([10_000_000] if args.ten_million else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            started = time.perf_counter()
            row = bench(n, work, args.runs, args.compare)
            row["benchmark_s"] = round(time.perf_counter() - started)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
