"""The local link index (design.md section 4): LINE user ID -> Klaviyo profile IDs.

Klaviyo cannot filter profiles on custom properties, so `linesync links sync`
pages through the profiles (or one segment's members), reads the link property
and keeps what it found in `<state_dir>/links.sqlite`. Several link keys
(`LINE User ID`, `LINE User ID 2`) live side by side in one file.

Storage: one row per (link key, profile) that carries a value in the property,
valid (`^U[0-9a-f]{32}$`) or malformed. Look-ups read valid rows only; a LINE ID
on two profiles is ambiguous.

A run (core/link_sync.py) writes through `begin_run`, `commit_page` and
`finish_run`: every page is committed together with the run's cursor, and a
full run's end drops the rows of older generations.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.errors import ConfigError
from linesync_cli.state import owner_only_file
from linesync_cli.timeutil import parse_iso

if TYPE_CHECKING:
    pass

LINE_USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
INDEX_FILE = "links.sqlite"
# sqlite's bound-parameter limit is 32766 on current builds, 999 on old ones.
LOOKUP_CHUNK = 900
MALFORMED_EXAMPLES = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS link_keys (
    link_key TEXT PRIMARY KEY,       -- the property name
    scope TEXT NOT NULL,             -- 'all' or 'segment:<id>'
    generation INTEGER NOT NULL DEFAULT 0,
    built_at TEXT,                   -- last completed full run
    synced_at TEXT,                  -- last completed run of any kind
    high_water TEXT,                 -- start of the last completed run
    profiles_read INTEGER NOT NULL DEFAULT 0,  -- by the last completed run
    run_kind TEXT,                   -- a run in progress: 'full' | 'incremental' | NULL
    run_scope TEXT,
    run_started_at TEXT,
    run_generation INTEGER,
    run_cursor TEXT,                 -- page[cursor] of the next page to read
    run_profiles_read INTEGER NOT NULL DEFAULT 0,
    run_pages INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS profile_values (
    link_key TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    value TEXT NOT NULL,             -- the property value (JSON text when not a string)
    valid INTEGER NOT NULL,          -- 1 when it is a LINE user ID
    generation INTEGER NOT NULL,
    PRIMARY KEY (link_key, profile_id)
);
CREATE INDEX IF NOT EXISTS profile_values_by_value ON profile_values (link_key, value) WHERE valid = 1;
"""


def index_path(state_dir: Path) -> Path:
    return Path(state_dir) / INDEX_FILE


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


def parse_utc(text: str | None) -> datetime | None:
    return parse_iso(text, UTC) if text else None


def property_value(properties: Any, name: str) -> tuple[str, bool] | None:
    """The link property as stored text and whether it is a LINE user ID; None when absent/empty."""
    if not isinstance(properties, dict):
        return None
    raw = properties.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        return raw, bool(LINE_USER_ID_RE.fullmatch(raw))
    # A number or a list in the property cannot be a LINE user ID.
    return json.dumps(raw, ensure_ascii=False, sort_keys=True), False


@dataclass
class IndexStatus:
    exists: bool  # a full build has completed for this key
    link_key: str  # as configured: 'property:LINE User ID'
    built_at: datetime | None
    synced_at: datetime | None
    profiles_read: int  # by the last completed run
    linked_ids: int  # LINE IDs on exactly one profile
    ambiguous_ids: int  # LINE IDs on several profiles
    malformed_values: int  # profiles whose property is not a LINE user ID
    path: Path
    scope: str = "all"  # 'all' or 'segment:<id>'
    property_name: str = ""
    profiles_with_value: int = 0
    run_in_progress: str | None = None  # 'full' | 'incremental' when a run was interrupted
    run_profiles_read: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "exists": self.exists,
            "link_key": self.link_key,
            "path": str(self.path),
            "scope": self.scope,
            "built_at": iso_utc(self.built_at),
            "synced_at": iso_utc(self.synced_at),
            "profiles_read": self.profiles_read,
            "profiles_with_value": self.profiles_with_value,
            "linked_ids": self.linked_ids,
            "ambiguous_ids": self.ambiguous_ids,
            "malformed_values": self.malformed_values,
            "run_in_progress": self.run_in_progress,
            "run_profiles_read": self.run_profiles_read,
        }


