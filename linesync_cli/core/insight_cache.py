"""LINE's finished Insight days, kept in the state directory.

LINE allows 60 Insight requests an hour per endpoint, so a 90-day reconcile takes an
hour; a day LINE has finished counting (`ready`, withheld under the threshold, or
`out_of_service`) does not change, so asking again is waste. Days LINE has not
finished (`unready`) are never kept. Entries are per LINE channel (the bot's user ID),
so a token of another LINE Official Account never reads this one's figures. A cache:
deleting the file loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from linesync_cli.api.line_insight import UNREADY, DeliveryCounts, FollowerCounts

FILE_NAME = "line-insight.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS insight_day (
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    figures TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (channel, kind, day)
)
"""
_KINDS = {"deliveries": DeliveryCounts, "followers": FollowerCounts}


class InsightCache:
    def __init__(self, state_dir: Path, channel: str, *, read: bool = True) -> None:
        """`read=False` (`--refresh`): every day is asked again, and what LINE answers is kept."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self.read = read
        self.path = state_dir / FILE_NAME
        self.channel = channel
        self._db = sqlite3.connect(self.path)
        self._db.execute(_SCHEMA)
        self.hits = 0

    def close(self) -> None:
        self._db.close()

    def has(self, kind: str, day: date) -> bool:
        return self.read and self._db.execute("SELECT 1 FROM insight_day WHERE channel = ? AND kind = ? AND day = ?",
                                (self.channel, kind, day.isoformat())).fetchone() is not None

    def get(self, kind: str, day: date) -> DeliveryCounts | FollowerCounts | None:
        if not self.read:
            return None
        row = self._db.execute("SELECT figures FROM insight_day WHERE channel = ? AND kind = ? AND day = ?",
                               (self.channel, kind, day.isoformat())).fetchone()
        if row is None:
            return None
        values = json.loads(row[0])
        values["day"] = date.fromisoformat(values["day"])
        self.hits += 1
        return _KINDS[kind](**values)

    def put(self, kind: str, figures: DeliveryCounts | FollowerCounts) -> None:
        """Keep a day LINE has finished; `unready` days are not kept."""
        if figures.status == UNREADY:
            return
        values = asdict(figures)
        values["day"] = figures.day.isoformat()
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO insight_day VALUES (?, ?, ?, ?, ?)",
                             (self.channel, kind, values["day"], json.dumps(values),
                              datetime.now(UTC).isoformat(timespec="seconds")))
