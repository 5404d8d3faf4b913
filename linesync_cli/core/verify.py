"""`backfill verify`: which events of a backfill run Klaviyo holds.

A 202 from the bulk endpoint only queues a job, and a queued event can still be
dropped. So the run's events are looked for among the events read back: each one
sent (profile, metric, unique_id) should be there, its unique_id as `$event_id`.

The sent events are not stored per event at send time (the ledger keeps one row per
accepted batch); they are re-derived from the inputs exactly as a resume does:
the same reading, validation, linkage and batching give the same batches, byte for
byte, and a batch whose key the ledger holds was accepted; each event keeps the input
file and line it came from. They stream through CSV files of a bounded number of rows,
each appended to a work database of verify's own (DuckDB on disk, compressed, one thread,
spilled past a 64 MB memory limit, no index), and so do the keys read back; one join then
classifies them. Memory stays flat for a run of millions (docs/benchmarks.md).

Per metric the reading plan is the cheaper of:
- by metric: every event of the metric over the run's time range (requests = the
  metric's events in that range, counted cheaply with metric aggregates, / page size);
- by profile: the metric's events of each profile the run touched (about one request
  a profile), better when live traffic dwarfs the run.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.catalogue import ACTIONS
from linesync_cli.core.backfill.batching import Batch, batch_key
from linesync_cli.core.backfill.ledger import LEDGER_FILE, Ledger, RunRecord
from linesync_cli.core.backfill.options import BackfillOptions, TimeWindow, check_inputs, run_fingerprint
from linesync_cli.core.backfill.records import OPTIONAL_PROPERTIES, Action
from linesync_cli.core.backfill.run import run_backfill
from linesync_cli.core.events.mirror import Slice
from linesync_cli.core.events.pull import MetricRef, PullProgress, cut_slices, read_events
from linesync_cli.errors import UsageError
from linesync_cli.state import ensure_dir, open_owner_only, owner_only_file

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.klaviyo_records import ReadEvent

DEFAULT_SETTLE = timedelta(minutes=10)
# Get Events' steady limit: the estimate's requests per second.
REQUESTS_PER_SECOND = 3500 / 60
BY_METRIC, BY_PROFILE, SAMPLE = "by metric", "by profile", "sample"
# DuckDB's buffers for the work database; joins and sorts past it spill to the state dir's tmp.
# 64 MB holds every phase at 1M events with one thread; 32 MB does not (the classify join fails).
WORK_MEMORY = "64MB"
# Rows per CSV piece appended to the work database: bounds the staging file on disk (a million
# sent events are 250 MB of CSV), not memory, which DuckDB's limit bounds.
CHUNK_ROWS = 200_000
# read_csv's buffer: its default, 32 MB in one block, is half the limit (the 1M-row load failed
# with "could not allocate block of size 30.5 MiB"); it must exceed the 2 MB longest line.
_CSV_BUFFER = 4 * 1024 * 1024
_SENT_TABLE = "verify_sent"
_ORDER = {a.key: i for i, a in enumerate(ACTIONS)}  # the catalogue's order in every table


@dataclass(frozen=True)
class VerifyOptions:
    run_id: int | None = None  # None: the last run
    settle: timedelta = DEFAULT_SETTLE
    sample: int | None = None
    readers: int = 8
    seed: int = 0


@dataclass
class MetricPlan:
    metric: MetricRef
    sent: int
    profiles: int
    since: datetime
    until: datetime
    klaviyo_events: int | None  # events of the metric in the range, by metric aggregates
    plan: str
    requests: int

    @property
    def seconds(self) -> float:
        return self.requests / REQUESTS_PER_SECOND

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric.key, "event": self.metric.name, "sent": self.sent, "profiles": self.profiles,
                "since": self.since.isoformat(), "until": self.until.isoformat(),
                "klaviyo_events_in_range": self.klaviyo_events, "plan": self.plan,
                "estimated_requests": self.requests, "estimated_seconds": round(self.seconds, 1)}


@dataclass
class MetricOutcome:
    metric: str
    event: str
    checked: int
    stored: int
    missing: int
    not_visible: int

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "event": self.event, "checked": self.checked, "stored": self.stored,
                "missing": self.missing, "not_visible_yet": self.not_visible}


@dataclass
class MissingEvent:
    file: str
    line: int
    action: str
    line_user_id: str
    time: datetime
    unique_id: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "action": self.action, "line_user_id": self.line_user_id,
                "occurred_at": self.time.isoformat(), "unique_id": self.unique_id}


@dataclass
class VerifyResult:
    run: RunRecord
    settle: timedelta
    sample: int | None
    plans: list[MetricPlan]
    outcomes: list[MetricOutcome]
    sent_derived: int  # events of accepted batches found again in the inputs
    unmatched_batches: int  # accepted batches the inputs no longer give
    inputs_changed: bool
    first_missing: list[MissingEvent] = field(default_factory=list)
    missing_file: Path | None = None
    visible_after: datetime | None = None  # when the last "not visible yet" event passes the settle time

    @property
    def missing(self) -> int:
        return sum(o.missing for o in self.outcomes)

    @property
    def not_visible(self) -> int:
        return sum(o.not_visible for o in self.outcomes)

    @property
    def stored(self) -> int:
        return sum(o.stored for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run.id, "settle_seconds": int(self.settle.total_seconds()), "sample": self.sample,
                "checked": sum(o.checked for o in self.outcomes), "stored": self.stored, "missing": self.missing,
                "not_visible_yet": self.not_visible, "sent_derived": self.sent_derived,
                "unmatched_batches": self.unmatched_batches, "inputs_changed": self.inputs_changed,
                "visible_after": self.visible_after.isoformat() if self.visible_after else None,
                "missing_file": str(self.missing_file) if self.missing_file else None,
                "plans": [p.to_json() for p in self.plans], "metrics": [o.to_json() for o in self.outcomes],
                "first_missing": [m.to_json() for m in self.first_missing]}


# -- the run ------------------------------------------------------------------------


def find_run(state_dir: Path, run_id: int | None) -> RunRecord:
    """The run to verify (default: the last); unknown runs and dry runs are usage errors."""
    if not (state_dir / LEDGER_FILE).exists():
        raise UsageError(f"no backfill runs in {state_dir} (dry runs are not recorded: they send nothing)",
                         hint="verify checks a run that sent events: `linesync backfill FILE` first")
    ledger = Ledger(state_dir)
    try:
        if run_id is None:
            runs = ledger.runs(limit=1)
            if not runs:
                raise UsageError("no backfill runs yet (dry runs are not recorded: they send nothing)",
                                 hint="verify checks a run that sent events: `linesync backfill FILE` first")
            return runs[0]
        record = ledger.run(run_id)
        if record is None:
            newest = ledger.runs(limit=1)
            raise UsageError(f"there is no backfill run #{run_id}"
                             + (f" (the last is #{newest[0].id})" if newest else ""),
                             hint="`linesync backfill runs` lists them; dry runs are not recorded")
        if record.options.get("dry_run"):
            raise UsageError(f"backfill run #{run_id} was a dry run: nothing was sent, so nothing can be verified",
                             hint="verify a run that sent events; `linesync backfill runs` lists them")
        return record
    finally:
        ledger.close()


def accepted_batches(state_dir: Path, run_id: int) -> tuple[dict[str, str], set[tuple[str, int]]]:
    """Batch key -> accepted_at for the run, and the (file, line) of events Klaviyo refused (400)."""
    db = sqlite3.connect(f"file:{state_dir / LEDGER_FILE}?mode=ro", uri=True)
    try:
        keys = {k: at for k, at in db.execute("SELECT key, accepted_at FROM batches WHERE run_id = ?", (run_id,))}
        refused = set()
        for (text,) in db.execute("SELECT reject FROM refused WHERE run_id = ?", (run_id,)):
            reject = json.loads(text)
            refused.add((str(reject.get("file")), int(reject.get("line") or 0)))
    finally:
        db.close()
    return keys, refused


def run_options(record: RunRecord, rejects: Path) -> BackfillOptions:
    """The run's options as it recorded them (its window pinned to the times it started with)."""
    from linesync_cli.timeutil import parse_zone

    o = record.options

    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(o[key]) if o.get(key) else None

    return BackfillOptions(
        inputs=tuple(record.inputs), input_format=o.get("format"), encoding=o.get("encoding") or "utf-8",
        timezone=parse_zone(o.get("timezone")), window=TimeWindow(when("since_at"), when("until_at"),
                                                                  o.get("since"), o.get("until")),
        only=tuple(o.get("only") or ()), limit=o.get("limit"), rejects=rejects,
        trigger_flows=bool(o.get("trigger_flows")))


