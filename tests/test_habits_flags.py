"""Issue 15, items 1 and 5: global flags anywhere, one `-v`, `--quiet`, `--timeout`/`--retries`,
and saying what the network is doing (retry notes, errors naming the operation and page).

Each CLI test keeps stdout and stderr apart and runs on a (faked) terminal and piped.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from linesync_cli.app import hoist_global_options
from tests.support.standin_cli import KLAVIYO_TEST_KEY, run_cli

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLES = PROJECT / "examples"
TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "120"}
PIPED = {"TTY_COMPATIBLE": "0"}
MODES = pytest.mark.parametrize("mode", [TERMINAL, PIPED], ids=["terminal", "piped"])



def plain(text: str) -> str:
    """Without SGR styling (bold `error:` on a terminal)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


TAKES_VALUE = {"--state-dir": True, "--config": True, "-v": False, "--verbose": False, "-q": False, "--debug": False}


@pytest.mark.parametrize(("argv", "hoisted"), [
    (["backfill", "f.csv", "--dry-run", "--state-dir", "D"], ["--state-dir", "D", "backfill", "f.csv", "--dry-run"]),
    (["links", "-v", "sync"], ["-v", "links", "sync"]),
    (["config", "show", "--state-dir=D"], ["--state-dir=D", "config", "show"]),
    (["doctor", "-vq"], ["-vq", "doctor"]),
    (["doctor", "-vd"], ["doctor", "-vd"]),  # -d is doctor's own: the cluster is not global
    (["backfill", "--", "--debug"], ["backfill", "--", "--debug"]),  # after --, a file named --debug
    (["--debug", "metrics"], ["--debug", "metrics"]),
])
def test_hoisting_moves_only_global_options(argv, hoisted):
    assert hoist_global_options(argv, TAKES_VALUE) == hoisted


def _state_dir_of(result) -> tuple[str, str]:
    assert result.exit_code == 0, result.stderr
    row = next(r for r in json.loads(result.stdout)["settings"] if r["variable"] == "LINESYNC_STATE_DIR")
    return row["value"], row["source"]


@pytest.mark.parametrize("argv", [
    ["--state-dir", "{d}", "config", "show", "--json"],
    ["config", "--state-dir", "{d}", "show", "--json"],
    ["config", "show", "--json", "--state-dir", "{d}"],
    ["config", "show", "--state-dir={d}", "--json"],
])
def test_a_global_option_works_before_after_and_inside_a_group(argv, tmp_path, cli_env):
    wanted = tmp_path / "elsewhere"
    result = run_cli([a.format(d=wanted) for a in argv], env=cli_env | PIPED)
    assert _state_dir_of(result) == (str(wanted), "flag")


@MODES
def test_global_flags_after_the_command_on_a_dry_run_backfill(mode, tmp_path, cli_env):
    state = tmp_path / "after"
    result = run_cli(["backfill", str(EXAMPLES / "actions.csv"), "--link-map", str(EXAMPLES / "link-map.csv"),
                      "--dry-run", "--state-dir", str(state), "--no-color"], env=cli_env | mode)
    assert result.exit_code == 1, result.stderr  # the example holds one invalid record
    assert "No such option" not in result.stderr
    assert "dry run:" in result.stderr and result.stdout.strip()
    # The dry run's rejects went to the state dir given after the command, not the environment's.
    assert state.is_dir() and not (tmp_path / "state").exists()


@MODES
def test_v_means_verbose_wherever_it_is_written(mode, cli_env, klaviyo_standin):
    for argv in (["-v", "metrics", "--json", "--allow-missing"], ["metrics", "--json", "--allow-missing", "-v"]):
        result = run_cli(argv, env=cli_env | mode)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["metrics"]  # stdout stays clean JSON
        assert "linesync.http: GET " in result.stderr and "/api/metrics" in result.stderr
        assert KLAVIYO_TEST_KEY not in result.stderr


def test_doctor_v_is_the_root_verbose_not_a_doctor_option():
    from tests.support.cli_lines import parse_command_line

    parsed = parse_command_line(["doctor", "-v"])
    assert parsed.params["details"] is False  # -v is no longer doctor's --details
    assert parse_command_line(["doctor", "-d"]).params["details"] is True


@MODES
def test_quiet_keeps_data_and_errors_only(mode, cli_env):
    args = ["backfill", str(EXAMPLES / "actions.csv"), "--link-map", str(EXAMPLES / "link-map.csv"), "--dry-run"]
    loud = run_cli(args, env=cli_env | mode)
    quiet = run_cli([*args, "-q"], env=cli_env | mode)
    assert loud.exit_code == quiet.exit_code == 1, quiet.stderr  # the example holds one invalid record
    assert "dry run:" in loud.stderr
    assert plain(quiet.stderr).startswith("error: 1 record(s) would not be sent")  # the error stays
    assert "dry run:" not in quiet.stderr and "linkage:" not in quiet.stderr
    assert quiet.stdout == loud.stdout and quiet.stdout.strip()
    failed = run_cli(["--quiet", "backfill", "missing.csv", "--dry-run"], env=cli_env | mode)
    assert failed.exit_code == 2
    assert failed.stdout == ""
    assert plain(failed.stderr).startswith("error:") and "missing.csv" in failed.stderr


