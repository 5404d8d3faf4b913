"""Duplicates, grouping by profile, and request bodies within Klaviyo's limits.

A request (`POST /api/event-bulk-create-jobs`) holds at most 1,000 events and 5 MB;
events are grouped into one `event-bulk-create` entry per profile, and no two events
in one request share (profile, metric, unique_id) (the spec says such a request
fails whole). Batches are cut from the input in order, so the same input and the
same linkage give the same batches, byte for byte: that is what lets the ledger
recognise a batch that was already accepted (its key is a hash of its body).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from linesync_cli.core.backfill.records import Action, encode_string
from linesync_cli.state import ensure_dir

MAX_EVENTS = 1000
# Klaviyo's limit is "5MB"; stay under the decimal reading of it.
MAX_BYTES = 5_000_000

_BODY_HEAD = '{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":['
_BODY_TAIL = "]}}}}"


class SeenKeys:
    """Which (LINE user, metric, unique_id) keys the run has met, kept on disk.

    A set in memory would grow with the input (about 100 bytes a key); a
    temporary SQLite table keeps memory flat at any size. Keys arrive in chunks:
    one multi-row INSERT ... RETURNING answers which of them are new.
    """

    CHUNK = 500  # rows per statement (well under SQLite's parameter limit)

    def __init__(self, directory: Path | None = None) -> None:
        # In the state dir rather than /tmp, which is often memory-backed (tmpfs).
        if directory is not None:
            ensure_dir(directory)
        fd, self._path = tempfile.mkstemp(prefix="backfill-seen-", suffix=".sqlite", dir=directory)
        os.close(fd)
        # Used from one helper thread at a time (run.py), not always the creating one.
        self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA cache_size=-8000")  # 8 MB page cache, whatever the input size
        self._db.execute("CREATE TABLE seen(k BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._sql: dict[int, str] = {}
        if os.name == "posix":
            # The open handle keeps working; nothing is left behind, even after a kill -9.
            os.unlink(self._path)
            self._path = ""

    def _insert_sql(self, n: int) -> str:
        sql = self._sql.get(n)
        if sql is None:
            sql = self._sql[n] = ("INSERT INTO seen VALUES " + ",".join(["(?)"] * n)
                                  + " ON CONFLICT DO NOTHING RETURNING k")
        return sql

    def first_seen(self, actions: Sequence[Action]) -> list[bool]:
        """For each action in order: True the first time its key is met, False for repeats."""
        keys = [hashlib.blake2b(a.dedup_key().encode(), digest_size=16).digest() for a in actions]
        new: set[bytes] = set()
        execute = self._db.execute
        for start in range(0, len(keys), self.CHUNK):
            chunk = keys[start:start + self.CHUNK]
            new.update(row[0] for row in execute(self._insert_sql(len(chunk)), chunk))
        flags = []
        for k in keys:
            if k in new:
                new.discard(k)  # a second copy within the same chunk is a repeat
                flags.append(True)
            else:
                flags.append(False)
        return flags

    def close(self) -> None:
        self._db.close()
        if self._path:
            try:
                os.unlink(self._path)
            except OSError:
                pass


_ENTRY_OPEN = {
    flag: '{"type":"event-bulk-create","attributes":{"backfill":' + ("true" if flag else "false")
    + ',"profile":{"data":{"type":"profile","id":'
    for flag in (True, False)
}
_ENTRY_MIDDLE = ',"attributes":{}}},"events":{"data":['
_ENTRY_TAIL = "]}}}"
# Bytes an entry adds besides its events and its encoded profile ID (plus a separating comma).
_ENTRY_OVERHEAD = {flag: len(_ENTRY_OPEN[flag]) + len(_ENTRY_MIDDLE) + len(_ENTRY_TAIL) + 1 for flag in (True, False)}


def _byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


@dataclass
class Batch:
    """One request: profile entries in first-seen order, each with its events."""

    seq: int  # 1-based position in the run
    backfill: bool
    entries: dict[str, list[tuple[str, Action]]] = field(default_factory=dict)  # profile -> (event JSON, action)
    events: int = 0
    # The first entry has no comma before it, but every entry is costed with one.
    size: int = len(_BODY_HEAD) + len(_BODY_TAIL) - 1

    def body(self) -> bytes:
        head = _ENTRY_OPEN[self.backfill]
        parts = [head + encode_string(profile_id) + _ENTRY_MIDDLE + ",".join([e for e, _ in events]) + _ENTRY_TAIL
                 for profile_id, events in self.entries.items()]
        return (_BODY_HEAD + ",".join(parts) + _BODY_TAIL).encode()

    def located(self) -> list[tuple[int, int, Action]]:
        """(entry index, event index, action): how error pointers address the events."""
        return [(i, j, a) for i, events in enumerate(self.entries.values()) for j, (_, a) in enumerate(events)]

    def subset(self, keep: set[int]) -> Batch:
        """A batch of the same profiles holding only the events whose id() is in `keep`."""
        sub = Batch(self.seq, self.backfill)
        for profile_id, events in self.entries.items():
            for event_json, action in events:
                if id(action) in keep:
                    sub.add(profile_id, event_json, action)
        return sub

    def cost(self, profile_id: str, event_size: int) -> int:
        """Bytes the body grows by with this event (a new entry costs its frame)."""
        if profile_id in self.entries:
            return event_size + 1
        return event_size + _ENTRY_OVERHEAD[self.backfill] + _byte_len(encode_string(profile_id))

    def add(self, profile_id: str, event_json: str, action: Action, size: int | None = None,
            cost: int | None = None) -> None:
        if cost is None:
            cost = self.cost(profile_id, _byte_len(event_json) if size is None else size)
        self.size += cost
        events = self.entries.get(profile_id)
        if events is None:
            self.entries[profile_id] = [(event_json, action)]
        else:
            events.append((event_json, action))
        self.events += 1


def batch_key(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class BatchBuilder:
    """Fills batches with linked events; hands back each batch as it fills up."""

    def __init__(self, backfill: bool, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES) -> None:
        self.backfill = backfill
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._seq = 0
        self._current = self._new()
        self._keys: set[tuple[str, str, str]] = set()

    def _new(self) -> Batch:
        self._seq += 1
        self._keys = set()
        return Batch(self._seq, self.backfill)

    def add(self, profile_id: str, action: Action) -> tuple[Batch | None, bool]:
        """Add one event; return (the previous batch when it is full, else None; whether it was added).

        Not added means a repeat of (profile, metric, unique_id) within the request:
        two LINE users resolving to one profile with the same event ID.
        """
        event_json = action.event_json(self.backfill)
        size = _byte_len(event_json)
        done = None
        current = self._current
        cost = current.cost(profile_id, size)
        if current.events and (current.events >= self.max_events or current.size + cost > self.max_bytes):
            done, current = current, self._new()
            self._current = current
            cost = current.cost(profile_id, size)
        key = (profile_id, action.metric, action.unique_id)
        if key in self._keys:
            return done, False
        self._keys.add(key)
        current.add(profile_id, event_json, action, size, cost)
        return done, True

    @property
    def held_events(self) -> int:
        """Events added to the open batch, not yet handed out."""
        return self._current.events

    def flush(self) -> Batch | None:
        current = self._current
        if not current.events:
            return None
        self._current = self._new()
        return current
