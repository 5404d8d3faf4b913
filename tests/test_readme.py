"""The README's two newcomer commands stay true.

The first runs a dry-run backfill on the shipped examples; the second is the test
command, which .ci/run must run verbatim.
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