def test_verbose_and_quiet_together_is_a_usage_error(cli_env):
    result = run_cli(["metrics", "-v", "-q"], env=cli_env | PIPED)
    assert result.exit_code == 2
    assert "--verbose and --quiet" in result.stderr and result.stdout == ""


def _unreachable_url() -> str:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _offline_env(cli_env) -> dict:
    return cli_env | {"LINESYNC_KLAVIYO_BASE_URL": _unreachable_url()}


@pytest.mark.parametrize(("retries", "attempts"), [("0", "1 attempt"), ("2", "3 attempts")])
def test_retries_sets_how_often_an_unreachable_api_is_tried(retries, attempts, cli_env, fast_retries):
    result = run_cli(["metrics", "--retries", retries], env=_offline_env(cli_env) | PIPED)
    assert result.exit_code == 4
    assert f"after {attempts} while listing metrics" in result.stderr
    assert result.stderr.count("Klaviyo unreachable, retry") == int(retries)


def test_timeout_bounds_each_response(cli_env):
    # A server that accepts connections and never answers.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        env = cli_env | {"LINESYNC_KLAVIYO_BASE_URL": f"http://127.0.0.1:{server.getsockname()[1]}"} | PIPED
        result = run_cli(["metrics", "--timeout", "0.3", "--retries", "0"], env=env)
    assert result.exit_code == 4
    assert "timed out" in result.stderr and "after 1 attempt" in result.stderr
    assert result.stdout == ""


def test_retry_notes_are_plain_lines_when_piped(cli_env, fast_retries):
    result = run_cli(["metrics", "--retries", "3"], env=_offline_env(cli_env) | PIPED)
    assert result.exit_code == 4 and result.stdout == ""
    lines = result.stderr.splitlines()
    notes = [line for line in lines if line.startswith("Klaviyo unreachable, retry ")]
    assert [n.split(" in ")[0] for n in notes] == [f"Klaviyo unreachable, retry {i}/3" for i in (1, 2, 3)]
    assert all(n.endswith("s (listing metrics)") for n in notes)
    assert "\r" not in result.stderr
    assert lines[-2].startswith("error: Klaviyo at 127.0.0.1:")  # one error line, then its hint
    assert lines[-1].startswith("hint: ")


def test_retry_notes_update_one_line_on_a_terminal(cli_env, fast_retries):
    result = run_cli(["metrics", "--retries", "3"], env=_offline_env(cli_env) | TERMINAL)
    assert result.exit_code == 4 and result.stdout == ""
    before_error = plain(result.stderr).split("error:")[0]
    # Each note overwrites the last (carriage return + erase line), no newline between them,
    # and the line is erased before the error is printed.
    assert before_error.count("\r\x1b[2KKlaviyo unreachable, retry ") == 3
    assert "\n" not in before_error
    assert before_error.endswith("\r\x1b[2K")


def test_quiet_silences_retry_notes(cli_env, fast_retries):
    result = run_cli(["-q", "metrics", "--retries", "2"], env=_offline_env(cli_env) | PIPED)
    assert result.exit_code == 4
    assert "retry" not in result.stderr and result.stderr.startswith("error: ")


def test_verbose_logs_the_attempt_count(cli_env, fast_retries):
    result = run_cli(["metrics", "--retries", "2", "-v"], env=_offline_env(cli_env) | PIPED)
    assert result.exit_code == 4
    assert "(attempt 2/3)" in result.stderr and "(attempt 3/3)" in result.stderr


@MODES
def test_an_api_error_names_the_operation_and_page(mode, cli_env, klaviyo_standin):
    page1 = {"data": [], "links": {"self": "x", "next": "https://elsewhere.example/api/metrics?page%5Bcursor%5D=abc"}}
    klaviyo_standin.respond_next("/api/metrics", 200, page1, content_type="application/vnd.api+json")
    klaviyo_standin.respond_next("/api/metrics", 404, {"errors": [{"status": "404", "title": "Not Found"}]},
                                 content_type="application/vnd.api+json")
    result = run_cli(["metrics"], env=cli_env | mode)
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    errors = [line for line in plain(result.stderr).splitlines() if line.startswith("error:")]
    assert errors == ["error: Klaviyo: not found (404: Not Found) while listing metrics, page 2"]
