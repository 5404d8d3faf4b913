"""What flows through the backfill pipeline: actions, rejects, skips, and the event JSON.

An `Action` is one valid LINE action with everything needed to send it and, should
Klaviyo refuse it, to write its original record to the rejects file. Events are
encoded to JSON once, here, in exactly the bytes the request will carry, so the
5 MB request limit is checked on real sizes and `--out` writes the real bodies.
The encoding is done by hand from pre-encoded pieces because it runs once per
record (a million times in a large backfill); a test checks it against json.dumps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The same encoding KlaviyoClient.post uses, so dry-run bodies are the bytes sent.
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# A JSON string literal (what encode_json gives for a str), without the dispatch.
encode_string = json.encoder.encode_basestring

# Klaviyo: a single string may not exceed 100 KB.
MAX_STRING_BYTES = 100 * 1024

# Input field -> event property (design.md section 5), in the order they are written.
OPTIONAL_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("message_id", "Message ID"),
    ("broadcast_id", "Broadcast ID"),
    ("flow_id", "Flow ID"),
    ("workflow_id", "Workflow ID"),
    ("send_type", "Send Type"),
    ("url", "URL"),
    ("failure_reason", "Failure Reason"),
    ("qr_code_id", "QR Code ID"),
)
PROPERTY_KEYS = {prop: encode_string(prop) + ":" for _, prop in OPTIONAL_PROPERTIES} | {"Unblocked": '"Unblocked":'}


def properties_head(line_user_id: str) -> str:
    """`{"LINE User ID":…,"Channel":"LINE"`: how every event's properties start (open)."""
    return '{"LINE User ID":' + encode_string(line_user_id) + ',"Channel":"LINE"'


def properties_json(line_user_id: str, extra: list[tuple[str, Any]]) -> str:
    """`{"LINE User ID":…,"Channel":"LINE",…}` with the optional properties in order."""
    text = properties_head(line_user_id)
    for prop, value in extra:
        if value is True or value is False:
            text += "," + PROPERTY_KEYS[prop] + ("true" if value else "false")
        else:
            text += "," + PROPERTY_KEYS[prop] + encode_string(value)
    return text + "}"


_DAYS: dict[int, str] = {}
_MEMO_LIMIT = 4096
# "HH:MM:" for each minute of a day and "SS+00:00" for each second: formatting a
# time becomes two look-ups (this runs once per event).
_MINUTES = [f"T{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SECONDS = [f"{s:02d}+00:00" for s in range(60)]


def time_text(epoch: int) -> str:
    """`2026-03-01T00:15:00+00:00`: what Klaviyo gets as `time` (UTC, to the second)."""
    day, secs = divmod(epoch, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")
        if len(_DAYS) < _MEMO_LIMIT:
            _DAYS[day] = date
    minute, second = divmod(secs, 60)
    return date + _MINUTES[minute] + _SECONDS[second]


_TAILS: dict[bool, dict[str, str]] = {True: {}, False: {}}  # backfill -> metric -> tail


def _event_tail(metric: str, backfill: bool) -> str:
    tail = _TAILS[backfill].get(metric)
    if tail is None:
        tail = _TAILS[backfill][metric] = (
            ',"backfill":' + ("true" if backfill else "false")
            + ',"metric":{"data":{"type":"metric","attributes":{"name":' + encode_string(metric) + "}}}}}")
    return tail


class CsvRecord(tuple):
    """A CSV row with its header, turned into a dict only if it is ever rejected.

    A tuple (header, row), so a reader makes one per row at C speed with
    `new_csv_record(CsvRecord, (header, row))`.
    """

    __slots__ = ()

    def __new__(cls, header: list[str], row: list[str]) -> CsvRecord:
        return tuple.__new__(cls, (header, row))

    @property
    def header(self) -> list[str]:
        return self[0]

    @property
    def row(self) -> list[str]:
        return self[1]

    def to_json(self) -> dict[str, str]:
        record = dict(zip(self.header, self.row, strict=False))
        if len(self.row) > len(self.header):
            record["(extra fields)"] = self.row[len(self.header):]  # type: ignore[assignment]
        return record


new_csv_record = tuple.__new__


def record_json(record: Any) -> Any:
    return record.to_json() if isinstance(record, CsvRecord) else record


class Action:
    """One valid LINE action, ready to become an event once its profile is known."""

    __slots__ = ("action", "metric", "line_user_id", "epoch", "unique_id", "properties", "file", "line", "record",
                 "time")

    def __init__(self, action: str, metric: str, line_user_id: str, epoch: int, unique_id: str, properties: str,
                 file: str, line: int, record: Any, time: str | None = None) -> None:
        self.action = action  # catalogue key, e.g. "sent"
        self.metric = metric  # Klaviyo event name
        self.line_user_id = line_user_id
        self.epoch = epoch  # seconds since 1970 (Klaviyo truncates `time` to the second)
        self.unique_id = unique_id
        self.properties = properties  # the event properties, JSON-encoded
        self.file = file
        self.line = line
        self.record = record  # the original record, for the rejects file
        # `time` as sent: time_text(epoch). A reader passes it when the input already
        # holds exactly that text (most do), which saves formatting it again.
        self.time = time_text(epoch) if time is None else time

    def dedup_key(self) -> str:
        # The LINE user stands for the profile: one user ID resolves to one profile.
        return f"{self.line_user_id}\x1f{self.metric}\x1f{self.unique_id}"

    def event_json(self, backfill: bool) -> str:
        """The `event` resource of the bulk request, encoded."""
        tail = _TAILS[backfill].get(self.metric) or _event_tail(self.metric, backfill)
        return (f'{{"type":"event","attributes":{{"properties":{self.properties},"time":"{self.time}",'
                f'"unique_id":{encode_string(self.unique_id)}{tail}')


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that cannot be sent, for the rejects file (JSON Lines)."""

    file: str
    line: int
    record: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "record": record_json(self.record), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Skip:
    """A record that is valid but not a LINE action we sync (e.g. a webhook `message`)."""

    reason: str
