"""`linesync backfill` end to end against the stand-in Klaviyo.

Every request the stand-in receives is checked against the official spec (the
fixture fails the test on a violation). The checks here are on what Klaviyo ends
up holding: exactly the expected events, on the linked profiles, never a profile
created or changed, whatever faults happened on the way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.backfill_data import (
    line_id,
    link_users,
    webhook_body,
    webhook_event,
    write_actions_csv,
    write_jsonl,
    write_link_map,
)
from tests.support.standin_cli import run_cli

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLES = PROJECT / "examples"
BULK = "/api/event-bulk-create-jobs"


def _summary(result) -> dict:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def _reconciles(counts: dict) -> None:
    buckets = ("sent", "would_send", "unlinked", "ambiguous", "duplicates", "rejected", "failed", "filtered", "pending")
    assert counts["read"] == sum(counts[b] for b in buckets) + sum(counts["skipped"].values())
    assert counts["reconciled"] is True


def _unique_ids(standin) -> list[str]:
    return [e["unique_id"] for e in standin.events]


@pytest.fixture
def linked(tmp_path, klaviyo_standin):
    """40 linked LINE users (profiles in the stand-in) and their link map."""
    mapping = link_users(klaviyo_standin, 40)
    return mapping, write_link_map(tmp_path / "map.csv", mapping)


def test_examples_dry_run_needs_no_key_and_sends_nothing(cli_env, klaviyo_standin, tmp_path):
    env = cli_env | {"LINESYNC_KLAVIYO_API_KEY": None}
    out = tmp_path / "bodies"
    result = run_cli(["backfill", str(EXAMPLES / "actions.csv"), str(EXAMPLES / "actions.jsonl"),
                      str(EXAMPLES / "webhooks.jsonl"), "--link-map", str(EXAMPLES / "link-map.csv"),
                      "--dry-run", "--out", str(out), "--json"], env=env)
    assert result.exit_code == 1, result.stderr  # the example CSV has one bad row, on purpose
    summary = _summary(result)
    counts = summary["counts"]
    _reconciles(counts)
    assert counts | {"skipped": None} == counts | {
        "read": 18, "would_send": 13, "sent": 0, "unlinked": 2, "duplicates": 1, "rejected": 1,
        "skipped": None, "batches": 1}
    assert counts["skipped"] == {"webhook message": 1}
    assert klaviyo_standin.requests == []
    bodies = sorted(out.glob("batch-*.json"))
    assert len(bodies) == 1
    body = json.loads(bodies[0].read_bytes())
    entries = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert all(e["attributes"]["profile"]["data"]["attributes"] == {} for e in entries)
    assert sum(len(e["attributes"]["events"]["data"]) for e in entries) == 13
    rejects = [json.loads(line) for line in Path(summary["rejects_file"]).read_text().splitlines()]
    assert [(r["line"], r["file"].endswith("actions.csv")) for r in rejects] == [(10, True)]
    assert "PK_" not in result.stderr.upper() or "pk_test" not in result.stderr


def test_sends_each_event_once_on_linked_profiles_and_resumes_to_nothing(cli_env, klaviyo_standin, linked, tmp_path):
    mapping, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 2500, 50)  # users 40-49 are unlinked
    unlinked_file = tmp_path / "unlinked.csv"
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json", "--unlinked", str(unlinked_file)]
    result = run_cli(args, env=cli_env)
    assert result.exit_code == 0, result.stderr
    counts = _summary(result)["counts"]
    _reconciles(counts)
    assert counts["sent"] == 2000 and counts["unlinked"] == 500 and counts["batches"] == 2
    assert len(klaviyo_standin.events) == 2000
    assert len(set(_unique_ids(klaviyo_standin))) == 2000
    profiles = set(mapping.values())
    assert {e["profile_id"] for e in klaviyo_standin.events} == profiles
    assert all(e["backfill_event"] is True and e["backfill_entry"] is True for e in klaviyo_standin.events)
    assert klaviyo_standin.profiles_created == 0 and klaviyo_standin.profiles_changed == 0
    assert not klaviyo_standin.flow_triggers
    unlinked_rows = unlinked_file.read_text().splitlines()
    assert unlinked_rows[0] == "line_user_id,status,actions"
    assert {row.split(",")[0] for row in unlinked_rows[1:]} == {line_id(u) for u in range(40, 50)}
    assert sum(int(row.split(",")[2]) for row in unlinked_rows[1:]) == 500

    jobs = klaviyo_standin.bulk_jobs
    again = run_cli(args, env=cli_env)
    assert again.exit_code == 0, again.stderr
    summary = _summary(again)
    assert summary["resumed"] is True
    assert summary["counts"]["sent"] == 2000 and summary["counts"]["sent_before"] == 2000
    assert klaviyo_standin.bulk_jobs == jobs  # nothing sent again
    assert len(klaviyo_standin.events) == 2000


def test_exactly_once_under_5xx_drops_and_429_windows(cli_env, klaviyo_standin, linked, tmp_path, fast_retries):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 12_000, 40)
    # Scaled-down windows, so that 12 requests over 4 workers run into them.
    klaviyo_standin.set_rate_limit("bulk_create_events", burst=(3, 0.2), steady=(8, 1.0))
    klaviyo_standin.throttle_next(3, BULK)  # Klaviyo's 429: no Retry-After, "Expected available in 0 seconds"
    klaviyo_standin.inject_fault_rate(0.3, seed=7, drop_share=0.5, processed_share=0.5)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    counts = _summary(result)["counts"]
    _reconciles(counts)
    assert counts["sent"] == 12_000
    assert len(klaviyo_standin.events) == 12_000
    assert len(set(_unique_ids(klaviyo_standin))) == 12_000
    bulk = klaviyo_standin.requests_for("bulk_create_events")
    assert sum(r.status == 429 for r in bulk) >= 3
    assert any(r.dropped for r in bulk) and any(r.status and r.status >= 500 for r in bulk)  # and faults happened


def test_a_400_with_pointers_refuses_just_those_events(cli_env, klaviyo_standin, linked, tmp_path):
    mapping, _ = linked
    users = dict(list(mapping.items())[:5])
    users[line_id(5)] = "01JNOSUCHPROFILE0000000000"  # the stand-in answers 400 pointing at this entry
    link_map = write_link_map(tmp_path / "map.csv", users)
    actions = write_actions_csv(tmp_path / "actions.csv", 60, 6)
    rejects = tmp_path / "rejects.jsonl"
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--json", "--rejects", str(rejects)],
                     env=cli_env)
    assert result.exit_code == 1
    counts = _summary(result)["counts"]
    _reconciles(counts)
    assert counts["sent"] == 50 and counts["failed"] == 10
    assert len(klaviyo_standin.events) == 50
    refused = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rejects.stat().st_mode & 0o777 == 0o600  # customers' IDs and links: owner only
    assert len(refused) == 10
    assert all(r["record"]["line_user_id"] == line_id(5) and "does not exist" in r["reason"] for r in refused)
    assert "refused by Klaviyo" in result.stderr


def test_a_400_without_pointer_is_split_until_the_rest_goes_through(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 400, 40)
    klaviyo_standin.respond_next(BULK, 400, {"errors": [{"id": "x", "status": 400, "code": "invalid",
                                                         "title": "Invalid input.", "detail": "Something."}]},
                                 content_type="application/vnd.api+json")
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert _summary(result)["counts"]["sent"] == 400
    assert len(klaviyo_standin.events) == 400
    assert klaviyo_standin.bulk_jobs == 2  # the two halves


def test_unavailable_stops_with_exit_4_and_the_rerun_finishes(cli_env, klaviyo_standin, linked, tmp_path, fast_retries):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 3000, 40)
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json", "--workers", "1"]
    klaviyo_standin.fail_next(100, status=503, path_prefix=BULK)
    result = run_cli(args, env=cli_env)
    assert result.exit_code == 4, result.stderr
    summary = _summary(result)
    assert summary["status"] == "stopped"
    _reconciles(summary["counts"])
    # Pending is counted by the run; Klaviyo's store says what was really left unsent.
    assert summary["counts"]["pending"] == 3000 - len(klaviyo_standin.events) > 0
    assert "run the same command again" in result.stderr
    klaviyo_standin.clear_faults()
    again = run_cli(args, env=cli_env)
    assert again.exit_code == 0, again.stderr
    assert _summary(again)["counts"]["sent"] == 3000
    assert len(klaviyo_standin.events) == 3000


def test_refused_credentials_exit_3(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 10, 5)
    env = cli_env | {"LINESYNC_KLAVIYO_API_KEY": "pk_test_wrong_key_000000"}
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map)], env=env)
    assert result.exit_code == 3
    assert "refused the API key" in result.stderr
    assert klaviyo_standin.events == []


def test_flows_are_listed_and_trigger_flows_needs_a_confirmation(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    metric = klaviyo_standin.add_metric("Sent LINE Message")
    klaviyo_standin.add_flow("Welcome after first LINE message", trigger_metric_id=metric)
    actions = write_actions_csv(tmp_path / "actions.csv", 18, 10)
    args = ["backfill", str(actions), "--link-map", str(link_map)]

    refused = run_cli([*args, "--trigger-flows"], env=cli_env)
    assert refused.exit_code == 2
    assert "Welcome after first LINE message" in refused.stderr and "--yes" in refused.stderr
    assert klaviyo_standin.events == []

    safe = run_cli(args, env=cli_env)
    assert safe.exit_code == 0, safe.stderr
    assert "Welcome after first LINE message" in safe.stderr and "backfill: true" in safe.stderr
    assert not klaviyo_standin.flow_triggers

    loud = run_cli([*args, "--trigger-flows", "--yes", "--restart"], env=cli_env)
    assert loud.exit_code == 0, loud.stderr
    assert "will START" in loud.stderr


def test_trigger_flows_with_yes_sends_backfill_false(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    metric = klaviyo_standin.add_metric("Sent LINE Message")
    klaviyo_standin.add_flow("Welcome", trigger_metric_id=metric)
    actions = write_actions_csv(tmp_path / "actions.csv", 18, 10)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--trigger-flows", "--yes"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert all(e["backfill_event"] is False and e["backfill_entry"] is False for e in klaviyo_standin.events)
    assert klaviyo_standin.flow_triggers  # the stand-in's live flow fired: that is what the flag is for


def test_restart_sends_again_and_unique_ids_absorb_it(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 100, 40)
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json"]
    assert run_cli(args, env=cli_env).exit_code == 0
    again = run_cli([*args, "--restart"], env=cli_env)
    assert again.exit_code == 0, again.stderr
    summary = _summary(again)
    assert summary["resumed"] is False and summary["counts"]["sent_before"] == 0
    assert klaviyo_standin.bulk_jobs == 2
    assert len(klaviyo_standin.events) == 100 and klaviyo_standin.duplicates_ignored == 100


def test_webhook_archive_end_to_end(cli_env, klaviyo_standin, tmp_path):
    users = link_users(klaviyo_standin, 2)
    link_map = write_link_map(tmp_path / "map.csv", users)
    a, b = line_id(0), line_id(1)
    follow = webhook_event("follow", a, 1780000000000, "01K00000000000000000000001", follow={"isUnblocked": True})
    archive = write_jsonl(tmp_path / "hooks.jsonl", [
        webhook_body(follow),
        webhook_body(dict(follow, deliveryContext={"isRedelivery": True})),
        webhook_body(webhook_event("unfollow", b, 1780000100000, "01K00000000000000000000002"),
                     webhook_event("message", b, 1780000200000, "01K00000000000000000000003")),
    ])
    result = run_cli(["backfill", str(archive), "--link-map", str(link_map), "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    counts = _summary(result)["counts"]
    _reconciles(counts)
    assert (counts["sent"], counts["duplicates"], counts["skipped"]) == (2, 1, {"webhook message": 1})
    followed = klaviyo_standin.events_for("Followed LINE Account")
    assert len(followed) == 1 and followed[0]["properties"]["Unblocked"] is True
    assert followed[0]["unique_id"] == "01K00000000000000000000001"
    assert len(klaviyo_standin.events_for("Blocked LINE Account", users[b])) == 1


def test_runs_lists_runs_and_a_file_called_runs_is_still_a_file(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    write_actions_csv(Path("runs"), 30, 10)  # in the test's working directory
    result = run_cli(["backfill", "runs", "--link-map", str(link_map), "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert _summary(result)["counts"]["sent"] == 30
    Path("runs").unlink()
    listed = run_cli(["backfill", "runs", "--json"], env=cli_env)
    assert listed.exit_code == 0, listed.stderr
    runs = json.loads(listed.stdout)["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "complete" and runs[0]["events_sent"] == 30
    assert runs[0]["counts"]["read"] == 30
    table = run_cli(["backfill", "runs"], env=cli_env)
    assert table.exit_code == 0 and "complete" in table.stdout


def _spawn(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    full_env.update({k: v for k, v in env.items() if v is not None})
    return subprocess.Popen([sys.executable, "-m", "linesync_cli", *args], env=full_env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_ctrl_c_leaves_pending_exactly_what_klaviyo_did_not_get(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 12_000, 40)  # every user linked, no duplicates
    klaviyo_standin.set_delay(0.15, BULK)
    proc = _spawn(["backfill", str(actions), "--link-map", str(link_map), "--json", "--workers", "2"], cli_env,
                  tmp_path)
    try:
        _wait_for(lambda: klaviyo_standin.bulk_jobs >= 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    counts = json.loads(out)["counts"]
    stored = len(klaviyo_standin.events)  # the batches in flight at Ctrl-C were waited for
    assert counts["sent"] == stored
    assert counts["pending"] == counts["read"] - stored > 0
    _reconciles(counts)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_killed_run_resumes_to_exactly_the_expected_events(cli_env, klaviyo_standin, linked, tmp_path, sig):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 12_000, 40)
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json", "--workers", "2"]
    klaviyo_standin.set_delay(0.15, BULK)  # slow enough to stop it mid-run
    proc = _spawn(args, cli_env, tmp_path)
    try:
        _wait_for(lambda: klaviyo_standin.bulk_jobs >= 3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err.decode()
        assert b"progress is saved" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    listed = json.loads(run_cli(["backfill", "runs", "--json"], env=cli_env).stdout)["runs"]
    assert listed[0]["status"] == ("interrupted" if sig == signal.SIGINT else "killed")
    accepted_before = klaviyo_standin.bulk_jobs
    assert 0 < accepted_before < 12
    klaviyo_standin.set_delay(0)
    again = run_cli(args, env=cli_env)
    assert again.exit_code == 0, again.stderr
    summary = _summary(again)
    assert summary["resumed"] is True
    assert summary["counts"]["sent"] == 12_000
    assert summary["counts"]["sent_before"] > 0
    assert len(klaviyo_standin.events) == 12_000
    assert len(set(_unique_ids(klaviyo_standin))) == 12_000
    # At most the batches in flight at the kill were sent twice.
    assert klaviyo_standin.bulk_jobs - 12 <= 4


def test_resumes_through_the_link_index_after_it_was_synced_again(cli_env, klaviyo_standin, tmp_path):
    from datetime import UTC, datetime, timedelta

    from tests.support.linkage_helpers import seed_index

    state = Path(cli_env["LINESYNC_STATE_DIR"])
    users = link_users(klaviyo_standin, 10)
    seed_index(state, {pid: user for user, pid in users.items()}, when=datetime.now(UTC) - timedelta(days=2))
    actions = write_actions_csv(tmp_path / "actions.csv", 300, 10)
    first = run_cli(["backfill", str(actions), "--json"], env=cli_env)
    assert first.exit_code == 0, first.stderr
    assert _summary(first)["counts"]["sent"] == 300
    assert "link index" in first.stderr and "2d ago" in first.stderr
    seed_index(state, {pid: user for user, pid in users.items()})  # `links sync` ran again: "synced 0s ago"
    again = run_cli(["backfill", str(actions), "--json"], env=cli_env)
    assert again.exit_code == 0, again.stderr
    assert _summary(again)["resumed"] is True
    assert klaviyo_standin.bulk_jobs == 1


def test_credentials_refused_mid_run_exit_3_with_progress_saved(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 3000, 40)
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json", "--workers", "1"]
    klaviyo_standin.respond_next(BULK, 401, {"errors": [{"id": "e", "status": 401, "code": "not_authenticated",
                                                         "title": "Incorrect authentication credentials.",
                                                         "detail": "Key revoked."}]},
                                 content_type="application/vnd.api+json", n=50)
    result = run_cli(args, env=cli_env)
    assert result.exit_code == 3, result.stderr
    summary = _summary(result)
    assert summary["status"] == "stopped" and summary["counts"]["sent"] == 0
    _reconciles(summary["counts"])
    klaviyo_standin.clear_faults()
    again = run_cli(args, env=cli_env)
    assert again.exit_code == 0, again.stderr
    assert len(klaviyo_standin.events) == 3000


def test_a_key_that_cannot_list_flows_still_backfills_safely(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    actions = write_actions_csv(tmp_path / "actions.csv", 20, 10)
    forbidden = {"errors": [{"id": "e", "status": 403, "code": "permission_denied",
                             "title": "You do not have permission to perform this action.", "detail": "flows:read"}]}
    klaviyo_standin.respond_next("/api/metrics", 403, forbidden, content_type="application/vnd.api+json", n=2)
    safe = run_cli(["backfill", str(actions), "--link-map", str(link_map)], env=cli_env)
    assert safe.exit_code == 0, safe.stderr
    assert "cannot list the Flows" in safe.stderr
    assert len(klaviyo_standin.events) == 20
    klaviyo_standin.respond_next("/api/metrics", 403, forbidden, content_type="application/vnd.api+json", n=2)
    loud = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--trigger-flows", "--yes", "--restart"],
                   env=cli_env)
    assert loud.exit_code == 3
    assert klaviyo_standin.bulk_jobs == 1


def test_an_unreadable_input_among_several_stops_before_anything_is_sent(cli_env, klaviyo_standin, linked, tmp_path):
    _, link_map = linked
    good = write_actions_csv(tmp_path / "good.csv", 50, 10)
    result = run_cli(["backfill", str(good), str(tmp_path / "missing.csv"), "--link-map", str(link_map)], env=cli_env)
    assert result.exit_code == 2
    assert "missing.csv does not exist" in result.stderr
    assert klaviyo_standin.requests_for("bulk_create_events") == []
