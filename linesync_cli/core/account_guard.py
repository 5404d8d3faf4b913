"""State is bound to the Klaviyo account it was built for; another account's key is refused.

A ledger says which batches an account accepted; a link index says which profile of an
account a LINE user is. Used with another account's key, the first would skip (or resend)
the wrong events and the second would send events to profile IDs of a different shop.
Each SQLite state file records the account ID (from `GET /api/accounts`) in a one-row
table the first time it is used with a key, and every later use with a key compares.

`check_binding` takes any DB-API connection (sqlite3, DuckDB), so every kind of state
file, the event mirror included, is guarded the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linesync_cli.errors import ConfigError
from linesync_cli.state import owner_only_file

TABLE = "linesync_account"
# The SQLite state files of a state dir and what they are called in messages.
SQLITE_STATE = {"ledger.sqlite": "backfill ledger", "links.sqlite": "link index"}


@dataclass(frozen=True)
class AccountRef:
    """The Klaviyo account a key belongs to."""

    id: str
    name: str | None = None

    def __str__(self) -> str:
        return f'"{self.name}" ({self.id})' if self.name else self.id


def check_binding(conn: Any, account: AccountRef, what: str, path: Path) -> None:
    """Record `account` in a state database on first use; stop with exit 2 if it was built for another.

    `conn` is a DB-API connection (sqlite3 or duckdb); the caller commits or runs in autocommit.
    """
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (account_id TEXT NOT NULL, account_name TEXT, bound_at TEXT)")
    row = conn.execute(f"SELECT account_id, account_name FROM {TABLE} LIMIT 1").fetchone()
    if row is None:
        conn.execute(f"INSERT INTO {TABLE} (account_id, account_name, bound_at) VALUES (?, ?, ?)",
                     (account.id, account.name, datetime.now(UTC).isoformat()))
        return
    if row[0] != account.id:
        built_for = AccountRef(row[0], row[1])
        raise ConfigError(
            f"the {what} {path} was built for Klaviyo account {built_for}; this key belongs to account {account}",
            hint="use the key of the account the state belongs to, or this account's own state "
            "(--account NAME or --state-dir DIR)",
        )


def bound_account(path: Path) -> AccountRef | None:
    """The account a SQLite state file was bound to, or None (not bound yet, or not readable)."""
    if not Path(path).is_file():
        return None
    try:
        conn = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(f"SELECT account_id, account_name FROM {TABLE} LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return AccountRef(row[0], row[1]) if row else None


def guard_state(state_dir: Path, account: AccountRef, create: Iterable[str] = ()) -> None:
    """Check every SQLite state file of `state_dir` against `account`, before anything is written.

    Files named in `create` (keys of SQLITE_STATE) are created (0600) and bound now if missing,
    so the first run of a new state dir binds it before it writes a single row.
    """
    wanted = set(create)
    for name, what in SQLITE_STATE.items():
        path = Path(state_dir) / name
        if not path.is_file() and name not in wanted:
            continue
        try:
            owner_only_file(path)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                # IMMEDIATE: two first runs at once (two keys) cannot both bind the same file.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    check_binding(conn, account, what, path)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the {what} {path}: {exc}",
                              hint="check LINESYNC_STATE_DIR (or --state-dir) points at a writable directory") from None
