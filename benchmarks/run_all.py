"""Run every benchmark and print one Markdown table of the figures with the command behind each.

    python benchmarks/run_all.py            # all of them (about 5 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # smaller sizes, for a smoke run

The table is what `docs/benchmarks.md` shows under "All figures"; each row names the
exact command that reproduces it. The scripts it runs each print their own figures
(JSON or text); this only collects them. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = "python"  # as the commands are shown; they run with this interpreter


def run(script: str, *args: str) -> tuple[str, str]:
    """(command as shown, stdout) of one benchmark script."""
    shown = " ".join([PY, f"benchmarks/{script}", *args])
    print(f"running: {shown}", file=sys.stderr, flush=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                          cwd=HERE.parent)
    if done.returncode != 0:
        raise SystemExit(f"{shown} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    print(f"  {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return shown, done.stdout


def json_docs(text: str) -> list[dict]:
    """Every JSON object printed (one a line, or one indented document)."""
    text = text.strip()
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (figures less steady)")
    quick = parser.parse_args().quick
    rows: list[tuple[str, str, str, str]] = []  # (figure, measured, target/ceiling, command)

    # linesync's own in-flight sizing (no --workers): what the targets are about.
    shown, out = run("backfill_throughput.py",
                     *(["--events", "30000", "--scale", "4", "--latency", "0.3"] if quick else []))
    for t in (d for d in json_docs(out) if "ratio_to_ideal" in d):
        latency = f"{t['latency_s'] * 1000:.0f} ms"
        rows.append((f"backfill: time of the ideal fixed-window client over linesync's, {latency} latency",
                     f"{t['ratio_to_ideal']:.3f}, of the floor {t['ratio_to_floor']:.3f} ({t['ideal_s']} s vs "
                     f"{t['linesync_s']} s; accepted per steady window {t['accepted_per_steady_window']}; "
                     f"load {t['load']})", "≥ 0.97", shown))
        rows.append((f"backfill: requests answered 429, {latency} latency",
                     f"{t['answered_429']} of {t['requests']} ({t['share_429']:.2%}; {t['429_by_window']})",
                     "< 0.1%", shown))

    sizes = ["100000"] if quick else ["100000", "1000000"]
    shown, out = run("backfill_dryrun.py", "--sizes", *sizes)
    for d in json_docs(out):
        rows.append((f"backfill --dry-run: {d['actions']:,} actions, CPU time against csv + json.dumps of each row",
                     f"{d['linesync_cpu_s']} s, {d['ratio_cpu']}x the reference ({d['reference_cpu_s']} s; "
                     f"{d['linesync_actions_per_cpu_s']:,} actions per CPU-second; load {d['load_average_1m']})",
                     "≤ 1.5x", shown))
        rows.append((f"backfill --dry-run: {d['actions']:,} actions, peak memory", f"{d['linesync_peak_rss_mb']} MB",
                     "≤ 200 MB, flat in size", shown))

    shown, out = run("links_sync.py", *(["--profiles", "30000"] if quick else []))
    s = json_docs(out)[0]
    if s["steady_state_profiles_per_second"]:
        rows.append(("links sync: profiles/s in steady state against get_profiles' steady ceiling",
                     f"{s['steady_state_profiles_per_second']:,} ({s['share_of_steady_ceiling']:.1%} of "
                     f"{s['steady_ceiling_profiles_per_second']:,}/s; windows {s['windows']['burst']}, "
                     f"{s['windows']['steady']}; {s['profiles']:,} profiles)",
                     "the steady ceiling (1,250/s at Klaviyo's speed)", shown))
    rows.append(("links sync: against the fastest possible for that many pages (burst first)",
                 f"{s['share_of_fastest_possible']:.1%} ({s['seconds']} s vs {s['fastest_possible_seconds']} s; "
                 f"{s['profiles_per_second']:,} profiles/s over the whole run)",
                 "", shown))
    rows.append(("links sync: requests answered 429", f"{s['throttled_429']} of {s['requests']}", "", shown))

    shown, out = run("reconcile_90d.py", *(["--days", "30", "--per-day", "50"] if quick else []))
    rc = json_docs(out)[0]
    d = rc["day_range"]
    rows.append((f"reconcile: {d['days']}-day range, API requests",
                 f"LINE {sum(d['line_requests'].values())} ({', '.join(f'{k} {v}' for k, v in d['line_requests'].items())}), "
                 f"Klaviyo {sum(d['klaviyo_requests'].values())}; 429s: {d['line_429']} + {d['klaviyo_429']}",
                 "one per day and endpoint (+1 followers)", shown))
    rows.append((f"reconcile: {d['days']}-day range, time under LINE's 60/h per endpoint",
                 f"{d['time_under_limits_s']:,.0f} s (floor {d['floor_s']:,.0f} s; processing {d['processing_s']} s)",
                 "the floor plus the pacing margin", shown))

    shown, out = run("startup.py", "5" if quick else "10")
    for name in ("--help", "--version", r"--help \(terminal\)"):
        m = re.search(rf"  {name}\s+median\s+(\d+) ms\s+([\d.]+)x bare", out)
        if m:
            rows.append((f"start-up: linesync {name.replace(chr(92), '')} (median)",
                         f"{m.group(1)} ms ({m.group(2)}x `python -c pass` in the same rounds)",
                         "< 4x" if "terminal" not in name else "", shown))

    print("| figure | measured | target / ceiling | command |")
    print("|---|---|---|---|")
    for figure, measured, target, command in rows:
        print(f"| {figure} | {measured} | {target} | `{command}` |")


if __name__ == "__main__":
    main()
