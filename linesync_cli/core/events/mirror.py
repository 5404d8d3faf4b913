"""The event mirror: Klaviyo's events as read back, in `<state dir>/events.duckdb`.

DuckDB, not SQLite: every question asked of the mirror is a scan and a group-by over
millions of rows (per-broadcast totals and unique people, per-metric coverage, exports
to Parquet), which a columnar, vectorised engine answers many times faster
(docs/benchmarks.md), and `COPY ... PARTITION_BY` writes warehouse partitions itself.

The mirror is a cache: deleting the file loses nothing that a pull cannot read again.
Every page read is written in one transaction together with the resume point of the
slice it belongs to, so an interrupted pull (Ctrl-C, kill, a 5xx that outlasted the
retries) keeps every page it stored and continues from there. Reading a range twice
stores each event once: a batch inserts only the event ids not stored yet (see _INSERT).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo_records import RAW_EVENT_PATHS, RAW_PAGE_EVENTS, RAW_PAGE_SHAPE, raw_page_body
from linesync_cli.errors import UsageError
from linesync_cli.state import ensure_dir, owner_only_file

if TYPE_CHECKING:
    import duckdb

    from linesync_cli.api.klaviyo_records import ReadEvent

MIRROR_FILE = "events.duckdb"
# 2: events.profile_key, a BIGINT from the profiles dictionary (exact distinct counts on integers).
# 3: no PRIMARY KEY on events.id (its index grew memory with every event stored; issue 13).
SCHEMA_VERSION = "3"
# DuckDB's own memory for the mirror connection; past it, it spills to <mirror>.tmp. Storing
# 3M events peaks at 252 MB RSS with it, 381 MB with 256MB (docs/benchmarks.md, "Pulling events").
MEMORY_LIMIT = "128MB"

# The event properties the reports group by, kept as columns (design.md section 6 names),
# in the events table's column order.
ID_PROPERTIES = {"message_id": "Message ID", "broadcast_id": "Broadcast ID", "flow_id": "Flow ID",
                 "workflow_id": "Workflow ID"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
-- No key on id: DuckDB keeps an ART index in memory (~0.2 KB an event, so memory grew with
-- the mirror). Idempotence is the insert's anti-join instead (_INSERT).
CREATE TABLE IF NOT EXISTS events (
    id VARCHAR NOT NULL,
    metric_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,          -- stable key: sent, delivered, ..., email_opened
    profile_id VARCHAR,
    profile_key BIGINT,               -- profiles.key of profile_id: what unique people are counted on
    time TIMESTAMPTZ NOT NULL,
    unique_id VARCHAR,                -- event_properties.$event_id: the unique_id it was sent with
    message_id VARCHAR,
    broadcast_id VARCHAR,
    flow_id VARCHAR,
    workflow_id VARCHAR,
    properties JSON,
    read_by BIGINT                    -- the slice that last read it (--full drops the rest)
);
-- One integer per profile, assigned when its first event is stored: counting distinct
-- people on 8-byte keys instead of 26-character IDs makes report broadcasts 1.6x faster
-- at 10M events (docs/benchmarks.md). A dictionary, not a hash: the counts are exact.
CREATE SEQUENCE IF NOT EXISTS profile_keys;
CREATE TABLE IF NOT EXISTS profiles (
    profile_id VARCHAR PRIMARY KEY,
    key BIGINT NOT NULL DEFAULT nextval('profile_keys')
);
CREATE TABLE IF NOT EXISTS coverage (
    metric_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    pulled_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS slice_ids;
CREATE TABLE IF NOT EXISTS slices (
    id BIGINT PRIMARY KEY DEFAULT nextval('slice_ids'),
    metric_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    cursor VARCHAR,                   -- Klaviyo's page cursor for the next page
    read_from TIMESTAMPTZ,            -- the start of the query the cursor belongs to (NULL: since)
    last_time TIMESTAMPTZ,            -- time of the newest event stored: the resume point if the cursor is refused
    events BIGINT NOT NULL DEFAULT 0,
    full_rebuild BOOLEAN NOT NULL DEFAULT false
);
"""

