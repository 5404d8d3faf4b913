"""The sandbox's actions file is dated to the demo, so the README tour works on any day.

The demo's events are placed relative to the day the sandbox starts; a fixed-date actions
file would drift out of the default --since windows (and off the demo's broadcast) within
days. The sandbox writes the file for its own start day instead: these tests seed the demo
on several "todays" (a year after the README was written, a leap day, a new year's night)
and check where the file's actions fall, and that a started sandbox prints the request ID
and the file the tour uses.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linesync_cli.sandbox import service
from linesync_cli.sandbox.klaviyo import KlaviyoStandIn
from linesync_cli.sandbox.line import LineStandIn
from linesync_cli.sandbox.seed import JST, seed_demo
from tests.support.standin_cli import clean_env, run_cli

ROOT = Path(__file__).resolve().parents[1]
README_DAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the day the README's tour output was taken


def _demo(now: datetime):
    klaviyo = KlaviyoStandIn("pk_sandbox_dates", record_bodies=False)
    line = LineStandIn("sandbox_line_dates")
    return klaviyo, seed_demo(klaviyo, line, now)


@pytest.mark.parametrize("today", [README_DAY + timedelta(days=365), datetime(2028, 2, 29, 23, 30, tzinfo=UTC),
                                   datetime(2027, 1, 1, 0, 10, tzinfo=UTC), README_DAY],
                         ids=["a-year-later", "leap-day", "new-year", "readme-day"])
def test_the_actions_fall_on_the_demos_broadcast_inside_the_default_windows(today):
    klaviyo, summary = _demo(today)
    assert summary.actions_csv is not None
    rows = list(csv.DictReader(io.StringIO(summary.actions_csv)))
    broadcast_ids = {e["properties"].get("Broadcast ID") for e in klaviyo.events
                     if e["properties"].get("LINE Request ID") == summary.request_id}
    assert len(broadcast_ids) == 1  # the broadcast `reconcile --request-id` checks
    linked = {p["properties"].get("LINE User ID") for p in klaviyo.profiles.values()}
    valid, impossible = [], []
    for row in rows:
        try:
            valid.append((row, datetime.fromisoformat(row["occurred_at"])))
        except ValueError:
            impossible.append(row)
    assert len(valid) == 9 and len(impossible) == 1  # the one record the tour's run rejects
    gap = set(summary.gap_days)
    for row, when in valid:
        # reconcile (14 days to yesterday), report broadcasts (14d), events pull (30d) all see it.
        assert today - timedelta(days=13) <= when < today.replace(hour=0, minute=0) - timedelta(days=1), row
        assert when.astimezone(JST).date() not in gap, row  # not hidden in the demo's outage
        if row["broadcast_id"]:
            assert row["broadcast_id"] in broadcast_ids, row
    users = {row["line_user_id"] for row in rows}
    assert {summary.samples["unlinked"], summary.samples["ambiguous"]} <= users
    assert len(users - {summary.samples["unlinked"]}) == 4 and users - {summary.samples["unlinked"]} <= linked


def test_the_example_file_is_the_sandboxs_file_for_the_readme_day():
    _, summary = _demo(README_DAY)
    assert (ROOT / "examples" / "sandbox-actions.csv").read_text(encoding="utf-8") == summary.actions_csv


def test_start_prints_the_request_id_and_the_actions_file_the_tour_uses(tmp_path):
    (tmp_path / "none.toml").write_text("")
    env = clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(tmp_path / "none.toml"))
    started = run_cli(["sandbox", "start", "--detach", "--port", "0"], env=env)
    try:
        assert started.exit_code == 0, started.stderr
        info = service.read_running(service.control_dir(tmp_path / "state"))
        assert info is not None and info.summary and info.actions_file
        request_id = info.summary["request_id"]
        assert f"LINE request ID of a broadcast: {request_id} " in started.stderr
        assert f"actions to backfill, dated to this demo: {info.actions_file}" in started.stderr
        assert request_id not in started.stdout  # stdout is the export lines only
        # In the exported state dir, where the tour's "$LINESYNC_STATE_DIR/sandbox-actions.csv" finds it.
        assert Path(info.actions_file) == Path(info.state_dir) / "sandbox-actions.csv"
        rows = list(csv.DictReader(io.StringIO(Path(info.actions_file).read_text(encoding="utf-8"))))
        assert len(rows) == 10 and {r["action"] for r in rows} >= {"sent", "delivered", "opened", "clicked"}
        status = run_cli(["sandbox", "status", "--json"], env=env)
        assert status.exit_code == 0, status.stderr
    finally:
        run_cli(["sandbox", "stop"], env=env)
