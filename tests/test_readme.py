"""The README's two newcomer commands and its offline tour stay true.

The first runs a dry-run backfill on the shipped examples; the second is the test
command, which .ci/run must run verbatim. The "Try it offline" tour runs against a
real `linesync sandbox`, and its shown output is checked where it is stable.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.support.standin_cli import clean_env, run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_sh_blocks(n: int) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)
    assert len(blocks) >= n, "README must start with the two newcomer commands in ```sh blocks"
    return blocks[:n]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test_command = _first_sh_blocks(2)
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command.strip() in [line.strip() for line in ci_lines], (
        ".ci/run must run exactly the README's test command:\n" + test_command
    )


def test_ci_checks_lint_and_types_before_the_tests() -> None:
    _, test_command = _first_sh_blocks(2)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    tests_at = ci_lines.index(test_command.strip())
    for check in ("ruff check .", "mypy"):
        assert check in ci_lines[:tests_at], f".ci/run must run `{check}` before the tests"


def test_the_first_command_is_a_credential_free_dry_run_on_the_examples(tmp_path, monkeypatch) -> None:
    install_and_run, _ = _first_sh_blocks(2)
    linesync_part = install_and_run.split("&&")[-1].strip()
    args = shlex.split(linesync_part)
    assert args[0] == "linesync" and "--dry-run" in args
    monkeypatch.chdir(ROOT)
    env = clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    result = run_cli(args[1:] + ["--format", "json"], env=env)
    # One bad row in examples/actions.csv: rejected records make the run exit 1 (README says so).
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    import json

    counts = json.loads(result.stdout)["counts"]
    assert counts["reconciled"] is True
    assert counts["rejected"] == 1
    for path in args[1:]:
        if path.startswith("examples/"):
            assert (ROOT / path).is_file(), f"README names {path}, which does not exist"
    # The README shows this run's summary table: its figures must be the real ones.
    for label, key in (("records read", "read"), ("to send", "would_send"), ("unlinked", "unlinked"),
                       ("duplicates", "duplicates"), ("rejected", "rejected")):
        assert re.search(rf"^{label}\s+{counts[key]}\b", README, flags=re.M), (
            f"README's sample summary says something else for {label!r}: the run gives {counts[key]}"
        )


# -- the "Try it offline" tour -------------------------------------------------------------

# Output that changes from run to run: ports, the sandbox's key and token, times, ages,
# durations, paths under the home directory, pids, and month-dependent unique bounds.
VOLATILE = re.compile(r"127\.0\.0\.1:\d+|pk_sandbox_|sandbox_line_|\d{4}-\d{2}-\d{2}T|\d+(\.\d+)?[smhd] ago"
                      r"|in \d+\.\d+s|~/|~|pid\s+\d+|\bpid \d+|–"
                      # events pull's ranges read (times of day) and speed; backfill verify's estimate from aggregates,
                      # which lag behind a send
                      r"|\d{4}-\d{2}-\d{2} \d{2}:\d{2}|holds \d+ in the range|events/s\)")
# The demo's days are relative to the day it starts: dates are compared as <date>, and the rows
# of a per-day table (a line starting with a date) shift with the hour (reconcile's JST days),
# so the gap days' rows are checked by name instead.
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
DAY_ROW = re.compile(r"^\d{4}-\d{2}-\d{2}\s")


def _tour() -> list[tuple[str, list[str]]]:
    """(command line, output lines shown under it) for every `$ ` line of the section."""
    section = README.split("## Try it offline", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```sh\n(.*?)\n```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_the_offline_tour_runs_against_a_sandbox_as_shown(tmp_path, monkeypatch) -> None:
    steps = _tour()
    assert [cmd for cmd, _ in steps][:2] == ["linesync sandbox start --detach", 'eval "$(linesync sandbox env)"']
    monkeypatch.chdir(ROOT)
    (tmp_path / "none.toml").write_text("")
    base = clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(tmp_path / "none.toml"))
    env = dict(base)
    checked = 0
    try:
        for command, shown in steps:
            if command.startswith("eval "):
                result = run_cli(["sandbox", "env"], env=env)
                for line in result.stdout.splitlines():
                    env.update(word.split("=", 1) for word in shlex.split(line)[1:])
                continue
            # As the shell would: "$LINESYNC_STATE_DIR/..." is the directory the sandbox's exports set.
            args = [re.sub(r"\$(\w+)", lambda m: env[m.group(1)] or "", a) for a in shlex.split(command)[1:]]
            if args[:3] == ["sandbox", "start", "--detach"]:
                args += ["--port", "0"]  # the README's default port may be taken on this machine
            result = run_cli(args, env=env)
            # The README shows an `error:` line exactly for the commands that fail (exit 1).
            fails = any(line.startswith("error: ") for line in shown)
            assert result.exit_code == (1 if fails else 0), f"{command}: {result.stderr}"
            assert "Traceback" not in result.stderr
            output = result.stdout + "\n" + result.stderr
            actual = DATE.sub("<date>", _squash(output))
            for line in shown:
                if line.strip() and not VOLATILE.search(line) and not DAY_ROW.match(line):
                    assert DATE.sub("<date>", _squash(line)) in actual, f"`{command}` no longer prints {line!r}:\n{output}"
                    checked += 1
            if args[:1] == ["reconcile"] and "--request-id" not in args:
                checked += _check_reconcile_names_the_gap(output, env)
            if args[:2] == ["report", "broadcasts"]:
                checked += _check_the_backfill_landed_on_one_broadcast(output)
            if args[:3] == ["sandbox", "start", "--detach"]:
                checked += _check_start_names_the_request_id_the_tour_uses(output, steps)
    finally:
        run_cli(["sandbox", "stop"], env=base)
    assert checked >= 60, f"only {checked} README output lines were checked"
    assert not (tmp_path / "state" / "sandbox" / "sandbox.json").exists()


def _check_reconcile_names_the_gap(output: str, env: dict) -> int:
    """reconcile names exactly the demo's two gap days (the seed's, from `sandbox status`), with their size."""
    import json

    status = run_cli(["sandbox", "status", "--json"], env=env)
    gap = json.loads(status.stdout)["summary"]["gap_days"]
    assert len(gap) == 2
    short_rows = [line.split()[0] for line in output.splitlines() if DAY_ROW.match(line) and "SHORT" in line]
    assert short_rows == gap, output
    assert f"Klaviyo is short on 2 of 14 days ({gap[0]} to {gap[1]})" in _squash(output)
    assert f"error: 2 short days ({gap[0]} to {gap[1]})" in output
    missing = re.search(r"; ([\d,]+) Delivered LINE Message events missing in all", _squash(output))
    assert missing and int(missing.group(1).replace(",", "")) > 200, output  # the gap holds a broadcast
    return 4


def _check_the_backfill_landed_on_one_broadcast(output: str) -> int:
    """The tour's actions file sent a second Sent LINE Message to two people the demo's broadcast
    reached: that broadcast's row (inside --since 30d, on any day) has 2 more events than people."""
    sent = [re.match(r"^(bc-\d{8})\s+\S+\s+(\d+) / (\d+)\s", line) for line in output.splitlines()]
    extra = {m.group(1): int(m.group(2)) - int(m.group(3)) for m in sent if m}
    assert len(extra) == 3 and sorted(extra.values()) == [0, 0, 2], output
    return 1