# A batch of pages goes in as the JSON documents Klaviyo sent: DuckDB parses them (in C,
# without the GIL) into a temporary table, from which the profiles dictionary and the
# events are filled. Building Python rows and encoding properties again cost three times
# as much (docs/benchmarks.md, "Pulling events").
_STAGE = f"""
CREATE OR REPLACE TEMP TABLE page_rows AS
SELECT r.{RAW_EVENT_PATHS["id"]} AS id, r.{RAW_EVENT_PATHS["profile_id"]} AS profile_id,
       r.{RAW_EVENT_PATHS["datetime"]}::TIMESTAMPTZ AS time,
       CASE WHEN json_type(r.{RAW_EVENT_PATHS["properties"]}) = 'OBJECT' THEN r.{RAW_EVENT_PATHS["properties"]}
            ELSE '{{}}'::JSON END AS properties,
       page_no, metric_id, metric, read_by, rebuild
FROM (SELECT unnest(from_json(body, '{RAW_PAGE_SHAPE}').{RAW_PAGE_EVENTS}) AS r, page_no, metric_id, metric,
             read_by, rebuild
      FROM (SELECT unnest($1::VARCHAR[]) AS body, unnest($2::INTEGER[]) AS page_no,
                   unnest($3::VARCHAR[]) AS metric_id, unnest($4::VARCHAR[]) AS metric,
                   unnest($5::BIGINT[]) AS read_by, unnest($6::BOOLEAN[]) AS rebuild))
"""
_ADD_PROFILES = """
INSERT INTO profiles (profile_id)
SELECT DISTINCT profile_id FROM page_rows WHERE profile_id IS NOT NULL ON CONFLICT DO NOTHING
"""


def _property(name: str) -> str:
    return f"nullif(r.properties ->> '$.\"{name}\"', '')"


# An event's metric and time never change, so a stored copy of a batch's event lies within
# (its metric, the batch's min..max time): the anti-join looks only there, with constants
# that let DuckDB skip row groups by their zone maps instead of scanning the table (or
# keeping an index of it). Within the batch an id appearing twice (two pages, overlapping
# slices, the overlap window) is stored once. The profiles join reads only the batch's profiles.
_BATCH = """
SELECT * FROM page_rows WHERE rebuild = $rebuild AND metric_id = $metric_id
QUALIFY row_number() OVER (PARTITION BY id ORDER BY page_no DESC) = 1
"""
_STORED = "e.metric_id = $metric_id AND e.time >= $lo AND e.time <= $hi AND e.id = r.id"
_INSERT = f"""
INSERT INTO events
SELECT r.id, r.metric_id, r.metric, r.profile_id, p.key, r.time, {_property("$event_id")},
       {", ".join(_property(name) for name in ID_PROPERTIES.values())}, r.properties, r.read_by
FROM ({_BATCH}) r
LEFT JOIN (SELECT profile_id, key FROM profiles WHERE profile_id IN (SELECT profile_id FROM page_rows)) p
       ON p.profile_id = r.profile_id
WHERE NOT EXISTS (SELECT 1 FROM events e WHERE {_STORED})
"""
# --full: the copies already stored are marked as read by this slice (the rest of the range goes
# when the slice completes), before the new ones are inserted.
_MARK_READ = f"UPDATE events e SET read_by = r.read_by FROM ({_BATCH}) r WHERE {_STORED}"
_BATCH_GROUPS = "SELECT rebuild, metric_id, min(time), max(time) FROM page_rows GROUP BY ALL"
_PAGE_COUNTS = "SELECT page_no, count(*), max(time) FROM page_rows GROUP BY page_no"


class MirrorError(UsageError):
    code = "mirror"