def link_map_of(record: RunRecord) -> Path | None:
    linkage = str(record.options.get("linkage") or "")
    return Path(linkage.removeprefix("link map ")) if linkage.startswith("link map ") else None


class _SentEvents:
    """A sink for the run's pipeline run again, dry: each event of a batch whose key the ledger
    accepted goes to `emit` (profile ID, the Action with its input file and line, accepted at
    as epoch seconds). It takes the batch, not only the body, for the file and line."""

    delivers = False
    identity = "backfill verify"

    def __init__(self, accepted: dict[str, float], emit: Callable[[str, Action, float], None]) -> None:
        self.accepted = accepted
        self.emit = emit
        self.matched: set[str] = set()

    def open(self) -> None:
        pass

    def send(self, body: bytes) -> None:
        raise TypeError("backfill verify takes whole batches (send_batch), not bodies")

    def send_batch(self, batch: Batch) -> None:
        key = batch_key(batch.body())
        at = self.accepted.get(key)
        if at is None:
            return
        self.matched.add(key)
        emit = self.emit
        for profile_id, events in batch.entries.items():
            for _, action in events:
                emit(profile_id, action, at)


# -- verification -------------------------------------------------------------------


class _Staging:
    """Rows for a table of the work database, written as CSV and appended every `chunk_rows`
    rows, each piece in one statement: DuckDB's CSV reader streams them in, where inserting
    Python lists holds each chunk as DuckDB values (the derive phase's 100+ MB). The pieces
    only append, so where they cut (inside a metric, a profile) changes nothing. Owner-only:
    the rows hold customers' LINE user IDs."""

    def __init__(self, db: Any, path: Path, table: str, columns: Sequence[tuple[str, str]], select: str,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self.db = db
        self.path = path
        self.table = table
        self.select = select
        self.chunk_rows = max(1, chunk_rows)
        self._columns = ", ".join(f"'{name}': '{kind}'" for name, kind in columns)
        empty = ", ".join(f"NULL::{kind} AS {name}" for name, kind in columns)
        db.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM (SELECT {empty}) WHERE false")
        self.rows = 0
        self._pending = 0
        self._fh = open_owner_only(path, "w", encoding="utf-8", newline="")
        self._write = csv.writer(self._fh, lineterminator="\n").writerow

    def add(self, row: Sequence[Any]) -> None:
        self._write(row)
        self.rows += 1
        self._pending += 1
        if self._pending >= self.chunk_rows:
            self._append()
            self._fh = open_owner_only(self.path, "w", encoding="utf-8", newline="")
            self._write = csv.writer(self._fh, lineterminator="\n").writerow

    def _append(self) -> None:
        self._fh.close()
        if self._pending:
            path = str(self.path).replace("'", "''")
            self.db.execute(f"INSERT INTO {self.table} SELECT {self.select} FROM read_csv('{path}', header = false, "
                            f"columns = {{{self._columns}}}, quote = '\"', escape = '\"', delim = ',', "
                            f"auto_detect = false, buffer_size = {_CSV_BUFFER})")
        self._pending = 0

    def finish(self) -> None:
        """Append the last piece; the CSV file goes."""
        try:
            self._append()
        finally:
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


_SENT_COLUMNS = (("profile_id", "VARCHAR"), ("metric", "VARCHAR"), ("unique_id", "VARCHAR"), ("epoch", "BIGINT"),
                 ("accepted", "DOUBLE"), ("line_user_id", "VARCHAR"), ("properties", "VARCHAR"),
                 ("file_no", "INTEGER"), ("line", "BIGINT"))
_SENT_SELECT = ("profile_id, metric, unique_id, to_timestamp(epoch) AS time, to_timestamp(accepted) AS accepted_at, "
                "line_user_id, properties, file_no, line")
_FOUND_COLUMNS = (("metric", "VARCHAR"), ("profile_id", "VARCHAR"), ("unique_id", "VARCHAR"))


@contextmanager
def _work_memory() -> Iterator[None]:
    """DuckDB's out-of-memory error in verify's work database as one line with what to do."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException:
        raise UsageError(f"DuckDB ran out of memory for backfill verify's work file (limit {WORK_MEMORY})",
                         hint="free memory, or disk space in the state dir's tmp for its spill files, "
                              "then run the same verify again") from None


def _remove_stale(tmp: Path) -> None:
    """Work files of a verify that was killed (its process is gone): they can be large."""
    for path in tmp.glob("verify-*"):
        pid = path.name.removeprefix("verify-").split(".", 1)[0].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # alive (another user's process, say): leave it


class Verification:
    """One verify: derive, plan, read, classify. Call in order: derive(), plan(), read(), result().

    Its rows live in a work database of its own (a DuckDB file in the state dir's tmp, gone
    after close()): the sent events, with the input file and line of each, and the keys read
    back. No index, a small memory limit (DuckDB spills past it), so memory stays flat however
    many events the run sent; the mirror is not touched.
    """

    def __init__(self, client: KlaviyoClient, state_dir: Path, record: RunRecord, opts: VerifyOptions,
                 metrics: dict[str, MetricRef], base_url: str = "", chunk_rows: int | None = None) -> None:
        import duckdb

        self.client = client
        self.state_dir = state_dir
        self.record = record
        self.opts = opts
        self.metrics = metrics  # catalogue key -> the metric in Klaviyo
        self.base_url = base_url
        self.chunk_rows = chunk_rows or CHUNK_ROWS  # read when called: tests force small pieces
        self.tmp = ensure_dir(state_dir / "tmp")
        _remove_stale(self.tmp)
        self._prefix = self.tmp / f"verify-{os.getpid()}"
        self._db_path = self._prefix.with_suffix(".duckdb")
        self._db_path.unlink(missing_ok=True)
        try:
            self.db = duckdb.connect(str(self._db_path))
            owner_only_file(self._db_path)
            spill = str(self.tmp).replace("'", "''")
            self.db.execute(f"SET memory_limit = '{WORK_MEMORY}'; SET temp_directory = '{spill}'; "
                            # One thread: each thread holds its own buffers, and 2 under 64 MB
                            # ran out of memory in the missing events' sort at 1M.
                            "SET threads = 1; SET preserve_insertion_order = false; SET enable_progress_bar = false; "
                            "SET TimeZone = 'UTC'")
        except (duckdb.Error, OSError) as exc:
            raise UsageError(f"cannot write verify's work file {self._db_path}: {exc}",
                             hint="check LINESYNC_STATE_DIR (or --state-dir) points at a writable directory") from None
        self.files: list[str] = []  # file_no -> input file
        self.sent_derived = 0
        self.unmatched = 0
        self.inputs_changed = False
        self.plans: list[MetricPlan] = []
        self._last_accepted: datetime | None = None

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            for path in (self._db_path, self._db_path.with_suffix(".duckdb.wal")):
                path.unlink(missing_ok=True)

    # 1. what was sent
    def derive(self, resolver: Any) -> int:
        with _work_memory():
            return self._derive(resolver)

    def _derive(self, resolver: Any) -> int:
        keys, _ = accepted_batches(self.state_dir, self.record.id)
        if not keys:
            _Staging(self.db, self._prefix.with_suffix(".sent.csv"), _SENT_TABLE, _SENT_COLUMNS,
                     _SENT_SELECT).finish()
            self._create_inputs()
            return 0
        self._last_accepted = max(datetime.fromisoformat(at) for at in keys.values())
        accepted = {k: datetime.fromisoformat(at).timestamp() for k, at in keys.items()}
        rejects = self._prefix.with_suffix(".rejects.jsonl")
        opts = run_options(self.record, rejects)
        inputs = check_inputs(opts.inputs)
        fingerprint = run_fingerprint(opts, inputs, str(self.record.options.get("linkage") or ""),
                                      str(getattr(self.client, "base_url", self.base_url)))
        self.inputs_changed = fingerprint != self.record.fingerprint
        staging = _Staging(self.db, self._prefix.with_suffix(".sent.csv"), _SENT_TABLE, _SENT_COLUMNS, _SENT_SELECT,
                           self.chunk_rows)
        file_no: dict[str, int] = {}
        add = staging.add

        def emit(profile_id: str, action: Action, at: float) -> None:
            number = file_no.get(action.file)
            if number is None:
                number = file_no[action.file] = len(self.files)
                self.files.append(action.file)
            add((profile_id, action.action, action.unique_id, action.epoch, at, action.line_user_id,
                 action.properties, number, action.line))

        sink = _SentEvents(accepted, emit)
        try:
            try:
                result = run_backfill(opts, resolver, sink=sink, state_dir=self.state_dir, inputs=inputs)
            finally:
                rejects.unlink(missing_ok=True)
            if result.stopped_by is not None:
                raise result.stopped_by
            staging.finish()
            self._create_inputs()
        except BaseException:
            staging.discard()
            raise
        self.sent_derived = staging.rows
        self.unmatched = len(set(keys) - sink.matched)
        return self.sent_derived

    def _create_inputs(self) -> None:
        self.db.execute("CREATE OR REPLACE TABLE verify_inputs (file_no INTEGER, file VARCHAR)")
        if self.files:
            self.db.executemany("INSERT INTO verify_inputs VALUES (?, ?)", list(enumerate(self.files)))

    # 2. how to read it back
    def plan(self, count_events: Callable[[MetricRef, datetime, datetime], int | None]) -> list[MetricPlan]:
        with _work_memory():
            return self._plan(count_events)

    def _plan(self, count_events: Callable[[MetricRef, datetime, datetime], int | None]) -> list[MetricPlan]:
        # Per profile first: a plain GROUP BY can spill past the memory limit, count(DISTINCT) cannot.
        rows = self.db.execute(
            "SELECT metric, sum(n)::BIGINT, count(*), min(lo), max(hi) FROM (SELECT metric, profile_id, count(*) AS n, "
            f"min(time) AS lo, max(time) AS hi FROM {_SENT_TABLE} GROUP BY metric, profile_id) GROUP BY metric").fetchall()
        rows.sort(key=lambda r: _ORDER.get(r[0], len(_ORDER)))
        page = max(1, int(getattr(self.client, "events_page_size", 1000)))
        plans = []
        for key, sent, profiles, lo, hi in rows:
            metric = self.metrics.get(key)
            if metric is None:
                metric = MetricRef(key, "", key)  # Klaviyo has no such metric: every event is missing
            until = hi + timedelta(seconds=1)
            if self.opts.sample:
                n = min(self.opts.sample, sent)
                plans.append(MetricPlan(metric, sent, profiles, lo, until, None, SAMPLE, n))
                continue
            total = count_events(metric, lo, until) if metric.id else 0
            by_metric = max(1, math.ceil((total if total is not None else sent) / page))
            by_profile = profiles + sent // page
            choice = BY_PROFILE if total is not None and by_profile < by_metric else BY_METRIC
            plans.append(MetricPlan(metric, sent, profiles, lo, until, total, choice,
                                    by_profile if choice == BY_PROFILE else by_metric))
        self.plans = plans
        return plans

    # 3. read back
    def read(self, progress: Callable[[PullProgress], None] | None = None) -> None:
        with _work_memory():
            self._read(progress)

    def _read(self, progress: Callable[[PullProgress], None] | None) -> None:
        # Everything in the run's ranges is read again each time: events sent later with old
        # times (a --resend) can be anywhere in a range. Only the keys matched on are kept.
        if self.opts.sample:
            self.db.execute(f"CREATE OR REPLACE TABLE verify_sample AS SELECT * FROM {_SENT_TABLE} "
                            f"USING SAMPLE reservoir({int(self.opts.sample)} ROWS) REPEATABLE ({int(self.opts.seed)})")
            self.db.execute(f"DROP TABLE {_SENT_TABLE}; ALTER TABLE verify_sample RENAME TO {_SENT_TABLE}")
        # Kept as read, repeats and all (a page read twice): classify asks whether a key is there.
        staging = _Staging(self.db, self._prefix.with_suffix(".found.csv"), "verify_found", _FOUND_COLUMNS,
                           "metric, profile_id, unique_id", self.chunk_rows)
        add = staging.add

        def found(pages: list[tuple[Slice, Sequence[ReadEvent]]]) -> None:
            for s, events in pages:
                for e in events:
                    add((s.metric, e.profile_id, e.unique_id))

        try:
            for p in self.plans:
                if not p.metric.id:
                    continue
                if p.plan == BY_METRIC:
                    slices = [Slice(-1, p.metric.id, p.metric.key, lo, hi)
                              for lo, hi in cut_slices([(p.since, p.until)], self.opts.readers)]
                    read_events(self.client, slices, self.opts.readers, found, progress)
                else:
                    count = p.requests if p.plan == SAMPLE else p.profiles
                    read_events(self.client, self._profile_jobs(p), self.opts.readers, found, progress, total=count)
            staging.finish()
        except BaseException:
            staging.discard()
            raise

    def _profile_jobs(self, p: MetricPlan) -> Iterator[Slice]:
        """One read per profile (by profile) or per sampled event (a one-second window), lazily."""
        cursor = self.db.cursor()  # its own connection: read from the reader threads
        if p.plan == SAMPLE:
            sql = (f"SELECT profile_id, time, time + INTERVAL 1 SECOND FROM {_SENT_TABLE} WHERE metric = ? "
                   "ORDER BY profile_id")
        else:
            sql = (f"SELECT profile_id, min(time), max(time) + INTERVAL 1 SECOND FROM {_SENT_TABLE} "
                   "WHERE metric = ? GROUP BY profile_id ORDER BY profile_id")
        cursor.execute(sql, [p.metric.key])
        try:
            while True:
                rows = cursor.fetchmany(1000)
                if not rows:
                    return
                for profile_id, lo, hi in rows:
                    yield Slice(-1, p.metric.id, p.metric.key, lo, hi, profile_id=profile_id)
        finally:
            cursor.close()

    # 4. what is there
    def result(self, missing_file: Path | None = None, list_first: int = 20) -> VerifyResult:
        with _work_memory():
            return self._result(missing_file, list_first)

    def _result(self, missing_file: Path | None, list_first: int) -> VerifyResult:
        now = datetime.now(UTC)
        settled_before = now - self.opts.settle
        db = self.db
        # Classified once into a table: the counts, the first missing and --missing each read it.
        # EXISTS: a semi join (DuckDB spills its hash table past the limit), true once however
        # often a key was read.
        db.execute(f"CREATE OR REPLACE TABLE verify_classified AS SELECT s.*, i.file, CASE "
                   "WHEN EXISTS (SELECT 1 FROM verify_found f WHERE f.metric = s.metric "
                   "AND f.profile_id = s.profile_id AND f.unique_id = s.unique_id) THEN 'stored' "
                   f"WHEN s.accepted_at > TIMESTAMPTZ '{settled_before.isoformat()}' THEN 'not_visible' "
                   f"ELSE 'missing' END AS state FROM {_SENT_TABLE} s "
                   "LEFT JOIN verify_inputs i USING (file_no)")
        names = {k: m.name for k, m in self.metrics.items()}
        outcomes = [MetricOutcome(k, names.get(k, k), int(n), int(st), int(mi), int(nv)) for k, n, st, mi, nv in db.execute(
            "SELECT metric, count(*), count(*) FILTER (WHERE state = 'stored'), "
            "count(*) FILTER (WHERE state = 'missing'), count(*) FILTER (WHERE state = 'not_visible') "
            "FROM verify_classified GROUP BY metric").fetchall()]
        outcomes.sort(key=lambda o: _ORDER.get(o.metric, len(_ORDER)))
        first = [MissingEvent(f, int(ln), a, u, t, uid) for f, ln, a, u, t, uid in db.execute(
            "SELECT file, line, metric, line_user_id, time, unique_id FROM verify_classified WHERE state = 'missing' "
            "ORDER BY file_no, line LIMIT ?", [list_first]).fetchall()]
        row = db.execute("SELECT max(accepted_at) FROM verify_classified WHERE state = 'not_visible'").fetchone()
        latest = row[0] if row else None
        result = VerifyResult(self.record, self.opts.settle, self.opts.sample, self.plans, outcomes,
                              self.sent_derived, self.unmatched, self.inputs_changed, first,
                              visible_after=latest + self.opts.settle if latest else None)
        if missing_file is not None and result.missing:
            write_actions(db, missing_file)
            result.missing_file = missing_file
        return result


_FIELD_OF = {prop: name for name, prop in OPTIONAL_PROPERTIES}


def write_actions(db: Any, path: Path) -> int:
    """The missing events as an actions file (JSON Lines) that `backfill` accepts; `event_id` is the
    unique_id they were sent with, so sending them again can never record one twice."""
    written = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # customers' LINE IDs
        with open(fd, "w", encoding="utf-8") as fh:
            cursor = db.execute("SELECT metric, line_user_id, epoch(time)::BIGINT, unique_id, properties "
                                "FROM verify_classified WHERE state = 'missing' ORDER BY file_no, line")
            while rows := cursor.fetchmany(10_000):
                for action, user, epoch, unique_id, properties in rows:
                    record: dict[str, Any] = {"action": action, "line_user_id": user,
                                              "occurred_at": datetime.fromtimestamp(epoch, UTC).isoformat(),
                                              "event_id": unique_id}
                    for prop, value in json.loads(properties).items():
                        name = _FIELD_OF.get(prop)
                        if name is not None:
                            record[name] = value
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
    except OSError as exc:
        raise UsageError(f"cannot write --missing {path}: {exc.strerror or exc}") from None
    return written


def aggregate_counter(client: KlaviyoClient) -> Callable[[MetricRef, datetime, datetime], int | None]:
    """Events of a metric in a range, from metric aggregates (one query a year of range, 3/s)."""
    from linesync_cli.core.aggregates import AggregateQuery, query_aggregates
    from linesync_cli.errors import ApiError

    def count(metric: MetricRef, since: datetime, until: datetime) -> int | None:
        total = 0.0
        at = since
        try:
            while at < until:
                end = min(until, at + timedelta(days=365))
                series = query_aggregates(client, AggregateQuery(metric.id, at, end, "month", ("count",), "UTC"))
                total += series.sum("count")
                at = end
        except ApiError:
            return None  # unknown: read by metric, which needs no estimate to be right
        return int(total)

    return count
