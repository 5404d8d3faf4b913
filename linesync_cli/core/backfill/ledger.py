"""The backfill ledger: runs and accepted batches in `<state_dir>/ledger.sqlite`.

A batch is written as accepted only after Klaviyo answered 202, in its own
committed transaction (WAL, synchronous=FULL), so a `kill -9` at any moment loses
at most the batches that were in flight; their events carry deterministic
`unique_id`s, so sending them again records nothing twice.

Why one row per batch, not per event: a batch's key is a hash of its exact body,
and batches are cut deterministically from the input, so a re-run rebuilds the
same batches and skips those whose key is recorded. That is one small row per
1,000 events (1,000 rows for a million actions, loaded into memory at start), not
a million rows written and looked up one by one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from linesync_cli.errors import UsageError
from linesync_cli.state import open_owner_only, owner_only_file

LEDGER_FILE = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    inputs TEXT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    invocations INTEGER NOT NULL DEFAULT 1,
    counts TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_fingerprint ON runs(fingerprint);
CREATE TABLE IF NOT EXISTS batches (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    events INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refused (
    run_id INTEGER NOT NULL,
    batch_key TEXT NOT NULL,
    reject TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refused_by_batch ON refused(run_id, batch_key);
"""

# Statuses a run can end in; "running" stays behind when a process was killed, and is
# shown as KILLED when no process holds the run's lock.
RUNNING, INTERRUPTED, STOPPED, COMPLETE, SUPERSEDED = "running", "interrupted", "stopped", "complete", "superseded"
KILLED = "killed"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class AcceptedBatch:
    events: int
    sent: int
    refused: int


@dataclass(frozen=True)
class RunRecord:
    id: int
    fingerprint: str
    inputs: list[str]
    options: dict[str, Any]
    status: str
    started_at: datetime
    updated_at: datetime
    invocations: int
    counts: dict[str, Any]
    batches: int
    events_sent: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "inputs": self.inputs, "options": self.options,
            "started_at": self.started_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "invocations": self.invocations, "batches_accepted": self.batches, "events_sent": self.events_sent,
            "counts": self.counts, "fingerprint": self.fingerprint,
        }