def _check_start_names_the_request_id_the_tour_uses(output: str, steps: list[tuple[str, list[str]]]) -> int:
    """`sandbox start` prints the demo's LINE request ID, and it is the one the tour reconciles."""
    printed = re.search(r"LINE request ID of a broadcast: ([0-9a-f-]{36})", output)
    assert printed, output
    used = [cmd for cmd, _ in steps if "--request-id" in cmd]
    assert used and all(f"--request-id {printed.group(1)} " in cmd for cmd in used), used
    return 1


# -- the README's shown output is the real output (issue 15 item 8) -----------------------------

def _block_after(marker: str) -> list[str]:
    """The lines of the first ``` block after MARKER in the README."""
    _, sep, tail = README.partition(marker)
    assert sep, f"README has no {marker!r}"
    if not tail.startswith("```") and not marker.endswith("\n"):
        tail = tail.split("\n```\n", 1)[1]
    elif tail.startswith("```"):
        tail = tail.split("\n", 1)[1]
    return [line.rstrip() for line in tail.split("```", 1)[0].strip("\n").splitlines()]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _normalised_rejects(text: str, state: Path) -> str:
    # The state dir is the reader's own and the file name ends in a fingerprint of the inputs;
    # the README says both vary and shows them as ~/.local/state/linesync and <fingerprint>.
    text = text.replace(str(state), "~/.local/state/linesync")
    return re.sub(r"dry-run-[0-9a-f]{12}\.jsonl", "dry-run-<fingerprint>.jsonl", text)


def test_the_first_commands_output_is_the_one_shown(tmp_path, monkeypatch) -> None:
    install_and_run, _ = _first_sh_blocks(2)
    args = shlex.split(install_and_run.split("&&")[-1].strip())
    monkeypatch.chdir(ROOT)
    state = tmp_path / "state"
    (tmp_path / "none.toml").write_text("")
    env = clean_env(LINESYNC_STATE_DIR=str(state), LINESYNC_CONFIG=str(tmp_path / "none.toml"), TTY_COMPATIBLE="0")
    result = run_cli(args[1:], env=env)
    assert result.exit_code == 1
    assert _lines(result.stdout) == _block_after("prints the summary below.")
    assert _lines(_normalised_rejects(result.stderr, state)) == _block_after("On stderr:")


def test_config_show_output_is_the_one_shown(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    key = "pk_" + "x" * 34  # the README shows a 37-character key
    env = clean_env(LINESYNC_KLAVIYO_API_KEY=key, HOME="/root", XDG_STATE_HOME=None, XDG_CONFIG_HOME=str(tmp_path),
                    TTY_COMPATIBLE="0")
    result = run_cli(["config", "show"], env=env)
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == _block_after("$ linesync config show\n")
