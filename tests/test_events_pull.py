"""`events pull|status|export`: the mirror against the stand-in's Get Events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb

from tests.support.standin_cli import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)


def _mirror_rows(cli_env, sql: str) -> list[tuple]:
    con = duckdb.connect(cli_env["LINESYNC_STATE_DIR"] + "/events.duckdb", read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _seed(standin, n: int, metric: str = "Sent LINE Message", start: datetime | None = None,
          step: timedelta = timedelta(minutes=5), broadcast: str = "B1") -> list[str]:
    mid = (standin.metric_by_name(metric) or {}).get("id") or standin.add_metric(metric)
    profile = standin.add_profile(external_id="U" + "a" * 32)
    start = start or NOW - timedelta(days=2)
    return [standin.add_event(mid, profile, start + i * step, {"Broadcast ID": broadcast, "Message ID": f"m{i}"},
                              unique_id=f"u{i}") for i in range(n)]


def test_pull_stores_every_event_once_with_its_unique_id(klaviyo_standin, cli_env):
    ids = _seed(klaviyo_standin, 450)
    result = run_cli(["events", "pull", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["events_read"] == 450 and doc["events_new"] == 450
    rows = _mirror_rows(cli_env, "SELECT id, unique_id, broadcast_id, metric FROM events ORDER BY time")
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert rows[0][1:] == ("u0", "B1", "sent")
    # Every Get Events request asked for only the fields needed, paged.
    gets = klaviyo_standin.requests_for("get_events")
    assert gets and all(r.query["fields[event]"] == ["datetime,event_properties"] for r in gets)


def test_page_size_steps_down_to_200_when_1000_is_refused(klaviyo_standin, cli_env):
    _seed(klaviyo_standin, 450)
    result = run_cli(["events", "pull", "--readers", "1", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    sizes = [r.query["page[size]"][0] for r in klaviyo_standin.requests_for("get_events")]
    assert sizes[0] == "1000" and set(sizes[1:]) == {"200"}
    klaviyo_standin.events_page_max = 1000
    result = run_cli(["events", "pull", "--full", "--readers", "1", "--json"], env=cli_env)
    later = [r.query["page[size]"][0] for r in klaviyo_standin.requests_for("get_events")][len(sizes):]
    assert later and set(later) == {"1000"}


def test_second_pull_reads_only_the_overlap_and_catches_late_events(klaviyo_standin, cli_env):
    _seed(klaviyo_standin, 10, start=NOW - timedelta(days=20), step=timedelta(days=1))
    assert run_cli(["events", "pull", "--since", "30d"], env=cli_env).exit_code == 0
    # A late event with an old time (inside the overlap) and one older than the overlap.
    mid = klaviyo_standin.metric_by_name("Sent LINE Message")["id"]
    profile = next(iter(klaviyo_standin.profiles))
    klaviyo_standin.add_event(mid, profile, NOW - timedelta(days=1), {}, unique_id="late-recent")
    klaviyo_standin.add_event(mid, profile, NOW - timedelta(days=15), {}, unique_id="late-old")
    before = len(klaviyo_standin.requests_for("get_events"))
    result = run_cli(["events", "pull", "--since", "30d", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["events_new"] == 1
    uniques = {r[0] for r in _mirror_rows(cli_env, "SELECT unique_id FROM events")}
    assert "late-recent" in uniques and "late-old" not in uniques
    # Only the trailing window was asked for: every request starts no earlier than 3 days back (+ a minute).
    for r in klaviyo_standin.requests_for("get_events")[before:]:
        since = r.query["filter"][0].split("greater-or-equal(datetime,")[1].split(")")[0]
        assert datetime.fromisoformat(since.replace("Z", "+00:00")) >= NOW - timedelta(days=3, minutes=1)
    # --full reads the range again and catches the old late event too.
    result = run_cli(["events", "pull", "--since", "30d", "--full", "--json"], env=cli_env)
    assert json.loads(result.stdout)["events_new"] == 1
    assert _mirror_rows(cli_env, "SELECT count(*) FROM events")[0][0] == 12


def test_interrupted_pull_keeps_pages_and_resumes_from_its_cursor(klaviyo_standin, cli_env, fast_retries):
    _seed(klaviyo_standin, 1000, step=timedelta(seconds=30))
    # Pages of 200 (the 1000 asked first is refused); from the third page on, 503 past every retry.
    calls = {"n": 0}
    original = klaviyo_standin.answer

    def flaky(req, record):
        if req.route_path == "/api/events":
            calls["n"] += 1
            if calls["n"] >= 4:
                from linesync_cli.sandbox.base import Reply
                return Reply.json(503, {"errors": [{"status": "503", "title": "Service unavailable."}]})
        return original(req, record)

    klaviyo_standin.answer = flaky
    result = run_cli(["events", "pull", "--readers", "1", "--since", "3d"], env=cli_env)
    assert result.exit_code == 4, result.stderr
    assert "kept" in result.stderr
    stored = _mirror_rows(cli_env, "SELECT count(*) FROM events")[0][0]
    assert 0 < stored < 1000
    cursor = _mirror_rows(cli_env, "SELECT cursor FROM slices")[0][0]
    assert cursor
    klaviyo_standin.answer = original
    before = len(klaviyo_standin.requests_for("get_events"))
    result = run_cli(["events", "pull", "--readers", "1", "--since", "3d", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    first = klaviyo_standin.requests_for("get_events")[before]
    assert first.query["page[cursor]"] == [cursor]
    assert _mirror_rows(cli_env, "SELECT count(*), count(DISTINCT id) FROM events")[0] == (1000, 1000)
    assert _mirror_rows(cli_env, "SELECT count(*) FROM slices")[0][0] == 0


def test_doctor_recent_events_says_how_fresh_the_mirror_is(klaviyo_standin, cli_env):
    _seed(klaviyo_standin, 5)
    result = run_cli(["doctor", "--only", "recent-events", "--json"], env=cli_env)
    check = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "recent-events")
    assert "mirror" not in check.get("data", {}) and "event mirror" not in check["detail"]
    assert run_cli(["events", "pull"], env=cli_env).exit_code == 0
    result = run_cli(["doctor", "--only", "recent-events", "--json"], env=cli_env)
    check = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "recent-events")
    assert check["data"]["mirror"]["events"] == 5
    assert "event mirror: 5 events, pulled" in check["detail"]


def test_throttled_and_5xx_pages_are_retried_and_the_pull_completes(klaviyo_standin, cli_env, fast_retries):
    _seed(klaviyo_standin, 600, step=timedelta(minutes=4))
    klaviyo_standin.throttle_next(3, "/api/events")
    klaviyo_standin.fail_next(2, 503, "/api/events")
    result = run_cli(["events", "pull", "--readers", "2", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert _mirror_rows(cli_env, "SELECT count(*), count(DISTINCT id) FROM events")[0] == (600, 600)


def test_a_refused_saved_cursor_resumes_from_the_newest_stored_event(klaviyo_standin, cli_env, fast_retries):
    _seed(klaviyo_standin, 1000, step=timedelta(seconds=30))
    # Let two pages in, then stop the pull with an outage, leaving a cursor behind.
    served = {"n": 0}
    original = klaviyo_standin.answer

    def two_pages(req, record):
        if req.route_path == "/api/events":
            served["n"] += 1
            if served["n"] > 3:
                from linesync_cli.sandbox.base import Reply
                return Reply.json(503, {"errors": [{"status": "503", "title": "Service unavailable."}]})
        return original(req, record)

    klaviyo_standin.answer = two_pages
    assert run_cli(["events", "pull", "--readers", "1", "--since", "3d"], env=cli_env).exit_code == 4
    klaviyo_standin.answer = original
    con = duckdb.connect(cli_env["LINESYNC_STATE_DIR"] + "/events.duckdb")
    con.execute("UPDATE slices SET cursor = 'eyJvIjogImJhZCJ9'")  # a cursor the server cannot read
    con.close()
    result = run_cli(["events", "pull", "--readers", "1", "--since", "3d"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert "refused the saved page cursor" in result.stderr and "nothing is stored twice" in result.stderr
    assert _mirror_rows(cli_env, "SELECT count(*), count(DISTINCT id) FROM events")[0] == (1000, 1000)


def test_range_before_2000_is_refused_before_any_call(klaviyo_standin, cli_env):
    result = run_cli(["events", "pull", "--since", "1999-12-01"], env=cli_env)
    assert result.exit_code == 2 and "before 2000-01-01" in result.stderr and "hint:" in result.stderr
    assert not klaviyo_standin.requests_for("get_events")
    result = run_cli(["events", "pull", "--since", "7d", "--overlap", "soon"], env=cli_env)
    assert result.exit_code == 2 and "--overlap" in result.stderr


def test_corrupt_mirror_is_one_line_with_a_hint(klaviyo_standin, cli_env):
    from pathlib import Path

    state = Path(cli_env["LINESYNC_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    (state / "events.duckdb").write_bytes(b"this is not a database" * 100)
    for args in (["events", "status"], ["events", "pull"], ["report", "broadcasts", "--no-pull"]):
        result = run_cli(args, env=cli_env)
        assert result.exit_code == 2, (args, result.stderr)
        assert "cannot be read" in result.stderr and "delete" in result.stderr and "Traceback" not in result.stderr


def test_mirror_locked_by_another_process(klaviyo_standin, cli_env):
    import subprocess
    import sys
    from pathlib import Path

    _seed(klaviyo_standin, 3)
    assert run_cli(["events", "pull"], env=cli_env).exit_code == 0
    path = Path(cli_env["LINESYNC_STATE_DIR"]) / "events.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               f"c = duckdb.connect({str(path)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_cli(["events", "pull"], env=cli_env)
        assert result.exit_code == 2
        assert "in use by another linesync process" in result.stderr and "hint:" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_says_what_survives_the_stop_mirror_kept_verify_read_dropped(klaviyo_standin, tmp_path):
    # Pull and verify share one reader loop; a stop's message is the one place they differ.
    import pytest
    from pydantic import SecretStr

    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.core.events.mirror import Mirror, Slice
    from linesync_cli.core.events.pull import read_events, read_into_mirror
    from linesync_cli.errors import Interrupted
    from tests.support.standin_cli import KLAVIYO_TEST_KEY

    _seed(klaviyo_standin, 1000, step=timedelta(minutes=1))  # pages of 200: at most 3 wait for the writer
    mid = klaviyo_standin.metric_by_name("Sent LINE Message")["id"]
    client = KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), klaviyo_standin.base_url)
    ticks: list[int] = []

    def ctrl_c_once(p) -> None:
        ticks.append(p.events)
        if len(ticks) == 1:
            raise KeyboardInterrupt

    mirror = Mirror(tmp_path / "events.duckdb")
    slices = mirror.add_slices([(mid, "sent", NOW - timedelta(days=3), NOW, False)])
    with pytest.raises(Interrupted) as stop:
        read_into_mirror(client, mirror, slices, 1, ctrl_c_once)
    stored = mirror.scalar("SELECT count(*) FROM events")
    mirror.close()
    assert 0 < stored < 1000 and f"the {stored:,} events read so far are kept" in stop.value.message
    assert len(ticks) == 2 and ticks[-1] == stored  # the bar's last tick shows what was kept

    ticks.clear()
    with pytest.raises(Interrupted) as stop:
        read_events(client, [Slice(-1, mid, "sent", NOW - timedelta(days=3), NOW)], 1, lambda pages: None,
                    ctrl_c_once)
    assert stop.value.message == "interrupted; nothing was changed" and "kept" not in str(stop.value.hint)