class Ledger:
    """Thread-safe: workers record accepted batches as their 202s arrive."""

    def __init__(self, state_dir: Path) -> None:
        try:
            self.path = owner_only_file(state_dir / LEDGER_FILE)  # 0600 before SQLite adds -wal/-shm
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit is on disk before we go on (WAL alone defers the sync).
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open the backfill ledger in {state_dir}: {exc}",
                             hint="check LINESYNC_STATE_DIR (or --state-dir) points at a writable directory") from None
        self._lock = threading.Lock()
        self._lock_file: TextIO | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- runs ----------------------------------------------------------------
    def latest_run(self, fingerprint: str) -> RunRecord | None:
        row = self._db.execute(
            "SELECT id FROM runs WHERE fingerprint = ? AND status != ? ORDER BY id DESC LIMIT 1",
            (fingerprint, SUPERSEDED)).fetchone()
        return self.run(row[0]) if row else None

    def start_run(self, fingerprint: str, inputs: list[str], options: dict[str, Any]) -> int:
        now = _now()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO runs (fingerprint, inputs, options, status, started_at, updated_at) VALUES (?,?,?,?,?,?)",
                (fingerprint, json.dumps(inputs), json.dumps(options), RUNNING, now, now))
            return int(cur.lastrowid or 0)

    def resume_run(self, run_id: int) -> None:
        self._tx([("UPDATE runs SET status = ?, updated_at = ?, invocations = invocations + 1 WHERE id = ?",
                   (RUNNING, _now(), run_id))])

    def supersede(self, fingerprint: str) -> int:
        """--restart: earlier runs of the same inputs and options stop counting for resume."""
        with self._lock:
            cur = self._db.execute("UPDATE runs SET status = ?, updated_at = ? WHERE fingerprint = ? AND status != ?",
                                   (SUPERSEDED, _now(), fingerprint, SUPERSEDED))
            return cur.rowcount

    def finish(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        self._tx([("UPDATE runs SET status = ?, updated_at = ?, counts = ? WHERE id = ?",
                   (status, _now(), json.dumps(counts), run_id))])

    def lock_run(self, run_id: int) -> None:
        """One process per run: a second one would send the same batches at the same time."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the ledger still keeps data safe
            return
        handle = open_owner_only(self.path.parent / f"backfill-run-{run_id}.lock")  # held until close
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UsageError(f"backfill run #{run_id} is already running in another process",
                             hint="wait for it to finish, or stop it (Ctrl-C) and run the command again") from None
        self._lock_file = handle

    def is_running(self, run_id: int) -> bool:
        """Whether a process holds the run's lock (a "running" run whose process was killed does not)."""
        try:
            import fcntl
        except ImportError:
            return True
        path = self.path.parent / f"backfill-run-{run_id}.lock"
        if not path.exists():
            return False
        with open_owner_only(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def run(self, run_id: int) -> RunRecord | None:
        row = self._db.execute(
            "SELECT r.id, r.fingerprint, r.inputs, r.options, r.status, r.started_at, r.updated_at, r.invocations, "
            "r.counts, (SELECT COUNT(*) FROM batches b WHERE b.run_id = r.id), "
            "(SELECT COALESCE(SUM(sent), 0) FROM batches b WHERE b.run_id = r.id) FROM runs r WHERE r.id = ?",
            (run_id,)).fetchone()
        return _run_record(row) if row else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """The most recent runs, newest first; a "running" run nobody holds says KILLED."""
        rows = self._db.execute(
            "SELECT r.id, r.fingerprint, r.inputs, r.options, r.status, r.started_at, r.updated_at, r.invocations, "
            "r.counts, (SELECT COUNT(*) FROM batches b WHERE b.run_id = r.id), "
            "(SELECT COALESCE(SUM(sent), 0) FROM batches b WHERE b.run_id = r.id) FROM runs r ORDER BY r.id DESC LIMIT ?",
            (limit,)).fetchall()
        records = [_run_record(r) for r in rows]
        return [replace(r, status=KILLED) if r.status == RUNNING and not self.is_running(r.id) else r for r in records]

    # -- batches -------------------------------------------------------------
    def accepted_batches(self, run_id: int) -> dict[str, AcceptedBatch]:
        rows = self._db.execute("SELECT key, events, sent, refused FROM batches WHERE run_id = ?", (run_id,))
        return {key: AcceptedBatch(events, sent, refused) for key, events, sent, refused in rows}

    def record_batch(self, run_id: int, key: str, seq: int, events: int, sent: int,
                     refused: list[dict[str, Any]]) -> None:
        """Called only after Klaviyo accepted every event of the batch it could take."""
        statements: list[tuple[str, tuple]] = [
            ("INSERT OR REPLACE INTO batches (run_id, key, seq, events, sent, refused, accepted_at) VALUES (?,?,?,?,?,?,?)",
             (run_id, key, seq, events, sent, len(refused), _now())),
        ]
        statements += [("INSERT INTO refused (run_id, batch_key, reject) VALUES (?,?,?)",
                        (run_id, key, json.dumps(r, ensure_ascii=False))) for r in refused]
        self._tx(statements)

    def refused_for(self, run_id: int, key: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT reject FROM refused WHERE run_id = ? AND batch_key = ?", (run_id, key)).fetchall()
        return [json.loads(r[0]) for r in rows]


def _run_record(row: tuple) -> RunRecord:
    rid, fp, inputs, options, status, started, updated, invocations, counts, batches, sent = row
    return RunRecord(rid, fp, json.loads(inputs), json.loads(options), status, datetime.fromisoformat(started),
                     datetime.fromisoformat(updated), invocations, json.loads(counts) if counts else {}, batches, sent)
