"""Start-up figures: wall time of `linesync --help`, `--version` and a few more, against `python -c pass`.

    python benchmarks/startup.py [N]

Each run is a fresh interpreter, as when an operator types the command; the command
lines take turns, round after round, so a machine shared with other work slows them
alike, and each figure is a ratio to the bare interpreter's start measured in the
same rounds (target: under 4x for `--help` and `--version`). `--help` is measured
piped (what scripts and `| less` get: the fixed text of linesync_cli/root_help.py)
and on a terminal (a pseudo-terminal: Typer's Rich help, rendered live). Also prints
the slowest imports of `linesync --help` on a terminal's path (python -X importtime)
so a regression has a name. Prints figures; asserts nothing (speed targets are not tests).
"""

from __future__ import annotations

import os
import pty
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
ON_A_TERMINAL = "--help (terminal)"


def linesync_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m linesync_cli`."""
    script = Path(sys.executable).parent / "linesync"
    if script.is_file():
        return [str(script)]
    found = shutil.which("linesync")
    return [found] if found else [sys.executable, "-m", "linesync_cli"]


def run_once(argv: list[str], env: dict[str, str], terminal: bool = False) -> float:
    if not terminal:
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        return time.perf_counter() - started
    leader, follower = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 65536):
                break
        except OSError:
            break
    proc.wait()
    elapsed = time.perf_counter() - started
    os.close(leader)
    return elapsed


def slowest_imports(env: dict[str, str], top: int = 8) -> list[tuple[int, str]]:
    """Cumulative import time (µs) of the top-level imports of `linesync --help`."""
    # The app's path (what a terminal gets): the piped one imports next to nothing.
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "from linesync_cli.app import main; main()", "--help"],
                            capture_output=True, text=True, env=env)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # top-level and their direct imports
            rows.append((int(match.group(1)), match.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINESYNC_", "FORCE_COLOR", "TTY_"))}
    env.pop("COLUMNS", None)
    base = linesync_argv()
    lines = {"python -c pass": ([sys.executable, "-c", "pass"], False)}
    lines |= {" ".join(args): ([*base, *args], False) for args in COMMAND_LINES}
    lines[ON_A_TERMINAL] = ([*base, "--help"], True)
    times: dict[str, list[float]] = {name: [] for name in lines}
    for _ in range(runs):
        for name, (argv, terminal) in lines.items():
            times[name].append(run_once(argv, env | ({"TERM": "xterm-256color"} if terminal else {}), terminal))
    bare = statistics.median(times["python -c pass"])
    load = os.getloadavg()
    print(f"{' '.join(base)}  ({runs} rounds, median; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<24} median {median * 1000:6.0f} ms  {median / bare:5.1f}x bare   "
              f"min {min(values) * 1000:6.0f} ms   max {max(values) * 1000:6.0f} ms")
    print("slowest imports of `linesync --help` on a terminal's path (cumulative):")
    for micros, name in slowest_imports(env):
        print(f"  {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
