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
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import add, attrgetter
from pathlib import Path

from linesync_cli.core.backfill.records import _TAILS, Action, _event_tail, encode_string
from linesync_cli.state import ensure_dir

MAX_EVENTS = 1000
# Klaviyo's limit is "5MB"; stay under the decimal reading of it.
MAX_BYTES = 5_000_000

_ENTRY_COSTS_KEPT = 50_000  # like the link cache in run.py: bounded, whatever the input
_pack_key = struct.Struct("<qq").pack
_key_fields = attrgetter("line_user_id", "metric", "unique_id")  # joined: Action.dedup_key
_BODY_HEAD = '{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":['
_BODY_TAIL = "]}}}}"


class SeenKeys:
    """Which (LINE user, metric, unique_id) keys the run has met, kept on disk.

    A set in memory would grow with the input (about 100 bytes a key); a
    temporary SQLite table keeps memory flat at any size.

    A key is 128 bits: two 64-bit string hashes (Python's SipHash, keyed per process;
    the table lives only as long as the process). The first is the table's integer
    primary key, which SQLite inserts about twice as fast as a 16-byte blob key; the
    second tells a repeat from the rare other key with the same first half, which
    then goes to a side table keyed by all 128 bits. Keys arrive in chunks, each row
    tagged with its chunk's number: one multi-row INSERT OR IGNORE per 500 keys, and
    only when it inserted fewer rows than there are keys, one look-up of what is
    stored under them. Most chunks hold no repeat and pay for the insert alone.
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
        self._db.execute("CREATE TABLE seen(h INTEGER PRIMARY KEY, c INTEGER NOT NULL, chunk INTEGER NOT NULL)")
        self._db.execute("CREATE TABLE same_h(k BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._chunks = 0
        self._insert: dict[int, str] = {}
        self._stored: dict[int, str] = {}
        if os.name == "posix":
            # The open handle keeps working; nothing is left behind, even after a kill -9.
            os.unlink(self._path)
            self._path = ""

    def _sql(self, n: int) -> tuple[str, str]:
        """(insert n keys tagged ?1; what is stored under n first halves). Parameters from ?2 on."""
        insert = self._insert.get(n)
        if insert is None:
            insert = self._insert[n] = ("INSERT OR IGNORE INTO seen VALUES "
                                        + ",".join(f"(?{i},?{i + 1},?1)" for i in range(2, 2 * n + 2, 2)))
            self._stored[n] = "SELECT h, c, chunk FROM seen WHERE h IN (" + ",".join(["?"] * n) + ")"
        return insert, self._stored[n]

    def first_seen(self, actions: Sequence[Action]) -> list[bool]:
        """For each action in order: True the first time its key is met, False for repeats."""
        # Action.dedup_key and the two hashes, a column at a time (C loops, no Python per key).
        keys = list(map("\x1f".join, map(_key_fields, actions)))
        halves: list[int] = [0] * (2 * len(keys))
        halves[0::2] = map(hash, keys)
        halves[1::2] = map(hash, map(add, keys, repeat("\x1e")))
        self._chunks += 1
        tag = self._chunks
        db = self._db
        before = db.total_changes
        step = 2 * self.CHUNK
        for start in range(0, len(halves), step):
            part = halves[start:start + step]
            db.execute(self._sql(len(part) // 2)[0], [tag, *part])
        if db.total_changes - before == len(actions):
            return [True] * len(actions)  # all new, none twice: the common case
        firsts = halves[0::2]
        stored: dict[int, tuple[int, int]] = {}
        for start in range(0, len(firsts), self.CHUNK):
            part = firsts[start:start + self.CHUNK]
            stored.update((h, (c, chunk)) for h, c, chunk in db.execute(self._sql(len(part))[1], part))
        flags = []
        met: set[int] = set()
        for h, c in zip(firsts, halves[1::2], strict=True):
            owner, chunk = stored[h]
            if owner == c:  # the key stored under h: new if stored by this chunk, the first time here
                first = chunk == tag and h not in met
                met.add(h)
            else:  # another key has this first half
                first = bool(db.execute("INSERT INTO same_h VALUES (?) ON CONFLICT DO NOTHING RETURNING k",
                                        (_pack_key(h, c),)).fetchall())
            flags.append(first)
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
        parts: list[str] = []
        append = parts.append
        for profile_id, events in self.entries.items():
            # Most profiles have one event in a request: no inner join for them.
            inner = events[0][0] if len(events) == 1 else ",".join([e for e, _ in events])
            append(f"{head}{encode_string(profile_id)}{_ENTRY_MIDDLE}{inner}{_ENTRY_TAIL}")
        return f"{_BODY_HEAD}{','.join(parts)}{_BODY_TAIL}".encode()

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
        self._entry_overhead = _ENTRY_OVERHEAD[backfill]
        self._entry_costs: dict[str, int] = {}  # profile ID -> bytes its entry adds besides its events
        self._current = self._new()
        self._keys: set[tuple[str, str, str]] = set()
        self.stopped_at = 0

    def _new(self) -> Batch:
        self._seq += 1
        self._keys = set()
        return Batch(self._seq, self.backfill)

    def add(self, profile_id: str, action: Action) -> tuple[Batch | None, bool]:
        """Add one event; return (the previous batch when it is full, else None; whether it was added).

        Not added means a repeat of (profile, metric, unique_id) within the request:
        two LINE users resolving to one profile with the same event ID.
        """
        done, _, repeats = self.add_run([profile_id], [action], 0)
        return done, not repeats

    def add_run(self, profile_ids: Sequence[str], actions: Sequence[Action], start: int) -> tuple[Batch | None, int, int]:
        """Add actions[start:] (profile_ids[i] is the profile of actions[i]) until a batch is full.

        Returns (the full batch, else None; the index to go on from; how many were
        repeats of (profile, metric, unique_id) within their request, left out). One
        loop for a chunk rather than a call per event (this runs once per event).
        On an exception, `stopped_at` is the index of the action in hand.
        """
        backfill = self.backfill
        tails = _TAILS[backfill]
        max_events, max_bytes = self.max_events, self.max_bytes
        entry_costs = self._entry_costs
        current = self._current
        entries = current.entries
        keys = self._keys
        repeats = 0
        i = start
        n = len(actions)
        try:
            while i < n:
                action = actions[i]
                profile_id = profile_ids[i]
                i += 1
                metric = action.metric
                # Action.event_json, inlined.
                event_json = (f'{{"type":"event","attributes":{{"properties":{action.properties},'
                              f'"time":"{action.time}","unique_id":{encode_string(action.unique_id)}'
                              f'{tails.get(metric) or _event_tail(metric, backfill)}')
                size = len(event_json) if event_json.isascii() else len(event_json.encode())
                events = entries.get(profile_id)
                if events is None:
                    cost = size + (entry_costs.get(profile_id) or self._entry_cost(profile_id))
                else:
                    cost = size + 1
                done = None
                if current.events >= max_events or current.size + cost > max_bytes:
                    if current.events:
                        done = current
                        current = self._current = self._new()
                        entries, keys = current.entries, self._keys
                        if events is not None:
                            events = None
                            cost = size + (entry_costs.get(profile_id) or self._entry_cost(profile_id))
                if events is None:
                    # A profile's first event in the request cannot repeat one; keys are
                    # kept only for profiles with more than one event in it.
                    entries[profile_id] = [(event_json, action)]
                else:
                    if len(events) == 1:
                        first = events[0][1]
                        keys.add((profile_id, first.metric, first.unique_id))
                    key = (profile_id, metric, action.unique_id)
                    if key in keys:
                        repeats += 1
                        if done is not None:
                            return done, i, repeats
                        continue
                    keys.add(key)
                    events.append((event_json, action))
                current.size += cost
                current.events += 1
                if done is not None:
                    return done, i, repeats
        except BaseException:
            self.stopped_at = i - 1
            raise
        return None, n, repeats

    def _entry_cost(self, profile_id: str) -> int:
        cost = self._entry_overhead + _byte_len(encode_string(profile_id))
        if len(self._entry_costs) >= _ENTRY_COSTS_KEPT:
            self._entry_costs.clear()
        self._entry_costs[profile_id] = cost
        return cost

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
