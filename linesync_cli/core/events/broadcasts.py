"""`report broadcasts`: Sent → Delivered → Opened → Clicked per Broadcast (Flow, Workflow, Message) ID.

Klaviyo's aggregates cannot group by our properties, so these figures come from the
mirror: exact totals and exact unique people over any range, one GROUP BY.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linesync_cli.core.events.mirror import ID_PROPERTIES, Mirror

NONE_GROUP = "(none)"
# The message steps and the step each one's rate is taken of (as in report funnel).
STEPS = (("sent", None), ("delivered", "sent"), ("failed", "sent"), ("opened", "delivered"), ("clicked", "opened"))
GROUPINGS = {"broadcast": "broadcast_id", "flow": "flow_id", "workflow": "workflow_id", "message": "message_id"}
assert set(GROUPINGS.values()) <= set(ID_PROPERTIES)


@dataclass
class StepFigures:
    total: int = 0
    unique: int = 0


@dataclass
class GroupRow:
    key: str | None  # None: events without the ID
    first: datetime
    last: datetime
    steps: dict[str, StepFigures] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.key if self.key is not None else NONE_GROUP

    def figures(self, step: str) -> StepFigures:
        return self.steps.get(step) or StepFigures()

    def rate(self, step: str, unique: bool = False) -> float | None:
        base = dict(STEPS)[step]
        if base is None:
            return None
        part, whole = self.figures(step), self.figures(base)
        a, b = (part.unique, whole.unique) if unique else (part.total, whole.total)
        return a / b if b else None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.key, "label": self.label, "first_event": self.first.isoformat(),
                "last_event": self.last.isoformat(),
                "steps": {s: {"total": self.figures(s).total, "unique": self.figures(s).unique,
                              "rate_of": base, "total_rate": self.rate(s), "unique_rate": self.rate(s, True)}
                          for s, base in STEPS}}


@dataclass
class BroadcastReport:
    by: str
    since: datetime
    until: datetime
    rows: list[GroupRow]

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "rows": [r.to_json() for r in self.rows]}


def broadcast_report(mirror: Mirror, since: datetime, until: datetime, by: str = "broadcast") -> BroadcastReport:
    """One row per ID (events without one grouped as "(none)"), newest first (by first event)."""
    column = GROUPINGS[by]
    steps = [s for s, _ in STEPS]
    rows = mirror.db.execute(
        f"SELECT {column}, metric, count(*), count(DISTINCT profile_key), min(time), max(time) FROM events "
        "WHERE list_contains(?, metric) AND time >= ? AND time < ? GROUP BY ALL", [steps, since, until]).fetchall()
    groups: dict[str | None, GroupRow] = {}
    for key, metric, total, unique, first, last in rows:
        row = groups.get(key)
        if row is None:
            row = groups[key] = GroupRow(key, first, last)
        row.first, row.last = min(row.first, first), max(row.last, last)
        row.steps[metric] = StepFigures(int(total), int(unique))
    ordered = sorted(groups.values(), key=lambda r: (r.key is None, -r.first.timestamp(), r.label))
    return BroadcastReport(by, since, until, ordered)


def exact_totals(mirror: Mirror, metrics: list[str], since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    """metric -> (events, unique people) in [since, until): exact over any range (report funnel --exact)."""
    rows = mirror.db.execute("SELECT metric, count(*), count(DISTINCT profile_key) FROM events WHERE "
                             "list_contains(?, metric) AND time >= ? AND time < ? GROUP BY metric",
                             [metrics, since, until]).fetchall()
    return {m: (int(t), int(u)) for m, t, u in rows}
