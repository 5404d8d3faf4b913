"""Backfill input: formats, encodings, compression and every kind of bad record.

A bad record is rejected with its file, line, original record and reason; the rest
of the input still goes through, and the summary still reconciles.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linesync_cli.core.backfill.readers import Source, detect_format, open_source, read_source
from linesync_cli.core.backfill.records import Action, Reject, Skip
from linesync_cli.core.backfill.run import BackfillOptions, TimeWindow, run_backfill
from linesync_cli.core.backfill.sink import DryRunSink
from linesync_cli.core.backfill.validate import ActionValidator
from linesync_cli.core.linkage import Link
from linesync_cli.errors import InputFileError
from linesync_cli.timeutil import parse_zone
from tests.support.backfill_data import line_id, webhook_body, webhook_event

NOW = datetime(2026, 11, 1, tzinfo=UTC)
U1, U2 = line_id(1), line_id(2)
HEADER = "action,line_user_id,occurred_at,event_id,message_id,url\n"


class LinkEveryone:
    """A stand-in linkage: every valid LINE user ID has the profile P<user>."""

    description = "test linkage"
    identity = "test linkage"

    def resolve(self, ids):
        return {i: Link.of(i, [f"P{i[-6:]}"]) for i in ids}


def read(path: Path, *, tz: str | None = None, fmt: str | None = None, encoding: str = "utf-8") -> list:
    source = open_source(str(path), encoding)
    try:
        return list(read_source(source, ActionValidator(parse_zone(tz), NOW), fmt))
    finally:
        source.close()


def rejects(items: list) -> list[Reject]:
    return [i for i in items if isinstance(i, Reject)]


def actions(items: list) -> list[Action]:
    return [i for i in items if isinstance(i, Action)]


def event(action: Action) -> dict:
    return json.loads(action.event_json(True))["attributes"]


def test_csv_with_bom_crlf_and_jst_offsets(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(("\ufeff" + HEADER + f"sent,{U1},2026-03-01T09:15:00+09:00,,m-1,\n"
                      f" Clicked LINE Message ,{U1},2026-03-01T09:16:00.750+09:00,ev-9,m-1,https://x.example/a\n")
                     .replace("\n", "\r\n").encode())
    got = actions(read(path))
    assert [a.action for a in got] == ["sent", "clicked"]
    first, second = event(got[0]), event(got[1])
    assert first["time"] == "2026-03-01T00:15:00+00:00"
    assert first["properties"] == {"LINE User ID": U1, "Channel": "LINE", "Message ID": "m-1"}
    assert first["unique_id"].startswith("linesync-")
    assert second["time"] == "2026-03-01T00:16:00+00:00"  # truncated to the second, like Klaviyo
    assert second["unique_id"] == "ev-9"
    assert second["properties"]["URL"] == "https://x.example/a"


def test_unique_id_is_stable_and_depends_on_the_action(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + f"sent,{U1},2026-03-01T09:15:00+09:00,,m-1,\n"
                    f"sent,{U1},2026-03-01T00:15:00Z,,m-1,\n"  # the same instant, another offset
                    f"sent,{U1},2026-03-01T00:15:00Z,,m-2,\n")
    ids = [a.unique_id for a in actions(read(path))]
    assert ids[0] == ids[1] != ids[2]
    assert ids == [a.unique_id for a in actions(read(path))]


@pytest.mark.parametrize(("row", "reason"), [
    (f"bogus,{U1},2026-03-01T09:15:00+09:00,,,", "unknown action 'bogus'"),
    (f",{U1},2026-03-01T09:15:00+09:00,,,", "action is missing"),
    ("sent,,2026-03-01T09:15:00+09:00,,,", "line_user_id is missing"),
    ("sent,U123,2026-03-01T09:15:00+09:00,,,", "line_user_id must be U followed by 32 lowercase hex"),
    ("sent,U" + "AB" * 16 + ",2026-03-01T09:15:00+09:00,,,", "line_user_id must be U"),
    (f"sent,{U1},,,,", "occurred_at is missing"),
    (f"sent,{U1},yesterday,,,", "is not ISO 8601 or epoch milliseconds"),
    (f"sent,{U1},2026-03-01T09:15:00,,,", "has no UTC offset"),
    (f"sent,{U1},1999-12-31T23:59:59Z,,,", "before 2000"),
    (f"sent,{U1},1772323200,,,", "looks like seconds"),
    (f"sent,{U1},2028-01-01T00:00:00Z,,,", "more than a year ahead"),
    (f"sent,{U1},2026-03-01T09:15:00+09:00,,,,extra", "has 7 fields, the header has 6"),
])
def test_each_bad_csv_row_is_rejected_with_its_reason_and_the_rest_goes_on(tmp_path, row, reason):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + f"sent,{U2},2026-03-01T09:00:00+09:00,,,\n" + row + "\n"
                    + f"opened,{U2},2026-03-01T09:30:00+09:00,,,\n")
    items = read(path)
    assert len(actions(items)) == 2
    [bad] = rejects(items)
    assert reason in bad.reason
    assert bad.file == str(path) and bad.line == 3
    assert bad.to_json()["record"]["action"] == row.split(",")[0]


def test_naive_times_are_read_in_the_given_zone(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + f"sent,{U1},2026-03-01 09:15:00,,,\n")
    [a] = actions(read(path, tz="Asia/Tokyo"))
    assert event(a)["time"] == "2026-03-01T00:15:00+00:00"


def test_send_type_and_long_strings(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("action,line_user_id,occurred_at,send_type,failure_reason\n"
                    f"sent,{U1},2026-03-01T00:00:00Z,Broadcast,\n"
                    f"sent,{U1},2026-03-01T00:00:01Z,newsletter,\n"
                    f"failed,{U1},2026-03-01T00:00:02Z,flow,{'あ' * 34_200}\n"  # 102,600 bytes in UTF-8
                    f"failed,{U1},2026-03-01T00:00:03Z,flow,{'a' * 100_000}\n")
    items = read(path)
    ok = actions(items)
    assert [event(a)["properties"].get("Send Type") for a in ok] == ["broadcast", "flow"]
    bad = rejects(items)
    assert [r.line for r in bad] == [3, 4]
    assert "not broadcast, flow or workflow" in bad[0].reason
    assert "failure_reason is longer than Klaviyo's 100 KB" in bad[1].reason


def test_csv_without_required_columns_is_a_usage_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("when,who\n2026-03-01,U1\n")
    with pytest.raises(InputFileError, match="no action, line_user_id, occurred_at column"):
        read(path)


def test_cp932_needs_encoding_and_bad_bytes_reject_only_their_record(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes(("action,line_user_id,occurred_at,failure_reason\n"
                      f"failed,{U1},2026-03-01T00:00:00Z,ブロック中\n").encode("cp932"))
    wrong = read(path)
    assert len(rejects(wrong)) == 1 and "try --encoding cp932" in rejects(wrong)[0].reason
    [a] = actions(read(path, encoding="cp932"))
    assert event(a)["properties"]["Failure Reason"] == "ブロック中"
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(HEADER.encode() + f"sent,{U1},2026-03-01T00:00:00Z,,\xff\xfe,\n".encode("latin-1")
                      + f"sent,{U2},2026-03-01T00:00:00Z,,m,\n".encode())
    items = read(mixed)
    assert len(actions(items)) == 1 and len(rejects(items)) == 1 and rejects(items)[0].line == 2


def test_jsonl_records_of_every_shape(tmp_path):
    lines = [
        json.dumps({"action": "sent", "line_user_id": U1, "occurred_at": 1772323200000, "event_id": 42}),
        json.dumps({"Action": "opened", "LINE User ID": U1, "Occurred At": "2026-03-01T00:00:00Z"}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"action": "sent", "line_user_id": U1, "occurred_at": True}),
        json.dumps({"action": "sent", "line_user_id": U1, "occurred_at": "2026-03-01T00:00:00Z", "url": {"x": 1}}),
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n")
    items = read(path)
    ok = actions(items)
    assert [a.action for a in ok] == ["sent", "opened"]
    assert ok[0].unique_id == "42"
    assert [(r.line, r.reason.split(" (")[0]) for r in rejects(items)] == [
        (4, "not valid JSON"), (5, "not a JSON object"),
        (6, "occurred_at must be ISO 8601 with an offset or epoch milliseconds"), (7, "url must be text, not dict")]
    assert rejects(items)[0].record == "{not json"


def test_webhook_archive_types_dedup_key_and_old_bodies(tmp_path):
    follow = webhook_event("follow", U1, 1780000000000, "01K0000000000000000000000A", follow={"isUnblocked": False})
    old_follow = webhook_event("follow", U2, 1600000000000, None)  # 2020: no webhookEventId, no follow object
    bodies = [
        webhook_body(follow, webhook_event("message", U1, 1780000000001, "01K0000000000000000000000B")),
        webhook_body(dict(follow, deliveryContext={"isRedelivery": True})),
        webhook_body(old_follow, webhook_event("unfollow", U2, 1780000000002, "01K0000000000000000000000C")),
        webhook_body(webhook_event("accountLink", None, 1780000000003, "01K0000000000000000000000D",
                                   link={"result": "failed", "nonce": "n"})),
        webhook_body(webhook_event("accountLink", U1, 1780000000004, "01K0000000000000000000000E",
                                   link={"result": "ok", "nonce": "n"})),
        webhook_body(webhook_event("memberJoined", None, 1780000000005, "01K0000000000000000000000F")),
        webhook_body(webhook_event("follow", "Ubad", 1780000000006, "01K0000000000000000000000G")),
        webhook_body(),
        {"not": "a body"},
    ]
    path = tmp_path / "hooks.jsonl"
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
    items = read(path)
    ok = actions(items)
    assert [(a.action, a.line_user_id) for a in ok] == [
        ("followed", U1), ("followed", U1), ("followed", U2), ("blocked", U2), ("linked", U1)]
    assert ok[0].unique_id == ok[1].unique_id == "01K0000000000000000000000A"
    assert ok[2].unique_id.startswith("linesync-")  # the pre-2022 fallback key
    assert event(ok[0])["properties"]["Unblocked"] is False
    assert "Unblocked" not in event(ok[2])["properties"]
    assert sorted(i.reason for i in items if isinstance(i, Skip)) == [
        "webhook accountLink not ok", "webhook memberJoined", "webhook message"]
    assert [r.line for r in rejects(items)] == [7, 9]


def test_webhook_archive_as_one_pretty_printed_json_document(tmp_path):
    doc = [webhook_body(webhook_event("follow", U1, 1780000000000, "01K0000000000000000000000A")),
           webhook_body(webhook_event("unfollow", U1, 1780000001000, "01K0000000000000000000000B"))]
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps(doc, indent=2))
    assert [a.action for a in actions(read(path))] == ["followed", "blocked"]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(doc[0], indent=2))
    assert [a.action for a in actions(read(single))] == ["followed"]


@pytest.mark.parametrize(("first", "fmt"), [
    ("action,line_user_id,occurred_at", "csv"),
    ('{"action": "sent"}', "jsonl"),
    ('{"destination": "U1", "events": []}', "line-webhook"),
    ("[", "line-webhook"),
    ("{", "line-webhook"),
])
def test_format_detection(first, fmt):
    assert detect_format(first) == fmt


def test_gzip_is_detected_from_content_and_a_truncated_one_is_a_clean_reject(tmp_path):
    rows = "".join(f"sent,{U1},2026-03-01T00:{i // 60:02d}:{i % 60:02d}Z,,m,\n" for i in range(2000))
    data = gzip.compress((HEADER + rows).encode())
    whole = tmp_path / "a.csv.gz"
    whole.write_bytes(data)
    assert len(actions(read(whole))) == 2000
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    items = read(cut)
    [broken] = rejects(items)
    assert "gzip data ends early" in broken.reason and broken.file == str(cut)
    assert 0 < len(actions(items)) < 2000
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    assert "cannot read further" in rejects(read(garbage))[0].reason


def test_standard_input_with_gzip_is_read_and_left_open(tmp_path):
    stdin = io.BufferedReader(io.BytesIO(gzip.compress((HEADER + f"sent,{U1},2026-03-01T00:00:00Z,,m,\n").encode())))
    source = Source("-", stdin, "utf-8", None)
    items = list(read_source(source, ActionValidator(None, NOW)))
    source.close()
    assert not stdin.closed
    assert [a.file for a in actions(items)] == ["<stdin>"]


def test_the_summary_reconciles_on_a_mixed_bag_of_inputs(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text(HEADER + f"sent,{U1},2026-03-01T00:00:00Z,,m,\n" * 3  # one action, three times
                        + f"sent,{U2},2026-02-01T00:00:00Z,,m,\n" + "nonsense,,,,,\n" + "\n"
                        + f"clicked,{U2},2026-03-02T00:00:00Z,e-1,m,u\n")
    hooks = tmp_path / "h.jsonl"
    hooks.write_text(json.dumps(webhook_body(webhook_event("message", U1, 1780000000000, "01K0A"),
                                             webhook_event("follow", U2, 1780000000000, "01K0B"))) + "\n")
    opts = BackfillOptions(inputs=(str(csv_path), str(hooks)), only=("sent", "followed"),
                           window=TimeWindow(since=datetime(2026, 2, 15, tzinfo=UTC)))
    result = run_backfill(opts, LinkEveryone(), sink=DryRunSink(), state_dir=tmp_path / "state", now=NOW)
    c = result.counts
    assert (c.read, c.would_send, c.duplicates, c.rejected, c.filtered) == (8, 2, 2, 1, 2)
    assert dict(c.skipped) == {"webhook message": 1}
    assert c.to_json()["reconciled"] is True


def test_limit_stops_reading_after_n_actions(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "".join(f"sent,{U1},2026-03-01T00:00:{i:02d}Z,,m,\n" for i in range(50)))
    result = run_backfill(BackfillOptions(inputs=(str(path),), limit=7), LinkEveryone(), sink=DryRunSink(),
                          state_dir=tmp_path / "state", now=NOW)
    assert (result.counts.read, result.counts.would_send) == (7, 7)
    assert result.counts.to_json()["reconciled"] is True


def test_a_missing_file_stops_before_anything_is_read(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        run_backfill(BackfillOptions(inputs=(str(tmp_path / "nope.csv"),)), LinkEveryone(), sink=DryRunSink(),
                     state_dir=tmp_path / "state", now=NOW)


def test_progress_is_reported_while_reading(tmp_path, monkeypatch):
    import linesync_cli.core.backfill.run as run_module

    monkeypatch.setattr(run_module, "PROGRESS_EVERY", 0.0)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "".join(f"sent,{U1},2026-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,,m,\n"
                                     for i in range(6000)))
    seen = []
    run_backfill(BackfillOptions(inputs=(str(path),)), LinkEveryone(), sink=DryRunSink(), state_dir=tmp_path / "state",
                 now=NOW, progress=seen.append)
    assert len(seen) >= 10
    assert [p.read for p in seen] == sorted(p.read for p in seen)
    assert seen[-1].bytes_total == path.stat().st_size and 0 < seen[-1].bytes_read <= seen[-1].bytes_total
    assert seen[-1].sent > 0 and seen[-1].dry_run  # batches are counted as they are cut
