"""`backfill verify`: stored, missing (dropped after a 202), not visible yet; --missing and --resend."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.backfill_data import line_id, link_users, write_link_map
from tests.support.standin_cli import run_cli

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def _actions(path, n: int, users: int):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["action", "line_user_id", "occurred_at", "event_id", "broadcast_id"])
        for i in range(n):
            w.writerow([("sent", "delivered", "opened")[i % 3], line_id(i % users),
                        (START + timedelta(seconds=i * 11)).isoformat(), f"ev-{i}", f"B{i // 20}"])
    return path


def _backfill(tmp_path, standin, env, n=120, users=12):
    mapping = link_users(standin, users)
    link_map = write_link_map(tmp_path / "map.csv", mapping)
    actions = _actions(tmp_path / "actions.csv", n, users)
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["run"]


def test_all_stored_exits_0(klaviyo_standin, cli_env, tmp_path):
    run = _backfill(tmp_path, klaviyo_standin, cli_env)
    tmp = Path(cli_env["LINESYNC_STATE_DIR"]) / "tmp"
    # A verify killed earlier left its work file (no process has that id): it goes; a live one stays.
    (tmp / "verify-999999999.duckdb").write_bytes(b"x")
    (tmp / f"verify-{os.getppid()}.duckdb").write_bytes(b"x")  # our parent: alive
    result = run_cli(["backfill", "verify", "--json", "--settle", "0s"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp.glob("verify-*")) == [f"verify-{os.getppid()}.duckdb"]
    doc = json.loads(result.stdout)
    assert doc["run"] == run and doc["checked"] == 120 and doc["stored"] == 120
    assert doc["missing"] == 0 and doc["not_visible_yet"] == 0
    # Re-derived from the unchanged inputs: every accepted batch found again, same fingerprint.
    assert doc["unmatched_batches"] == 0 and doc["inputs_changed"] is False
    assert {m["metric"]: m["stored"] for m in doc["metrics"]} == {"sent": 40, "delivered": 40, "opened": 40}
    # The plan is said before reading, with its estimate.
    assert "requests" in result.stderr and ("by metric" in result.stderr or "by profile" in result.stderr)


def test_dropped_events_are_missing_and_resend_repairs_them(klaviyo_standin, cli_env, tmp_path):
    dropped_once = {"ev-5", "ev-6", "ev-77"}

    def drop(event):
        if event["unique_id"] in dropped_once:
            dropped_once.discard(event["unique_id"])
            return True
        return False

    klaviyo_standin.drop_events = drop
    run = _backfill(tmp_path, klaviyo_standin, cli_env)
    missing_file = tmp_path / "missing.jsonl"
    result = run_cli(["backfill", "verify", str(run), "--settle", "0s", "--missing", str(missing_file), "--json"],
                     env=cli_env)
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["stored"], doc["missing"]) == (117, 3)
    assert sorted(m["unique_id"] for m in doc["first_missing"]) == ["ev-5", "ev-6", "ev-77"]
    # Each missing event names the input record it came from (ev-i is on line i + 2, after the header).
    actions = str((tmp_path / "actions.csv").resolve())
    assert {m["unique_id"]: (m["file"], m["line"]) for m in doc["first_missing"]} == {
        "ev-5": (actions, 7), "ev-6": (actions, 8), "ev-77": (actions, 79)}
    written = [json.loads(line) for line in missing_file.read_text().splitlines()]
    assert sorted(w["event_id"] for w in written) == ["ev-5", "ev-6", "ev-77"]
    assert {w["event_id"]: w["action"] for w in written}["ev-5"] == "opened"  # 5 % 3 == 2
    assert {w["event_id"]: w.get("broadcast_id") for w in written}["ev-77"] == "B3"
    # The actions file is one `backfill` accepts: a dry run reads all three as valid.
    dry = run_cli(["backfill", str(missing_file), "--link-map", str(tmp_path / "map.csv"), "--dry-run", "--json"],
                  env=cli_env)
    assert json.loads(dry.stdout)["counts"]["would_send"] == 3
    # --resend sends them again; the next verify of the first run finds them all.
    result = run_cli(["backfill", "verify", str(run), "--settle", "0s", "--resend"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert "resent 3 of 3" in result.stderr
    result = run_cli(["backfill", "verify", str(run), "--settle", "0s", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["stored"] == 120
    assert klaviyo_standin.duplicates_ignored == 0


def test_missing_events_are_listed_as_file_and_line_across_inputs(klaviyo_standin, cli_env, tmp_path, monkeypatch):
    mapping = link_users(klaviyo_standin, 4)
    link_map = write_link_map(tmp_path / "map.csv", mapping)
    first = _actions(tmp_path / "first.csv", 10, 4)
    second = tmp_path / "second.jsonl"
    second.write_text("".join(json.dumps({"action": "clicked", "line_user_id": line_id(i % 4), "event_id": f"j-{i}",
                                          "occurred_at": (START + timedelta(minutes=i)).isoformat(),
                                          "url": "https://shop.example/x"}) + "\n" for i in range(6)))
    klaviyo_standin.drop_events = lambda event: event["unique_id"] in {"ev-3", "j-4"}
    sent = run_cli(["backfill", str(first), str(second), "--link-map", str(link_map), "--json"], env=cli_env)
    assert sent.exit_code == 0, sent.stderr
    result = run_cli(["backfill", "verify", "--settle", "0s"], env=cli_env | {"TTY_COMPATIBLE": "0"})
    assert result.exit_code == 1, result.stderr
    listed = [line for line in result.stderr.splitlines() if line.startswith("missing: ")]
    # CSV: ev-3 on line 5 (after the header); JSON Lines: j-4 on line 5 (no header). The inputs are
    # outside the current directory, so they are shown whole.
    assert sorted(line.split()[1] for line in listed) == sorted([f"{first.resolve()}:5", f"{second.resolve()}:5"])
    assert any("clicked" in line and "unique_id j-4" in line for line in listed)
    # Run from the inputs' directory, they are shown as typed there.
    monkeypatch.chdir(tmp_path)
    result = run_cli(["backfill", "verify", "--settle", "0s"], env=cli_env | {"TTY_COMPATIBLE": "0"})
    assert sorted(line.split()[1] for line in result.stderr.splitlines()
                  if line.startswith("missing: ")) == ["first.csv:5", "second.jsonl:5"]


def test_events_not_visible_yet_are_not_missing(klaviyo_standin, cli_env, tmp_path):
    klaviyo_standin.events_visible_after = 3600  # nothing shows for an hour
    _backfill(tmp_path, klaviyo_standin, cli_env, n=30, users=5)
    result = run_cli(["backfill", "verify", "--json"], env=cli_env)  # default settle: 10 minutes
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["stored"], doc["missing"], doc["not_visible_yet"]) == (0, 0, 30)
    # Past the settle time, the same events are missing.
    result = run_cli(["backfill", "verify", "--json", "--settle", "0s"], env=cli_env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["missing"] == 30


def test_sample_checks_n_events_with_profile_reads(klaviyo_standin, cli_env, tmp_path):
    _backfill(tmp_path, klaviyo_standin, cli_env)
    before = len(klaviyo_standin.requests_for("get_events"))
    result = run_cli(["backfill", "verify", "--sample", "10", "--settle", "0s", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["checked"] == 10 and doc["stored"] == 10
    reads = klaviyo_standin.requests_for("get_events")[before:]
    assert reads and all("equals(profile_id," in r.query["filter"][0] for r in reads)


def test_unknown_run_and_no_runs_are_usage_errors(klaviyo_standin, cli_env, tmp_path):
    result = run_cli(["backfill", "verify"], env=cli_env)
    assert result.exit_code == 2 and "no backfill runs" in result.stderr and "Traceback" not in result.stderr
    _backfill(tmp_path, klaviyo_standin, cli_env, n=3, users=1)
    result = run_cli(["backfill", "verify", "99"], env=cli_env)
    assert result.exit_code == 2 and "no backfill run #99" in result.stderr and "hint:" in result.stderr


def test_live_traffic_makes_it_read_by_profile(klaviyo_standin, cli_env, tmp_path):
    _backfill(tmp_path, klaviyo_standin, cli_env, n=30, users=3)
    # The live sync wrote far more Sent events in the run's range for other people.
    sent = klaviyo_standin.metric_by_name("Sent LINE Message")["id"]
    others = [klaviyo_standin.add_profile() for _ in range(50)]
    for i in range(6000):
        klaviyo_standin.add_event(sent, others[i % 50], START + timedelta(seconds=i % 300), {}, unique_id=f"live-{i}")
    before = len(klaviyo_standin.requests_for("get_events"))
    result = run_cli(["backfill", "verify", "--settle", "0s", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert "Sent LINE Message: 10 sent to 1 profile(s)" in result.stderr
    sent_line = next(line for line in result.stderr.splitlines() if line.startswith("Sent LINE Message"))
    # The run's Sent events span seconds 0-297 of START: 298 s x 20 live events a second, plus its own 10.
    assert "Klaviyo holds 5,970 in the range → by profile" in sent_line
    assert json.loads(result.stdout)["stored"] == 30
    sent_reads = [r for r in klaviyo_standin.requests_for("get_events")[before:] if sent in r.query["filter"][0]]
    assert sent_reads and all("equals(profile_id," in r.query["filter"][0] for r in sent_reads)


def test_rows_go_in_small_pieces_with_the_same_outcome(klaviyo_standin, cli_env, tmp_path, monkeypatch):
    from linesync_cli.core import verify

    klaviyo_standin.drop_events = lambda event: event["unique_id"] in {"ev-5", "ev-6", "ev-77"}
    run = _backfill(tmp_path, klaviyo_standin, cli_env)
    args = ["backfill", "verify", str(run), "--settle", "0s", "--json"]
    whole = run_cli(args + ["--missing", str(tmp_path / "whole.jsonl")], env=cli_env)
    assert whole.exit_code == 1, whole.stderr
    # Pieces of 7 rows: cuts fall inside every metric and profile (12 users, 3 metrics, 120 events).
    monkeypatch.setattr(verify, "CHUNK_ROWS", 7)
    pieces: list[tuple[str, int]] = []
    append = verify._Staging._append

    def counted(self):
        self._fh.flush()
        pieces.append((self.table, self._pending))
        # Each piece is a file of its own: the CSV on disk never holds more than one piece.
        assert len(self.path.read_text().splitlines()) == self._pending
        append(self)

    monkeypatch.setattr(verify._Staging, "_append", counted)
    cut = run_cli(args + ["--missing", str(tmp_path / "cut.jsonl")], env=cli_env)
    assert cut.exit_code == 1, cut.stderr
    sent = [n for table, n in pieces if table == "verify_sent"]
    assert sum(sent) == 120 and max(sent) == 7 and len(sent) == 18  # 17 of 7, then the last 1
    assert sum(n for table, n in pieces if table == "verify_found") == 117
    doc, doc_cut = json.loads(whole.stdout), json.loads(cut.stdout)
    doc.pop("missing_file"), doc_cut.pop("missing_file")
    assert doc_cut == doc and (doc["stored"], doc["missing"]) == (117, 3)
    assert (tmp_path / "cut.jsonl").read_text() == (tmp_path / "whole.jsonl").read_text()


def test_out_of_memory_in_the_work_file_is_one_line(klaviyo_standin, cli_env, tmp_path, monkeypatch):
    from linesync_cli.core import verify

    _backfill(tmp_path, klaviyo_standin, cli_env, n=30, users=3)
    monkeypatch.setattr(verify, "WORK_MEMORY", "1MB")  # below one CSV buffer: the first load fails
    result = run_cli(["backfill", "verify", "--settle", "0s"], env=cli_env)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if "ran out of memory" in line]
    assert len(errors) == 1 and "backfill verify's work file (limit 1MB)" in errors[0]
    assert "Traceback" not in result.stderr and any(line.startswith("hint:") for line in lines)
    assert not list((Path(cli_env["LINESYNC_STATE_DIR"]) / "tmp").glob("verify-*"))  # its files are gone
