"""Inputs for the backfill tests and benchmarks: generated actions files and link maps."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACTIONS_HEADER = ["action", "line_user_id", "occurred_at", "event_id", "message_id", "url"]
_KINDS = ("sent", "delivered", "opened", "clicked", "followed", "blocked", "qr_scanned", "linked", "failed")
START = datetime(2026, 6, 1, tzinfo=UTC)
# Times wrap after this many actions (324 days at 7 s apart), so that a 10-million-row file
# stays within "a year ahead" of the run (past it, the rows were rejected: another mix).
_WRAP = 4_000_000


def line_id(n: int) -> str:
    return "U" + f"{n:032x}"


def action_rows(n: int, users: int, *, start: int = 0) -> Iterator[list[str]]:
    """n distinct valid actions spread over `users` LINE users (deterministic)."""
    for i in range(start, start + n):
        kind = _KINDS[i % len(_KINDS)]
        when = START + timedelta(seconds=i % _WRAP * 7)
        yield [kind, line_id(i % users), when.isoformat(), "", f"msg-{i // 50}",
               f"https://shop.example.com/p/{i}" if kind == "clicked" else ""]


def write_actions_csv(path: Path, n: int, users: int, *, start: int = 0) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ACTIONS_HEADER)
        writer.writerows(action_rows(n, users, start=start))
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def write_link_map(path: Path, mapping: dict[str, str | list[str]]) -> Path:
    """line_user_id -> profile ID (a list gives several rows: ambiguous)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["line_user_id", "profile_id"])
        for user, pids in mapping.items():
            for pid in [pids] if isinstance(pids, str) else pids:
                writer.writerow([user, pid])
    return path


def link_users(standin: Any, users: int) -> dict[str, str]:
    """A stand-in profile for each of `users` LINE users (carrying the LINE User ID property)."""
    return {line_id(u): standin.add_profile(properties={"LINE User ID": line_id(u)}) for u in range(users)}


def webhook_event(kind: str, user: str | None, ts: int, event_id: str | None, *, redelivery: bool = False,
                  **extra: Any) -> dict:
    event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": ts}
    if user is not None:
        event["source"] = {"type": "user", "userId": user}
    if event_id is not None:
        event["webhookEventId"] = event_id
        event["deliveryContext"] = {"isRedelivery": redelivery}
    event.update(extra)
    return event


def webhook_body(*events: dict, destination: str = "U" + "f" * 32) -> dict:
    return {"destination": destination, "events": list(events)}
