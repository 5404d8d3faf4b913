"""`events export`: the mirror as files partitioned by metric and day (Hive layout).

`DIR/metric=sent/day=2026-11-30/data_0.parquet`: the layout BigQuery, Snowflake and
Spark load as partitions. DuckDB writes it itself (`COPY ... PARTITION_BY`), streaming,
so an export of any size uses little memory. Days are UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from linesync_cli.core.events.mirror import Mirror
from linesync_cli.errors import UsageError

FORMATS = {"parquet": "(FORMAT parquet, COMPRESSION zstd", "csv": "(FORMAT csv, HEADER true",
           "jsonl": "(FORMAT json"}
COLUMNS = ("id, metric_id, metric, profile_id, time, unique_id, message_id, broadcast_id, flow_id, workflow_id, "
           "properties")


@dataclass
class ExportResult:
    directory: Path
    format: str
    rows: int
    files: int
    partitions: int

    def to_json(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "format": self.format, "rows": self.rows, "files": self.files,
                "partitions": self.partitions}


def export_mirror(mirror: Mirror, directory: Path, fmt: str, *, since: datetime | None = None,
                  until: datetime | None = None, metrics: tuple[str, ...] = ()) -> ExportResult:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not an export format", hint="use parquet, csv or jsonl")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory", hint="name a new or existing directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty; an export never mixes with older files",
                         hint="name a new directory, or empty this one first")
    where: list[str] = ["true"]
    params: list[Any] = []
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if until is not None:
        where.append("time < ?")
        params.append(until)
    if metrics:
        where.append("list_contains(?, metric)")
        params.append(list(metrics))
    condition = " AND ".join(where)
    rows = mirror.scalar(f"SELECT count(*) FROM events WHERE {condition}", params)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if rows:
        target = str(directory).replace("'", "''")
        mirror.db.execute(
            f"COPY (SELECT {COLUMNS}, strftime(time, '%Y-%m-%d') AS day FROM events WHERE {condition} "
            f"ORDER BY metric, time) TO '{target}' {FORMATS[fmt]}, PARTITION_BY (metric, day), "
            "OVERWRITE_OR_IGNORE true)", params)
    files = [p for p in directory.rglob("*") if p.is_file()]
    if fmt == "jsonl":  # DuckDB names JSON Lines files .json
        renamed = []
        for p in files:
            if p.suffix == ".json":
                p = p.rename(p.with_suffix(".jsonl"))
            renamed.append(p)
        files = renamed
    return ExportResult(directory, fmt, int(rows), len(files), len({p.parent for p in files}))
