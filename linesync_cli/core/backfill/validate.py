"""Turn one input record's fields into an `Action`, or say exactly why not.

Rules (design.md section 3): `action`, `line_user_id` and `occurred_at` are required;
times are ISO 8601 with an offset or Unix epoch milliseconds (naive only with
`--timezone`), from 2000 up to a year ahead; strings at most 100 KB. This runs
once per record, so the common case is kept short (memoised action names and
dates, no intermediate dicts).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from linesync_cli.catalogue import LineAction, lookup
from linesync_cli.core.backfill.records import (
    MAX_STRING_BYTES,
    OPTIONAL_PROPERTIES,
    PROPERTY_KEYS,
    Action,
    encode_string,
    properties_head,
)

LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")
SEND_TYPES = frozenset({"broadcast", "flow", "workflow"})
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH_MS = re.compile(r"-?\d+")
_DATETIME_MIN_LEN = len("2000-01-01")
# Strings this short cannot exceed 100 KB in UTF-8 (4 bytes a character at most).
_SURELY_SHORT = MAX_STRING_BYTES // 4
_MEMO_LIMIT = 4096
_SECONDS = {f"{s:02d}": s for s in range(60)}
_USER_MEMO = 20_000  # LINE user IDs whose properties head is kept (about 250 bytes each)
_blake2b = hashlib.blake2b
# A copy of an empty 16-byte blake2b costs less than setting one up (the same digests).
_new_digest = hashlib.blake2b(digest_size=16).copy
_fromisoformat = datetime.fromisoformat


class Invalid(Exception):
    """A record that fails validation; the message is the reason in the rejects file."""


def stable_unique_id(*parts: str) -> str:
    """A deterministic unique_id from the parts that identify an action (build() inlines it)."""
    digest = _blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
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
    if len(value) > _SURELY_SHORT and len(value.encode()) > MAX_STRING_BYTES:
        raise Invalid(f"{name} is longer than Klaviyo's 100 KB limit for a string")
    return value


class ActionValidator:
    """Validates records; built once per run with the zone for naive times and the clock."""

    def __init__(self, timezone: tzinfo | None = None, now: datetime | None = None) -> None:
        self.timezone = timezone
        self.latest = (now or datetime.now(UTC)) + timedelta(days=365)
        self._earliest_s = int(EARLIEST.timestamp())
        self._latest_s = int(self.latest.timestamp())
        self._actions: dict[str, LineAction | None] = {}
        self._heads: dict[str, str] = {}  # valid LINE user ID -> properties_head(user)
        self._minutes: dict[str, int] = {}  # "2026-03-01T00:15:" of a canonical time -> its epoch

    # -- fields --------------------------------------------------------------
    def known_action(self, raw: str) -> LineAction | None:
        found = self._actions.get(raw, False)
        if found is False:
            found = lookup(raw)
            if len(self._actions) < _MEMO_LIMIT:
                self._actions[raw] = found
        return found  # type: ignore[return-value]

    def parse_time(self, value: Any) -> int:
        """Seconds since the epoch (truncated), from ISO 8601 or epoch milliseconds."""
        if value is None or value == "":
            raise Invalid("occurred_at is missing")
        if isinstance(value, bool):
            raise Invalid("occurred_at must be ISO 8601 with an offset or epoch milliseconds")
        if isinstance(value, int | float):
            return self._in_range(int(value // 1000), value)
        if not isinstance(value, str):
            raise Invalid("occurred_at must be ISO 8601 with an offset or epoch milliseconds")
        text = value.strip()
        if len(text) < _DATETIME_MIN_LEN or text[4] != "-":  # not 2026-…: epoch milliseconds?
            if _EPOCH_MS.fullmatch(text):
                return self._in_range(int(text) // 1000, text)
            if not text:
                raise Invalid("occurred_at is missing")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(f"occurred_at {text[:60]!r} is not ISO 8601 or epoch milliseconds") from None
        if dt.tzinfo is None:
            if self.timezone is None:
                raise Invalid(f"occurred_at {text!r} has no UTC offset (add one, or pass --timezone ZONE)")
            dt = dt.replace(tzinfo=self.timezone)
        return self._in_range(int(dt.timestamp()), text)

    def _in_range(self, seconds: int, shown: Any) -> int:
        if seconds < self._earliest_s:
            looks_like_seconds = seconds > 0 and seconds * 1000 >= self._earliest_s
            hint = " (epoch milliseconds expected; this looks like seconds)" if looks_like_seconds else ""
            raise Invalid(f"occurred_at {shown!r} is before 2000{hint}")
        if seconds > self._latest_s:
            raise Invalid(f"occurred_at {shown!r} is more than a year ahead")
        return seconds

    # -- records -------------------------------------------------------------
    def build(self, raw_action: Any, user: Any, occurred: Any, values: Any, optional: Sequence[tuple[Any, str, str]],
              event_id: Any, file: str, line: int, record: Any) -> Action:
        """The checks shared by every input.

        `optional` lists (where, field, property) for the optional fields present, and
        `values[where]` is the field's value (a row index for CSV, a key for JSON).
        """
        known = self._actions.get(raw_action) if type(raw_action) is str else None
        if known is None:
            if not isinstance(raw_action, str):
                raise Invalid("action is missing" if raw_action is None else "action must be text")
            known = self.known_action(raw_action)
            if known is None:
                if not raw_action.strip():
                    raise Invalid("action is missing")
                raise Invalid(f"unknown action {raw_action.strip()[:100]!r}")
        # A user ID met before is valid, and its properties start with the same text.
        props = self._heads.get(user) if type(user) is str else None
        if props is None:
            if type(user) is not str or not LINE_USER_ID.fullmatch(user):
                user = user.strip() if isinstance(user, str) else user
                if not user:
                    raise Invalid("line_user_id is missing")
                if not isinstance(user, str) or not LINE_USER_ID.fullmatch(user):
                    raise Invalid("line_user_id must be U followed by 32 lowercase hex characters")
            props = self._heads.get(user)
            if props is None:
                if len(self._heads) >= _USER_MEMO:
                    self._heads.clear()  # bounded; the users of a file tend to come in runs
                props = self._heads[user] = properties_head(user)
        # The common case inline (ISO 8601 with an offset, in range); parse_time says why not.
        epoch = -1
        shown: str | None = None
        if type(occurred) is str and len(occurred) >= 19 and occurred[4] == "-":
            # A canonical time (below) in a minute met before: its epoch without parsing.
            minute = self._minutes.get(occurred[:17]) if occurred[19:] == "+00:00" else None
            second = _SECONDS.get(occurred[17:19]) if minute is not None else None
            if second is not None and len(occurred) == 25:
                epoch = minute + second  # type: ignore[operator]
                if self._earliest_s <= epoch <= self._latest_s:
                    shown = occurred
                else:
                    epoch = -1
            else:
                try:
                    dt = _fromisoformat(occurred)
                except ValueError:
                    dt = None
                if dt is not None and dt.tzinfo is not None:
                    epoch = int(dt.timestamp())
                    if not self._earliest_s <= epoch <= self._latest_s:
                        epoch = -1
                    # `2026-03-01T00:15:00+00:00` is what time_text(epoch) gives back, so the
                    # text is kept. Only this shape: fromisoformat also reads week dates
                    # (2026-W09-7T…), other separators and offsets, which format differently
                    # (and a Python that reads T24:00 as the next day's midnight).
                    elif (len(occurred) == 25 and occurred[10] == "T" and occurred[19:] == "+00:00"
                          and occurred[7] == "-" and occurred[13] == ":" and occurred[16] == ":"
                          and occurred[11:13] < "24" and occurred.isascii()):
                        shown = occurred
                        if len(self._minutes) >= _MEMO_LIMIT:
                            self._minutes.clear()
                        self._minutes[occurred[:17]] = epoch - dt.second
        if epoch < 0:
            epoch = self.parse_time(occurred)
        message_id = url = ""
        for where, name, prop in optional:
            value = values[where]
            if value is None or value == "":
                continue
            if type(value) is str and len(value) <= _SURELY_SHORT:
                value = value.strip()
                if not value:
                    continue
            else:
                value = _text(name, value)
                if value is None:
                    continue
            if prop == "Message ID":
                message_id = value
            elif prop == "URL":
                url = value
            elif prop == "Send Type":
                value = value.lower()
                if value not in SEND_TYPES:
                    raise Invalid(f"send_type {value[:50]!r} is not broadcast, flow or workflow")
            props = f"{props},{PROPERTY_KEYS[prop]}{encode_string(value)}"
        unique_id = _text("event_id", event_id) if event_id is not None and event_id != "" else None
        if unique_id is None:
            digest = _new_digest()  # stable_unique_id, inlined
            digest.update(f"{known.metric_name}\x1f{user}\x1f{epoch}\x1f{message_id}\x1f{url}".encode())
            unique_id = "linesync-" + digest.hexdigest()
        return Action(known.key, known.metric_name, user, epoch, unique_id, props + "}", file, line, record, shown)

    def action(self, fields: dict[str, Any], file: str, line: int, record: Any) -> Action:
        """Validate a record given as a dict with normalised keys (JSON Lines)."""
        optional = [(name, name, prop) for name, prop in OPTIONAL_PROPERTIES if name in fields]
        return self.build(fields.get("action"), fields.get("line_user_id"), fields.get("occurred_at"), fields,
                          optional, fields.get("event_id"), file, line, record)