class LinkIndex:
    """The SQLite file. One connection; WAL so a backfill can read while a sync writes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        owner_only_file(self.path)  # before connect: SQLite gives -wal/-shm the same mode
        try:
            # A backfill may resolve from worker threads: one connection, used under a lock.
            self.conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"cannot open the link index {self.path}: {exc}",
                hint="check the file's permissions, or delete it and run `linesync links sync --full`",
            ) from None

    @classmethod
    def open_existing(cls, path: Path) -> LinkIndex | None:
        if not Path(path).is_file():
            return None
        return cls(path)  # the schema is idempotent; keeps WAL mode

    def close(self) -> None:
        self.conn.close()

    # -- reading -------------------------------------------------------------
    def key_row(self, key: str) -> sqlite3.Row | None:
        self.conn.row_factory = sqlite3.Row
        try:
            return self.conn.execute("SELECT * FROM link_keys WHERE link_key = ?", (key,)).fetchone()
        finally:
            self.conn.row_factory = None

    def lookup(self, key: str, line_user_ids: Sequence[str]) -> dict[str, list[str]]:
        """LINE ID -> profile IDs (sorted) for the IDs found; `IN (...)` in chunks."""
        found: dict[str, list[str]] = {}
        ids = list(dict.fromkeys(line_user_ids))
        with self._lock:
            self._lookup_into(found, key, ids)
        for profiles in found.values():
            profiles.sort()
        return found

    def _lookup_into(self, found: dict[str, list[str]], key: str, ids: list[str]) -> None:
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT value, profile_id FROM profile_values WHERE link_key = ? AND valid = 1 AND value IN ({marks})",
                (key, *chunk),
            )
            for value, profile_id in rows:
                found.setdefault(value, []).append(profile_id)

    def counts(self, key: str) -> dict[str, int]:
        linked, ambiguous = self.conn.execute(
            "SELECT COALESCE(SUM(n = 1), 0), COALESCE(SUM(n > 1), 0) FROM "
            "(SELECT COUNT(*) AS n FROM profile_values WHERE link_key = ? AND valid = 1 GROUP BY value)",
            (key,),
        ).fetchone()
        malformed, with_value = self.conn.execute(
            "SELECT COALESCE(SUM(valid = 0), 0), COUNT(*) FROM profile_values WHERE link_key = ?", (key,)
        ).fetchone()
        return {"linked_ids": linked, "ambiguous_ids": ambiguous, "malformed_values": malformed,
                "profiles_with_value": with_value}

    def malformed_examples(self, key: str, limit: int = MALFORMED_EXAMPLES) -> list[dict[str, str]]:
        rows = self.conn.execute(
            "SELECT profile_id, value FROM profile_values WHERE link_key = ? AND valid = 0 ORDER BY profile_id LIMIT ?",
            (key, limit),
        )
        return [{"profile_id": p, "value": v} for p, v in rows]

    def ambiguous_examples(self, key: str, limit: int = MALFORMED_EXAMPLES) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT value, GROUP_CONCAT(profile_id, ' ') FROM profile_values WHERE link_key = ? AND valid = 1 "
            "GROUP BY value HAVING COUNT(*) > 1 ORDER BY value LIMIT ?",
            (key, limit),
        )
        return [{"line_user_id": v, "profile_ids": sorted(ps.split())} for v, ps in rows]

    def status(self, key: str) -> IndexStatus:
        row = self.key_row(key)
        counts = self.counts(key)
        return IndexStatus(
            exists=bool(row and row["built_at"]),
            link_key=f"property:{key}",
            property_name=key,
            built_at=parse_utc(row["built_at"]) if row else None,
            synced_at=parse_utc(row["synced_at"]) if row else None,
            profiles_read=row["profiles_read"] if row else 0,
            path=self.path,
            scope=row["scope"] if row else "all",
            run_in_progress=row["run_kind"] if row else None,
            run_profiles_read=row["run_profiles_read"] if row and row["run_kind"] else 0,
            **counts,
        )

    # -- writing (sync) ------------------------------------------------------
    def begin_run(self, key: str, kind: str, scope: str, started_at: datetime) -> int:
        """Record a new run; returns the generation its rows are stamped with."""
        with self.conn:
            row = self.key_row(key)
            if row is None:
                self.conn.execute("INSERT INTO link_keys (link_key, scope) VALUES (?, ?)", (key, scope))
                current = 0
            else:
                current = row["generation"]
            if kind == "full":
                # Above every stamp in use (an abandoned run's too), so no old row passes as seen.
                (top,) = self.conn.execute(
                    "SELECT COALESCE(MAX(generation), 0) FROM profile_values WHERE link_key = ?", (key,)
                ).fetchone()
                generation = max(current, top) + 1
            else:
                generation = current
            self.conn.execute(
                "UPDATE link_keys SET run_kind = ?, run_scope = ?, run_started_at = ?, run_generation = ?, "
                "run_cursor = NULL, run_profiles_read = 0, run_pages = 0 WHERE link_key = ?",
                (kind, scope, iso_utc(started_at), generation, key),
            )
        return generation

    def commit_page(self, key: str, generation: int, profiles: Sequence[tuple[str, tuple[str, bool] | None]],
                    next_cursor: str | None) -> None:
        """Apply one page and move the run's cursor, in one transaction."""
        with self.conn:
            for profile_id, found in profiles:
                if found is None:
                    self.conn.execute("DELETE FROM profile_values WHERE link_key = ? AND profile_id = ?", (key, profile_id))
                else:
                    value, valid = found
                    self.conn.execute(
                        "INSERT INTO profile_values (link_key, profile_id, value, valid, generation) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (link_key, profile_id) DO UPDATE SET value = excluded.value, "
                        "valid = excluded.valid, generation = excluded.generation",
                        (key, profile_id, value, int(valid), generation),
                    )
            self.conn.execute(
                "UPDATE link_keys SET run_cursor = ?, run_profiles_read = run_profiles_read + ?, "
                "run_pages = run_pages + 1 WHERE link_key = ?",
                (next_cursor, len(profiles), key),
            )

    def finish_run(self, key: str, finished_at: datetime) -> None:
        with self.conn:
            row = self.key_row(key)
            assert row is not None and row["run_kind"]
            if row["run_kind"] == "full":
                # Rows not seen by this full pass: the property was removed or the profile deleted.
                self.conn.execute(
                    "DELETE FROM profile_values WHERE link_key = ? AND generation < ?", (key, row["run_generation"])
                )
                self.conn.execute(
                    "UPDATE link_keys SET built_at = ?, generation = ?, scope = ? WHERE link_key = ?",
                    (iso_utc(finished_at), row["run_generation"], row["run_scope"], key),
                )
            self.conn.execute(
                "UPDATE link_keys SET synced_at = ?, high_water = run_started_at, profiles_read = run_profiles_read, "
                "run_kind = NULL, run_scope = NULL, run_started_at = NULL, run_generation = NULL, run_cursor = NULL, "
                "run_profiles_read = 0, run_pages = 0 WHERE link_key = ?",
                (iso_utc(finished_at), key),
            )


def link_index_status(settings: Any) -> IndexStatus:
    """The index's state for the configured `property:<name>` key (exists=False when none)."""
    link = settings.link
    if link.kind != "property":
        raise ConfigError(
            f"the link key is {link}: there is no link index for it",
            hint="external_id linkage looks profiles up in Klaviyo directly; no `links sync` is needed",
        )
    path = index_path(settings.state_dir)
    index = LinkIndex.open_existing(path)
    if index is None:
        return IndexStatus(False, str(link), None, None, 0, 0, 0, 0, path, property_name=link.property_name)
    try:
        return index.status(link.property_name)
    finally:
        index.close()




def all_link_index_statuses(state_dir: Path) -> list[IndexStatus]:
    """Every link key with an index in the state dir (one per LINE Official Account's property), by key."""
    index = LinkIndex.open_existing(index_path(state_dir))
    if index is None:
        return []
    try:
        keys = [row[0] for row in index.conn.execute("SELECT link_key FROM link_keys ORDER BY link_key")]
        return [index.status(key) for key in keys]
    finally:
        index.close()
