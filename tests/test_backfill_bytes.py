"""The request bodies a backfill builds, byte for byte, against an independent model.

The pipeline builds bodies by hand from cached pieces (the properties head of each
LINE user, the time text kept from the input, the epoch of a minute met before, a
copied blake2b state, one string per profile entry). Here hypothesis writes actions
with odd strings (non-ASCII, emoji, control characters, quotes, backslashes,
padding), times in every shape the readers take and numbers large and small, reads
them back as CSV and as JSON Lines, and compares each body with what the Klaviyo
client's own encoding (json.dumps, ensure_ascii=False, compact separators) gives
for a document built here from the input alone.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linesync_cli.catalogue import ACTIONS
from linesync_cli.core.backfill.batching import BatchBuilder
from linesync_cli.core.backfill.readers import open_source, read_source
from linesync_cli.core.backfill.records import Action, Reject
from linesync_cli.core.backfill.validate import ActionValidator
from tests.support.backfill_data import line_id

NOW = datetime(2026, 11, 1, tzinfo=UTC)
# What KlaviyoClient.post does with a dict body.
client_encoding = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
PROPERTIES = [("message_id", "Message ID"), ("broadcast_id", "Broadcast ID"), ("flow_id", "Flow ID"),
              ("workflow_id", "Workflow ID"), ("send_type", "Send Type"), ("url", "URL"),
              ("failure_reason", "Failure Reason"), ("qr_code_id", "QR Code ID")]
FIELDS = ["action", "line_user_id", "occurred_at", "event_id", *[f for f, _ in PROPERTIES]]

# Odd text: any code point but surrogates (the readers reject those, tested below) and
# NUL (csv cannot write it), with the characters JSON encoders disagree on made likely.
odd_text = st.text(st.one_of(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                             st.sampled_from(['"', "\\", "/", "\x7f", "\u2028", "\u2029", "\ufeff", "😀", "ü",
                                              "\x1f", "\x01", "\b", "\f", "\t", " ", "\n", "\r"])),
                   max_size=12)
optional_text = st.one_of(st.just(""), st.just("   "), odd_text,
                          st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=False).map(repr))


@st.composite
def time_text(draw) -> tuple[str, int]:
    """An occurred_at in one of the shapes the readers take, and its epoch (independently)."""
    base = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(-10**8, 10**7)))
    shape = draw(st.sampled_from(["canonical", "canonical", "z", "offset", "fraction", "week", "millis", "space"]))
    epoch = int(base.timestamp())
    if shape == "canonical":
        return base.strftime("%Y-%m-%dT%H:%M:%S+00:00"), epoch
    if shape == "z":
        return base.strftime("%Y-%m-%dT%H:%M:%SZ"), epoch
    if shape == "offset":
        zone = timezone(timedelta(minutes=draw(st.sampled_from([540, -300, 330, 0]))))
        return base.astimezone(zone).isoformat(), epoch
    if shape == "fraction":
        return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{draw(st.integers(0, 999999)):06d}+00:00", epoch
    if shape == "week":
        year, week, day = base.isocalendar()
        return f"{year:04d}-W{week:02d}-{day}T{base:%H:%M:%S}+00:00", epoch
    if shape == "space":
        return base.strftime("%Y-%m-%d %H:%M:%S+00:00"), epoch
    return str(epoch * 1000 + draw(st.integers(0, 999))), epoch


@st.composite
def records(draw) -> list[dict[str, str]]:
    rows = []
    for i in range(draw(st.integers(1, 25))):
        when, _ = draw(time_text())
        row = {"action": draw(st.sampled_from([a.key for a in ACTIONS])), "line_user_id": line_id(draw(st.integers(0, 4))),
               "occurred_at": when}
        event_id = draw(st.one_of(st.just(""), odd_text))
        row["event_id"] = f"{event_id}#{i}" if event_id.strip() else event_id  # distinct when given
        for field, _ in PROPERTIES:
            if field == "send_type":
                row[field] = draw(st.sampled_from(["", "broadcast", " Flow ", "WORKFLOW"]))
            else:
                row[field] = draw(optional_text)
        if not row["event_id"].strip():
            row["message_id"] = f"{row['message_id']}#{i}"  # generated unique_ids differ too
        rows.append(row)
    return rows


def epoch_of(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text) // 1000
    return int(datetime.fromisoformat(text).timestamp())


def expected_event(row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(profile, event) for one input row, from the design's rules alone."""
    metric = next(a.metric_name for a in ACTIONS if a.key == row["action"])
    user = row["line_user_id"]
    epoch = epoch_of(row["occurred_at"])
    props: dict[str, Any] = {"LINE User ID": user, "Channel": "LINE"}
    for field, prop in PROPERTIES:
        value = row[field].strip()
        if value:
            props[prop] = value.lower() if field == "send_type" else value
    unique_id = row["event_id"].strip()
    if not unique_id:
        parts = [metric, user, str(epoch), props.get("Message ID", ""), props.get("URL", "")]
        unique_id = "linesync-" + hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    event = {"type": "event", "attributes": {
        "properties": props, "time": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "unique_id": unique_id, "backfill": True,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}}}}
    return "P" + user[-6:], event


