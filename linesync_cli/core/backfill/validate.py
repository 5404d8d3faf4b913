"""Turn one input record's fields into an `Action`, or say exactly why not.

Rules (design.md section 3): `action`, `line_user_id` and `occurred_at` are required;
times are ISO 8601 with an offset or Unix epoch milliseconds (naive only with
`--timezone`), from 2000 up to a year ahead; strings at most 100 KB.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from linesync_cli.catalogue import lookup
from linesync_cli.core.backfill.records import MAX_STRING_BYTES, OPTIONAL_PROPERTIES, Action

LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")
SEND_TYPES = frozenset({"broadcast", "flow", "workflow"})
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH_MS = re.compile(r"-?\d+")
_DATETIME_MIN_LEN = len("2000-01-01")


class Invalid(Exception):
    """A record that fails validation; the message is the reason in the rejects file."""


def stable_unique_id(*parts: str) -> str:
    """A deterministic unique_id from the parts that identify an action."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    return "linesync-" + digest


def _text(name: str, value: Any) -> str | None:
    """A field as stripped text; None when absent or empty. Numbers become text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be text, not {type(value).__name__}")
    else:
        value = str(value)
    if not value:
        return None
    if len(value) * 4 > MAX_STRING_BYTES and len(value.encode()) > MAX_STRING_BYTES:
        raise Invalid(f"{name} is longer than Klaviyo's 100 KB limit for a string")
    return value


class ActionValidator:
    """Validates records; built once per run with the zone for naive times and the clock."""

    def __init__(self, timezone: tzinfo | None = None, now: datetime | None = None) -> None:
        self.timezone = timezone
        self.latest = (now or datetime.now(UTC)) + timedelta(days=365)
        self._earliest_s = int(EARLIEST.timestamp())
        self._latest_s = int(self.latest.timestamp())

    def parse_time(self, value: Any) -> int:
        """Seconds since the epoch (truncated), from ISO 8601 or epoch milliseconds."""
        if value is None or value == "":
            raise Invalid("occurred_at is missing")
        if isinstance(value, bool):
            raise Invalid("occurred_at must be ISO 8601 with an offset or epoch milliseconds")
        if isinstance(value, int | float):
            seconds = int(value // 1000)
            return self._in_range(seconds, value)
        if not isinstance(value, str):
            raise Invalid("occurred_at must be ISO 8601 with an offset or epoch milliseconds")
        text = value.strip()
        if _EPOCH_MS.fullmatch(text):
            return self._in_range(int(text) // 1000, text)
        if len(text) < _DATETIME_MIN_LEN:
            raise Invalid(f"occurred_at {text!r} is not ISO 8601 or epoch milliseconds")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(f"occurred_at {text!r} is not ISO 8601 or epoch milliseconds") from None
        if dt.tzinfo is None:
            if self.timezone is None:
                raise Invalid(f"occurred_at {text!r} has no UTC offset (add one, or pass --timezone ZONE)")
            dt = dt.replace(tzinfo=self.timezone)
        return self._in_range(int(dt.timestamp()), text)

    def _in_range(self, seconds: int, shown: Any) -> int:
        if seconds < self._earliest_s:
            hint = " (epoch milliseconds expected, this looks like seconds)" if seconds > 0 and seconds * 1000 >= self._earliest_s else ""
            raise Invalid(f"occurred_at {shown!r} is before 2000{hint}")
        if seconds > self._latest_s:
            raise Invalid(f"occurred_at {shown!r} is more than a year ahead")
        return seconds

    def action(self, fields: dict[str, Any], file: str, line: int, record: Any) -> Action:
        """Validate an actions-file record (CSV row or JSON object, keys already normalised)."""
        raw_action = fields.get("action")
        if raw_action is None or (isinstance(raw_action, str) and not raw_action.strip()):
            raise Invalid("action is missing")
        if not isinstance(raw_action, str):
            raise Invalid("action must be text")
        known = lookup(raw_action)
        if known is None:
            raise Invalid(f"unknown action {raw_action.strip()[:100]!r}")
        user = fields.get("line_user_id")
        user = user.strip() if isinstance(user, str) else user
        if not user:
            raise Invalid("line_user_id is missing")
        if not isinstance(user, str) or not LINE_USER_ID.fullmatch(user):
            raise Invalid("line_user_id must be U followed by 32 lowercase hex characters")
        epoch = self.parse_time(fields.get("occurred_at"))
        properties: dict[str, Any] = {"LINE User ID": user, "Channel": "LINE"}
        for key, prop in OPTIONAL_PROPERTIES:
            value = fields.get(key)
            if value is not None:
                value = _text(key, value)
                if value is not None:
                    properties[prop] = value
        send_type = properties.get("Send Type")
        if send_type is not None:
            send_type = send_type.lower()
            if send_type not in SEND_TYPES:
                raise Invalid(f"send_type {send_type[:50]!r} is not broadcast, flow or workflow")
            properties["Send Type"] = send_type
        event_id = _text("event_id", fields.get("event_id"))
        time_text = iso_utc(epoch)
        unique_id = event_id or stable_unique_id(
            known.metric_name, user, str(epoch), properties.get("Message ID", ""), properties.get("URL", ""),
        )
        return Action(known.key, known.metric_name, user, epoch, time_text, unique_id, properties, file, line, record)


def iso_utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