@dataclass(frozen=True)
class Slice:
    """A piece of one metric's time range that a pull reads page by page."""

    id: int
    metric_id: str
    metric: str
    since: datetime
    until: datetime
    cursor: str | None = None
    read_from: datetime | None = None
    last_time: datetime | None = None
    events: int = 0
    full_rebuild: bool = False
    profile_id: str | None = None  # one profile's events only (not kept in the slices table)


@dataclass(frozen=True)
class Covered:
    metric_id: str
    metric: str
    since: datetime
    until: datetime
    pulled_at: datetime


def mirror_path(state_dir: Path) -> Path:
    return state_dir / MIRROR_FILE


def _open_error(path: Path, exc: Exception) -> MirrorError:
    text = str(exc)
    if "lock" in text.lower():
        return MirrorError(f"the event mirror {path} is in use by another linesync process",
                           hint="wait for the other `linesync events pull` (or report) to finish, then run this again")
    first = text.splitlines()[0] if text else type(exc).__name__
    return MirrorError(f"the event mirror {path} cannot be read ({first[:160]})",
                       hint=f"the mirror is a cache: delete {path} and run `linesync events pull` to rebuild it")


def out_of_memory(exc: BaseException, path: Path | None = None) -> MirrorError | None:
    """DuckDB's out-of-memory error as one line with what to do, or None for any other error."""
    kind = type(exc)
    if kind.__name__ != "OutOfMemoryException" or "duckdb" not in kind.__module__:
        return None
    return _memory_error(path)


def _memory_error(path: Path | None) -> MirrorError:
    where = f" for the event mirror {path}" if path else " for the event mirror"
    return MirrorError(f"DuckDB ran out of memory{where} (limit {MEMORY_LIMIT}; pages stored before are kept)",
                       hint="free memory or disk space for its spill files (<mirror>.tmp), "
                            "then run the same command again to continue")


