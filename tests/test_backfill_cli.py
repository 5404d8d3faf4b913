"""`linesync backfill` as a command: options, usage errors, output, exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.backfill_data import line_id, write_actions_csv, write_link_map
from tests.support.standin_cli import KLAVIYO_TEST_KEY, run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def offline(cli_env, tmp_path):
    """No API key; a link map with profile IDs for users 0-4 (user 5 on two profiles)."""
    env = cli_env | {"LINESYNC_KLAVIYO_API_KEY": None}
    mapping: dict = {line_id(u): f"01PROFILE{u:017d}" for u in range(5)}
    mapping[line_id(5)] = ["01PROFILEA0000000000000000", "01PROFILEB0000000000000000"]
    return env, write_link_map(tmp_path / "map.csv", mapping)


@pytest.mark.parametrize(("args", "says"), [
    (["--out", "x"], "--out writes the request bodies of a dry run"),
    (["--dry-run", "--restart"], "nothing to restart"),
    (["--dry-run", "--only", "sent,waved"], "'waved' is not a LINE action"),
    (["--dry-run", "--format", "xml"], "is not an output format (table or json)"),
    (["--dry-run", "--json", "--format", "table"], "disagree"),
    (["--dry-run", "--encoding", "klingon"], "not an encoding Python knows"),
    (["--dry-run", "--encoding", "utf-16"], "not supported"),
    (["--dry-run", "--timezone", "Mars/Olympus"], "not an IANA time zone"),
    (["--dry-run", "--since", "last week"], "neither a duration"),
    (["--dry-run", "--limit", "0"], "--limit"),
])
def test_usage_errors_exit_2(offline, tmp_path, args, says):
    env, link_map = offline
    actions = write_actions_csv(tmp_path / "a.csv", 3, 2)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), *args], env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert says in result.stderr


def test_no_files_is_a_usage_error(offline):
    env, _ = offline
    result = run_cli(["backfill"], env=env)
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_sending_without_a_key_stops_before_reading(cli_env, tmp_path, offline):
    _, link_map = offline
    env = cli_env | {"LINESYNC_KLAVIYO_API_KEY": None}
    actions = write_actions_csv(tmp_path / "a.csv", 3, 2)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map)], env=env)
    assert result.exit_code == 2
    assert "no Klaviyo API key" in result.stderr
    assert "records read" not in result.stdout + result.stderr


def test_a_mistyped_file_is_said_before_a_missing_key(cli_env, tmp_path, offline):
    _, link_map = offline
    env = cli_env | {"LINESYNC_KLAVIYO_API_KEY": None}
    result = run_cli(["backfill", str(tmp_path / "missing.csv"), "--link-map", str(link_map)], env=env)
    assert result.exit_code == 2
    assert "missing.csv does not exist" in result.stderr
    assert "API key" not in result.stderr


def test_no_link_index_and_no_link_map_says_what_to_run(offline, tmp_path):
    env, _ = offline
    actions = write_actions_csv(tmp_path / "a.csv", 3, 2)
    result = run_cli(["backfill", str(actions), "--dry-run"], env=env)
    assert result.exit_code == 2
    assert "linesync links sync" in result.stderr


def test_unlinked_and_ambiguous_alone_exit_0_and_are_listed(offline, tmp_path):
    env, link_map = offline
    actions = write_actions_csv(tmp_path / "a.csv", 80, 8)  # users 5 ambiguous, 6-7 unlinked
    unlinked = tmp_path / "out" / "unlinked.csv"
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--json",
                      "--unlinked", str(unlinked)], env=env)
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]
    assert (counts["would_send"], counts["ambiguous"], counts["unlinked"]) == (50, 10, 20)
    rows = unlinked.read_text().splitlines()
    assert rows == ["line_user_id,status,actions", f"{line_id(6)},unlinked,10", f"{line_id(7)},unlinked,10",
                    f"{line_id(5)},ambiguous,10"]
    assert "were not sent" in result.stderr


def test_table_summary_when_piped(offline):
    env, _ = offline
    result = run_cli(["backfill", str(EXAMPLES / "actions.csv"), str(EXAMPLES / "actions.jsonl"),
                      str(EXAMPLES / "webhooks.jsonl"), "--link-map", str(EXAMPLES / "link-map.csv"), "--dry-run"],
                     env=env)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "Dry run: nothing was sent"
    assert any(line.split()[:3] == ["records", "read", "18"] for line in lines)
    assert any(line.startswith("skipped: webhook message") for line in lines)
    assert "1 record(s) would not be sent" in result.stderr
    assert "examples/actions.csv" in result.stderr or "rejected records" in result.stderr


def test_standard_input_gzip_and_input_format_override(offline, tmp_path):
    env, link_map = offline
    text = write_actions_csv(tmp_path / "a.csv", 20, 5).read_bytes()
    result = run_cli(["backfill", "-", "--link-map", str(link_map), "--dry-run", "--json"], env=env,
                     input=gzip.compress(text))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["would_send"] == 20
    forced = run_cli(["backfill", str(tmp_path / "a.csv"), "--link-map", str(link_map), "--dry-run", "--json",
                      "--format", "jsonl"], env=env)
    assert forced.exit_code == 1  # read as JSON Lines, the CSV lines are invalid records
    assert json.loads(forced.stdout)["counts"]["rejected"] == 21


def test_out_writes_one_body_per_batch_and_replaces_old_ones(offline, tmp_path):
    env, link_map = offline
    actions = write_actions_csv(tmp_path / "a.csv", 2500, 5)
    out = tmp_path / "bodies"
    out.mkdir()
    (out / "batch-000009.json").write_text("stale")
    (out / "notes.txt").write_text("mine")
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["batch-000001.json", "batch-000002.json", "batch-000003.json",
                                                     "notes.txt"]
    total = sum(len(e["attributes"]["events"]["data"])
                for p in out.glob("batch-*.json")
                for e in json.loads(p.read_bytes())["data"]["attributes"]["events-bulk-create"]["data"])
    assert total == 2500


def test_runs_with_no_ledger_yet(offline):
    env, _ = offline
    result = run_cli(["backfill", "runs", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"runs": []}
    table = run_cli(["backfill", "runs"], env=env)
    assert table.exit_code == 0 and "no backfill runs yet" in table.stderr


def test_the_key_never_appears_in_output(cli_env, klaviyo_standin, tmp_path):
    users = {line_id(u): klaviyo_standin.add_profile() for u in range(3)}
    link_map = write_link_map(tmp_path / "map.csv", users)
    actions = write_actions_csv(tmp_path / "a.csv", 10, 3)
    result = run_cli(["--verbose", "backfill", str(actions), "--link-map", str(link_map)], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert KLAVIYO_TEST_KEY not in result.stdout + result.stderr
    ledger = (Path(cli_env["LINESYNC_STATE_DIR"]) / "ledger.sqlite").read_bytes()
    assert KLAVIYO_TEST_KEY.encode() not in ledger


def test_since_until_only_and_timezone_from_the_command_line(offline, tmp_path):
    env, link_map = offline
    u = line_id(1)
    actions = tmp_path / "a.csv"
    actions.write_text("action,line_user_id,occurred_at\n"
                       f"sent,{u},2026-03-01 08:59:59\n"  # naive: read in --timezone (before --since there)
                       f"sent,{u},2026-03-01 09:00:00\n"
                       f"clicked,{u},2026-03-01 10:00:00\n"
                       f"sent,{u},2026-03-02 09:00:00\n")  # at --until: excluded
    args = ["backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--json"]
    naive = run_cli(args, env=env)
    assert naive.exit_code == 1 and json.loads(naive.stdout)["counts"]["rejected"] == 4
    result = run_cli([*args, "--timezone", "Asia/Tokyo", "--since", "2026-03-01T09:00:00", "--until", "2026-03-02T09:00",
                      "--only", "Sent LINE Message"], env=env)
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]
    assert (counts["would_send"], counts["filtered"], counts["read"]) == (1, 3, 4)


@pytest.mark.parametrize("output", ["--json", "--format=table"])
def test_books_that_do_not_add_up_are_said(offline, tmp_path, monkeypatch, output):
    """A dispatched batch counted twice: the summary says reconciled false and stderr warns."""
    from linesync_cli.core.backfill import run as run_module

    real = run_module.DryRunOutlet.dispatch

    def counted_twice(self, batch, tick):
        taken = real(self, batch, tick)
        self._counts.would_send += 1
        return taken

    monkeypatch.setattr(run_module.DryRunOutlet, "dispatch", counted_twice)
    env, link_map = offline
    actions = write_actions_csv(tmp_path / "a.csv", 30, 5)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--dry-run", output], env=env)
    assert result.exit_code == 0, result.stderr
    if output == "--json":
        counts = json.loads(result.stdout)["counts"]
        assert counts["reconciled"] is False and counts["would_send"] == 31
    assert "the counts do not add up to the records read" in result.stderr


def test_books_that_add_up_say_nothing(offline, tmp_path):
    env, link_map = offline
    actions = write_actions_csv(tmp_path / "a.csv", 30, 8)  # users 6 and 7 are unlinked
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--json"], env=env)
    counts = json.loads(result.stdout)["counts"]
    assert counts["reconciled"] is True and counts["would_send"] + counts["unlinked"] + counts["ambiguous"] == 30
    assert "do not add up" not in result.stderr
