"""What a backfill run reports: the buckets every record lands in, and the run's outcome.

    read = sent + would_send + unlinked + ambiguous + duplicates + rejected
           + failed + filtered + skipped (by reason) + pending

Each bucket is counted where its records land; `pending` is counted from what the
pipeline still holds when the run stops (read but not yet batched, in a batch not
sent, in flight, or in a batch whose request failed), not as the remainder, so
`reconciled` compares independent counts and a lost or twice-counted record shows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from linesync_cli.errors import LinesyncError


@dataclass
class Counts:
    read: int = 0
    sent: int = 0
    would_send: int = 0
    unlinked: int = 0
    ambiguous: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    filtered: int = 0
    pending: int = 0
    skipped: Counter = field(default_factory=Counter)
    # Not buckets: breakdowns and request figures.
    sent_before: int = 0  # of `sent`, accepted by an earlier invocation of this run
    batches: int = 0
    batches_before: int = 0
    requests: int = 0

    def accounted(self) -> int:
        return (self.sent + self.would_send + self.unlinked + self.ambiguous + self.duplicates + self.rejected
                + self.failed + self.filtered + self.pending + sum(self.skipped.values()))

    @property
    def reconciled(self) -> bool:
        return self.accounted() == self.read

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["reconciled"] = self.reconciled
        return data


@dataclass
class BackfillProgress:
    read: int
    sent: int
    in_flight: int
    bytes_read: int
    bytes_total: int | None
    elapsed: float
    dry_run: bool


@dataclass
class BackfillResult:
    counts: Counts
    dry_run: bool
    run_id: int | None
    resumed: bool
    status: str
    rejects_path: Path | None
    unlinked_path: Path | None
    out_dir: Path | None
    elapsed: float
    resolver: str
    stopped_by: LinesyncError | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "dry_run": self.dry_run, "resumed": self.resumed, "status": self.status,
            "counts": self.counts.to_json(), "linkage": self.resolver,
            "rejects_file": str(self.rejects_path) if self.rejects_path else None,
            "unlinked_file": str(self.unlinked_path) if self.unlinked_path else None,
            "out_dir": str(self.out_dir) if self.out_dir else None,
            "elapsed_seconds": round(self.elapsed, 3),
            "error": self.stopped_by.message if self.stopped_by else None,
        }