class Mirror:
    """One open mirror file. Writers are one process at a time (DuckDB locks the file)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        import duckdb

        self.path = path
        self.read_only = read_only
        try:
            if not read_only:
                ensure_dir(path.parent)
            self.db: duckdb.DuckDBPyConnection = duckdb.connect(str(path), read_only=read_only)
            if not read_only:
                # DuckDB refuses a pre-created empty file, so the mode is set right after it creates it
                # (inside the 0700 state dir, nobody else can reach it meanwhile).
                owner_only_file(path)
            self.db.execute("SET TimeZone = 'UTC'")
            # DuckDB draws its own progress bar on stdout for long queries: stdout is for data.
            self.db.execute("SET enable_progress_bar = false")
            if not read_only:
                # Bounded: a pull's memory stays flat however large the mirror (issue 13). Not yet for
                # the reports' read-only queries, whose GROUP BYs were measured without a limit.
                self.db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            # The version is read before anything is written: an old mirror is refused untouched.
            version = None
            if self.db.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta'").fetchone()[0]:  # type: ignore[index]
                version = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None and not read_only:
                self.db.execute(_SCHEMA)
                self.db.execute("INSERT INTO meta VALUES ('schema', ?) ON CONFLICT DO NOTHING", [SCHEMA_VERSION])
                version = (SCHEMA_VERSION,)
        except (duckdb.Error, OSError) as exc:
            raise _open_error(path, exc) from None
        if version is None or version[0] != SCHEMA_VERSION:
            self.db.close()
            found = version[0] if version else "unknown"
            raise MirrorError(f"the event mirror {path} has schema {found}; this linesync reads schema {SCHEMA_VERSION}",
                              hint=f"the mirror is a cache: delete {path} and run `linesync events pull`")

    @classmethod
    def open_existing(cls, state_dir: Path) -> Mirror | None:
        """The mirror for reading, or None when no pull has made one yet."""
        path = mirror_path(state_dir)
        return cls(path, read_only=True) if path.exists() else None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.db.execute("BEGIN TRANSACTION")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- coverage and slices -------------------------------------------------
    def coverage(self, metric_id: str | None = None) -> list[Covered]:
        sql = "SELECT metric_id, metric, since, until, pulled_at FROM coverage"
        rows = self.db.execute(sql + (" WHERE metric_id = ?" if metric_id else "") + " ORDER BY metric, since",
                               [metric_id] if metric_id else []).fetchall()
        return [Covered(*r) for r in rows]

    def pending_slices(self) -> list[Slice]:
        rows = self.db.execute("SELECT id, metric_id, metric, since, until, cursor, read_from, last_time, events, full_rebuild "
                               "FROM slices ORDER BY id").fetchall()
        return [Slice(*r) for r in rows]

    def add_slices(self, planned: Sequence[tuple[str, str, datetime, datetime, bool]]) -> list[Slice]:
        with self.transaction() as db:
            for metric_id, metric, since, until, full in planned:
                db.execute("INSERT INTO slices (metric_id, metric, since, until, full_rebuild) VALUES (?,?,?,?,?)",
                           [metric_id, metric, since, until, full])
        return self.pending_slices()

    def drop_slices(self, ids: Sequence[int]) -> None:
        if ids:
            with self.transaction() as db:
                db.execute("DELETE FROM slices WHERE list_contains(?, id)", [list(ids)])

    def forget_coverage(self, metric_id: str, since: datetime, until: datetime) -> None:
        """--full: the range counts as unread until its slices complete again."""
        with self.transaction() as db:
            _cut_coverage(db, metric_id, since, until)

    def store_pages(self, pages: Sequence[tuple[Slice, bytes | Sequence[ReadEvent], str | None, datetime | None]]
                    ) -> list[tuple[int, datetime | None]]:
        """Pages and their slices' new resume points, in one transaction; each page is the JSON
        document Klaviyo sent (or typed events). A slice's last page closes it: its range is
        recorded as covered. Slices with a profile_id (verify's reads) store events only.
        Returns each page's event count and newest event time."""
        import duckdb

        if not pages:
            return []
        bodies = [(body if isinstance(body, bytes) else raw_page_body(body)).decode("utf-8") for _, body, _, _ in pages]
        counts: dict[int, tuple[int, datetime | None]] = {}
        try:
            with self.transaction() as db:
                db.execute(_STAGE, [bodies, list(range(len(pages))), [s.metric_id for s, *_ in pages],
                                    [s.metric for s, *_ in pages], [s.id if s.id >= 0 else None for s, *_ in pages],
                                    [s.full_rebuild for s, *_ in pages]])
                counts = {page_no: (n, last) for page_no, n, last in db.execute(_PAGE_COUNTS).fetchall()}
                if counts:
                    db.execute(_ADD_PROFILES)
                    for rebuild, metric_id, lo, hi in db.execute(_BATCH_GROUPS).fetchall():
                        group = {"rebuild": rebuild, "metric_id": metric_id, "lo": lo, "hi": hi}
                        if rebuild:
                            db.execute(_MARK_READ, group)
                        db.execute(_INSERT, group)
                self._advance_slices(db, [(s, *counts.get(i, (0, None)), cursor, read_from)
                                          for i, (s, _, cursor, read_from) in enumerate(pages)])
        except duckdb.OutOfMemoryException:
            raise _memory_error(self.path) from None
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MirrorError(f"a page of events could not be stored in {self.path} ({first[:160]}); the pages "
                              "stored before it are kept",
                              hint="run the same command again to continue where it stopped") from None
        return [counts.get(i, (0, None)) for i in range(len(pages))]

    @staticmethod
    def _advance_slices(db: Any, pages: Sequence[tuple[Slice, int, datetime | None, str | None, datetime | None]]
                        ) -> None:
        for s, n, last, next_cursor, read_from in pages:
            if s.profile_id is not None:
                continue
            if n:
                db.execute("UPDATE slices SET cursor = ?, read_from = ?, last_time = greatest(coalesce("
                           "last_time, ?::TIMESTAMPTZ), ?::TIMESTAMPTZ), events = events + ? WHERE id = ?",
                           [next_cursor, read_from, last, last, n, s.id])
            else:
                db.execute("UPDATE slices SET cursor = ?, read_from = ? WHERE id = ?", [next_cursor, read_from, s.id])
            if next_cursor is None:
                if s.full_rebuild:
                    # Events Klaviyo no longer holds in this range go too.
                    db.execute("DELETE FROM events WHERE metric_id = ? AND time >= ? AND time < ? "
                               "AND read_by IS DISTINCT FROM ?", [s.metric_id, s.since, s.until, s.id])
                _add_coverage(db, s.metric_id, s.metric, s.since, s.until)
                db.execute("DELETE FROM slices WHERE id = ?", [s.id])

    def store_page(self, s: Slice, events: Sequence[ReadEvent], next_cursor: str | None,
                   read_from: datetime | None = None) -> None:
        self.store_pages([(s, events, next_cursor, read_from)])

    # -- questions -----------------------------------------------------------
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first value of the first row (None when there is no row)."""
        row = self.db.execute(sql, list(params)).fetchone()
        return row[0] if row else None


    def counts_by_metric(self) -> dict[str, tuple[int, datetime | None, datetime | None]]:
        rows = self.db.execute("SELECT metric, count(*), min(time), max(time) FROM events GROUP BY metric").fetchall()
        return {m: (n, lo, hi) for m, n, lo, hi in rows}

    def last_pulled(self) -> datetime | None:
        row = self.db.execute("SELECT max(pulled_at) FROM coverage").fetchone()
        return row[0] if row else None

    def unique_profiles(self, metric: str, since: datetime, until: datetime, *,
                        property_name: str | None = None, value: str | None = None) -> int:
        """People with at least one `metric` event in [since, until), optionally whose event
        property `property_name` equals `value` (e.g. Opened for one Broadcast ID)."""
        sql = "SELECT count(DISTINCT profile_key) FROM events WHERE metric = ? AND time >= ? AND time < ?"
        params: list[Any] = [metric, since, until]
        if property_name is not None:
            column = next((c for c, p in ID_PROPERTIES.items() if p == property_name), None)
            if column is not None:
                sql += f" AND {column} = ?"
            else:
                sql += " AND json_extract_string(properties, ?) = ?"
                params.append("$." + json.dumps(property_name))
            params.append(value)
        row = self.db.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def _cut_coverage(db: Any, metric_id: str, since: datetime, until: datetime) -> None:
    rows = db.execute("SELECT since, until, pulled_at, metric FROM coverage WHERE metric_id = ? AND until > ? "
                      "AND since < ?", [metric_id, since, until]).fetchall()
    db.execute("DELETE FROM coverage WHERE metric_id = ? AND until > ? AND since < ?", [metric_id, since, until])
    for lo, hi, pulled, metric in rows:
        if lo < since:
            db.execute("INSERT INTO coverage VALUES (?,?,?,?,?)", [metric_id, metric, lo, since, pulled])
        if hi > until:
            db.execute("INSERT INTO coverage VALUES (?,?,?,?,?)", [metric_id, metric, until, hi, pulled])


def _add_coverage(db: Any, metric_id: str, metric: str, since: datetime, until: datetime) -> None:
    """Record [since, until) as read now, merged with the ranges it touches."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = db.execute("SELECT since, until FROM coverage WHERE metric_id = ? AND until >= ? AND since <= ?",
                      [metric_id, since, until]).fetchall()
    lo = min([since] + [r[0] for r in rows])
    hi = max([until] + [r[1] for r in rows])
    # Said as "pulled at": when the range was last read up to its end (its newest part).
    pulled = now
    db.execute("DELETE FROM coverage WHERE metric_id = ? AND until >= ? AND since <= ?", [metric_id, since, until])
    db.execute("INSERT INTO coverage VALUES (?,?,?,?,?)", [metric_id, metric, lo, hi, pulled])
