"""Start-up figures: wall time of `linesync --help` (and a few more command lines), median of N runs.

    /work/venv/bin/python benchmarks/startup.py [N]

Each run is a fresh interpreter, as when an operator types the command. Also prints
the slowest imports of `linesync --help` (python -X importtime) so a regression has a
name. Prints figures; asserts nothing (speed targets are not tests).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMAND_LINES = (
    ["--help"],
    ["--version"],
    ["backfill", "--help"],
    ["doctor", "--help"],
)


def linesync_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m linesync_cli`."""
    script = Path(sys.executable).parent / "linesync"
    if script.is_file():
        return [str(script)]
    found = shutil.which("linesync")
    return [found] if found else [sys.executable, "-m", "linesync_cli"]


def time_runs(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - started)
    return times


def slowest_imports(env: dict[str, str], top: int = 8) -> list[tuple[int, str]]:
    """Cumulative import time (µs) of the top-level imports of `linesync --help`."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "linesync_cli", "--help"],
                            capture_output=True, text=True, env=env)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # top-level and their direct imports
            rows.append((int(match.group(1)), match.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")} | {"COLUMNS": "100"}
    base = linesync_argv()
    baseline = statistics.median(time_runs([sys.executable, "-c", "pass"], runs, env))
    print(f"{' '.join(base)}  ({runs} runs each, median; bare interpreter start {baseline * 1000:.0f} ms)")
    for args in COMMAND_LINES:
        times = time_runs([*base, *args], runs, env)
        print(f"  linesync {' '.join(args):<18} median {statistics.median(times) * 1000:6.0f} ms   "
              f"min {min(times) * 1000:6.0f} ms   max {max(times) * 1000:6.0f} ms")
    print("slowest imports of `linesync --help` (cumulative):")
    for micros, name in slowest_imports(env):
        print(f"  {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