def expected_body(rows: list[dict[str, str]]) -> bytes:
    entries: dict[str, list[dict]] = {}
    for row in rows:
        profile, event = expected_event(row)
        entries.setdefault(profile, []).append(event)
    doc = {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [
        {"type": "event-bulk-create", "attributes": {
            "backfill": True, "profile": {"data": {"type": "profile", "id": profile, "attributes": {}}},
            "events": {"data": events}}}
        for profile, events in entries.items()]}}}}
    return client_encoding(doc).encode()


def built_body(path: Path) -> tuple[bytes, int]:
    source = open_source(str(path), "utf-8")
    try:
        items = list(read_source(source, ActionValidator(None, NOW)))
    finally:
        source.close()
    assert [i for i in items if not isinstance(i, Action)] == []
    builder = BatchBuilder(backfill=True)
    for action in items:
        done, added = builder.add("P" + action.line_user_id[-6:], action)
        assert done is None and added
    batch = builder.flush()
    assert batch is not None
    return batch.body(), batch.size


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=records())
def test_bodies_from_csv_and_json_lines_are_the_clients_encoding_of_the_input(tmp_path, rows):
    expected = expected_body(rows)
    as_csv = tmp_path / "in.csv"
    with open(as_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, FIELDS, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    as_jsonl = tmp_path / "in.jsonl"
    as_jsonl.write_text("".join(json.dumps(r, ensure_ascii=ascii) + "\n"
                                for r, ascii in zip(rows, [True, False] * len(rows), strict=False)), encoding="utf-8")
    for path in (as_csv, as_jsonl):
        body, size = built_body(path)
        assert body == expected, path.suffix
        assert size == len(body)


def test_a_lone_surrogate_escape_in_json_lines_rejects_that_record_only(tmp_path):
    good = {"action": "sent", "line_user_id": line_id(1), "occurred_at": "2026-06-01T00:00:00+00:00"}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good | {"url": "x\ud800"}) + "\n"  # json.dumps writes it as \ud800
                    + json.dumps(good | {"url": "\ud83d\ude00 a pair is fine"}) + "\n"
                    + json.dumps(good | {"url": "\\ud800 as text"}) + "\n", encoding="utf-8")
    source = open_source(str(path), "utf-8")
    try:
        items = list(read_source(source, ActionValidator(None, NOW)))
    finally:
        source.close()
    assert [type(i) for i in items] == [Reject, Action, Action]
    assert (items[0].file, items[0].line) == (str(path), 1)
    assert "without its pair" in items[0].reason
    builder = BatchBuilder(backfill=True)
    for action in items[1:]:
        builder.add("P1", action)
    body = builder.flush().body()  # encodes: no surrogate got through
    assert "😀 a pair is fine".encode() in body
