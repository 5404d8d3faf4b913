"""`events status` and doctor's `recent-events`: what the mirror covers, and how fresh it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from linesync_cli.catalogue import ACTIONS
from linesync_cli.core.events.mirror import Mirror, mirror_path


@dataclass
class MetricCoverage:
    metric: str
    events: int
    oldest: datetime | None
    newest: datetime | None
    covered_since: datetime | None
    covered_until: datetime | None
    gaps: int  # holes between the ranges read
    pulled_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"metric": self.metric, "events": self.events, "oldest": iso(self.oldest), "newest": iso(self.newest),
                "covered_since": iso(self.covered_since), "covered_until": iso(self.covered_until),
                "gaps": self.gaps, "pulled_at": iso(self.pulled_at)}


@dataclass
class MirrorStatus:
    path: Path
    exists: bool
    size_bytes: int = 0
    metrics: list[MetricCoverage] = field(default_factory=list)
    interrupted: int = 0  # slices of a pull that did not finish

    @property
    def total(self) -> int:
        return sum(m.events for m in self.metrics)

    @property
    def last_pulled(self) -> datetime | None:
        return max((m.pulled_at for m in self.metrics if m.pulled_at), default=None)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "exists": self.exists, "size_bytes": self.size_bytes, "events": self.total,
                "interrupted_slices": self.interrupted,
                "last_pulled": self.last_pulled.isoformat() if self.last_pulled else None,
                "metrics": [m.to_json() for m in self.metrics]}


def mirror_status(state_dir: Path) -> MirrorStatus:
    path = mirror_path(state_dir)
    mirror = Mirror.open_existing(state_dir)
    if mirror is None:
        return MirrorStatus(path, False)
    with mirror:
        counts = mirror.counts_by_metric()
        covered: dict[str, list] = {}
        for c in mirror.coverage():
            covered.setdefault(c.metric, []).append(c)
        order = {a.key: i for i, a in enumerate(ACTIONS)}
        keys = sorted(set(counts) | set(covered), key=lambda k: (order.get(k, len(order)), k))
        out = []
        for key in keys:
            n, lo, hi = counts.get(key, (0, None, None))
            ranges = covered.get(key, [])
            out.append(MetricCoverage(
                key, n, lo, hi, min((c.since for c in ranges), default=None),
                max((c.until for c in ranges), default=None), max(0, len(ranges) - 1),
                max((c.pulled_at for c in ranges), default=None)))
        interrupted = len(mirror.pending_slices())
    return MirrorStatus(path, True, path.stat().st_size, out, interrupted)
