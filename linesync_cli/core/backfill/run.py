"""One backfill run: read, validate, filter, de-duplicate, resolve, batch, send, record.

Every record read lands in exactly one bucket, so the summary reconciles:

    read = sent + would_send + unlinked + ambiguous + duplicates + rejected
           + failed + filtered + skipped (by reason) + pending

`filtered` holds the records left out by --since/--until/--only; `--limit N` stops
reading after N records passed the filters, so it needs no bucket. `pending`
is non-zero only when a run stops early (error, Ctrl-C): read but not yet sent.
`failed` counts events Klaviyo refused (400); they go to the rejects file too.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.core.backfill.batching import Batch, BatchBuilder, SeenKeys, batch_key
from linesync_cli.core.backfill.ledger import COMPLETE, INTERRUPTED, STOPPED, Ledger
from linesync_cli.core.backfill.readers import Source, check_input, open_source, read_source
from linesync_cli.core.backfill.records import Action, Reject, Skip
from linesync_cli.core.backfill.sender import Delivery, Sender
from linesync_cli.core.backfill.validate import ActionValidator
from linesync_cli.core.linkage import LinkStatus
from linesync_cli.errors import Interrupted, LinesyncError, UsageError
from linesync_cli.timeutil import parse_zone

if TYPE_CHECKING:
    from linesync_cli.core.linkage import Resolver

# Actions resolved per linkage call (the resolver takes up to ~1,000 distinct IDs).
CHUNK = 1000
# LINE user IDs whose linkage is remembered during a run (about 200 bytes each).
LINK_CACHE = 50_000
# Markers in the link cache (profile IDs are plain strings).
UNLINKED, AMBIGUOUS = object(), object()
PROGRESS_EVERY = 0.25  # seconds between progress callbacks


@dataclass(frozen=True)
class BackfillOptions:
    inputs: tuple[str, ...]
    input_format: str | None = None  # csv | jsonl | line-webhook; None detects
    encoding: str = "utf-8"
    timezone: str | None = None  # for naive timestamps
    since: datetime | None = None
    until: datetime | None = None
    since_text: str | None = None  # as typed: "30d" resolves to a new time on every run
    until_text: str | None = None
    only: tuple[str, ...] = ()  # catalogue keys
    limit: int | None = None
    dry_run: bool = False
    out_dir: Path | None = None
    rejects: Path | None = None
    unlinked: Path | None = None
    trigger_flows: bool = False
    restart: bool = False
    workers: int = 4
    # How profiles are found, stably named ("property:LINE User ID", "link map /abs/map.csv"):
    # not the resolver's description, which says how old the index is.
    linkage: str = ""

    def identity(self) -> dict[str, Any]:
        """The options that change what is sent (part of the run's fingerprint)."""
        return {
            "format": self.input_format, "encoding": self.encoding, "timezone": self.timezone,
            "since": self.since_text, "until": self.until_text, "only": sorted(self.only),
            "limit": self.limit, "trigger_flows": self.trigger_flows, "linkage": self.linkage,
        }


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["reconciled"] = self.accounted() == self.read
        return data


@dataclass
class Progress:
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


def file_fingerprint(name: str) -> dict[str, Any]:
    """Path, size and a hash of the first and last MiB: cheap, and catches edits and appends."""
    if name == "-":
        return {"path": "-"}
    path = Path(name).resolve()
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            h = hashlib.blake2b(fh.read(1 << 20), digest_size=16)
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
            elif size > 1 << 20:
                h.update(fh.read())
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    return {"path": str(path), "size": size, "hash": h.hexdigest()}


def run_fingerprint(opts: BackfillOptions, base_url: str) -> tuple[str, list[dict]]:
    """The run's identity: the inputs, the options that shape what is sent, the Klaviyo URL.

    Batches are recognised by the hash of their body, so even a run resumed after
    the linkage changed sends every event that was not accepted exactly as it is now.
    """
    inputs = [file_fingerprint(n) for n in opts.inputs]
    doc = {"inputs": inputs, "options": opts.identity(), "klaviyo": base_url}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(), inputs


class RejectsFile:
    """JSON Lines, opened on the first reject (a clean run leaves no file behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None
        self._lock = threading.Lock()
        try:
            path.unlink(missing_ok=True)  # a previous invocation's list is rewritten whole
        except OSError as exc:
            raise UsageError(f"cannot replace the rejects file {path}: {exc.strerror or exc}") from None

    def write(self, reject: dict[str, Any]) -> None:
        with self._lock:
            if self._fh is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    # Owner-only: rejected records hold customers' LINE IDs and links.
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    # backslashreplace: a record with undecodable bytes is written, not lost.
                    self._fh = open(fd, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
                except OSError as exc:
                    raise UsageError(f"cannot write the rejects file {self.path}: {exc.strerror or exc}") from None
            try:
                line = json.dumps(reject, ensure_ascii=False, default=str)
            except (RecursionError, ValueError):  # a record nested too deeply to write back
                line = json.dumps(reject | {"record": str(reject.get("record"))[:1000]}, ensure_ascii=False)
            self._fh.write(line + "\n")

    @property
    def written(self) -> bool:
        return self._fh is not None

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()


def _refused_json(action: Action, reason: str) -> dict[str, Any]:
    return Reject(action.file, action.line, action.record, reason).to_json()


class BackfillRun:
    """The pipeline for one invocation. `run()` returns a result; it raises only usage errors."""

    def __init__(self, opts: BackfillOptions, resolver: Resolver, *, state_dir: Path,
                 post: Callable[[bytes], None] | None, base_url: str = "",
                 progress: Callable[[Progress], None] | None = None, now: datetime | None = None) -> None:
        if not opts.dry_run and post is None:
            raise ValueError("a sending run needs a post function")
        self.opts = opts
        self.resolver = resolver
        self.state_dir = state_dir
        self.post = post
        self.base_url = base_url
        self.progress = progress
        self.counts = Counts()
        self.validator = ActionValidator(parse_zone(opts.timezone), now)
        self.builder = BatchBuilder(backfill=not opts.trigger_flows)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_tick = 0.0
        self._sizes: list[int | None] = []  # of each input (None: standard input)
        self._current: Source | None = None  # inputs are opened one at a time, as they are read
        self._bytes_done = 0
        self._unlinked_ids: Counter | None = Counter() if opts.unlinked else None
        self._ambiguous_ids: Counter | None = Counter() if opts.unlinked else None
        self._link_cache: dict[str, Any] = {}
        self.ledger: Ledger | None = None
        self.run_id: int | None = None
        self._accepted: dict = {}
        self.sender: Sender | None = None
        self.rejects: RejectsFile | None = None

    # -- setup ---------------------------------------------------------------
    def _open_run(self, fingerprint: str, inputs: list[dict]) -> bool:
        """Find the run to continue, or start one. Returns whether it resumes."""
        assert self.ledger is not None
        if self.opts.restart:
            self.ledger.supersede(fingerprint)
        previous = self.ledger.latest_run(fingerprint)
        if previous is not None:
            self.ledger.lock_run(previous.id)
            self.run_id = previous.id
            self.ledger.resume_run(previous.id)
            self._accepted = self.ledger.accepted_batches(previous.id)
            return True
        options = self.opts.identity() | {"since_at": self.opts.since.isoformat() if self.opts.since else None,
                                          "until_at": self.opts.until.isoformat() if self.opts.until else None}
        self.run_id = self.ledger.start_run(fingerprint, [i["path"] for i in inputs], options)
        self.ledger.lock_run(self.run_id)
        return False

    def _resumed_window(self) -> None:
        """A resumed run keeps the --since/--until times it started with ("30d" does not move)."""
        assert self.ledger is not None and self.run_id is not None
        record = self.ledger.run(self.run_id)
        if record is None:
            return
        since, until = record.options.get("since_at"), record.options.get("until_at")
        self._since = datetime.fromisoformat(since) if since else None
        self._until = datetime.fromisoformat(until) if until else None

    # -- the pipeline --------------------------------------------------------
    def run(self) -> BackfillResult:
        opts = self.opts
        self._since, self._until = opts.since, opts.until
        # Every input must be readable before anything is sent (exit 2 otherwise).
        self._sizes = [check_input(name) for name in opts.inputs]
        fingerprint, inputs = run_fingerprint(opts, self.base_url)
        resumed = False
        if not opts.dry_run:
            self.ledger = Ledger(self.state_dir)
            resumed = self._open_run(fingerprint, inputs)
            if resumed:
                self._resumed_window()
        default_rejects = self.state_dir / "rejects" / (
            f"dry-run-{fingerprint[:12]}.jsonl" if opts.dry_run else f"run-{self.run_id}.jsonl")
        self.rejects = RejectsFile(opts.rejects or default_rejects)
        if opts.out_dir is not None:
            _prepare_out_dir(opts.out_dir)
        if self.post is not None and not opts.dry_run:
            self.sender = Sender(self.post, max(1, opts.workers), self._on_delivered)
        try:
            seen = SeenKeys(self.state_dir / "tmp")
        except OSError as exc:
            raise UsageError(f"cannot write temporary files in {self.state_dir}: {exc.strerror or exc}",
                             hint="check LINESYNC_STATE_DIR (or --state-dir) points at a writable directory") from None
        self._dedup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-dedup")
        stopped: LinesyncError | None = None
        try:
            try:
                self._pump(seen)
                self._wait_in_flight()
            except LinesyncError as exc:  # e.g. the linkage lost its API access
                stopped = exc
                self._wait_in_flight()
            except KeyboardInterrupt:
                stopped = Interrupted("interrupted (dry run: nothing was sent)") if opts.dry_run else Interrupted(
                    "interrupted; progress is saved", hint="run the same command again to continue where it stopped")
                try:
                    self._wait_in_flight()
                except KeyboardInterrupt:
                    pass
            if stopped is None and self.sender is not None and self.sender.error is not None:
                error = self.sender.error
                if not isinstance(error, LinesyncError):
                    raise error
                stopped = error
        finally:
            self._dedup.shutdown(wait=True)
            seen.close()
            if self._current is not None:
                self._current.close()
            if self.sender is not None:
                self.sender.close()
            self.rejects.close()
        counts = self.counts
        counts.pending = counts.read - (counts.accounted() - counts.pending)
        status = COMPLETE if stopped is None else (INTERRUPTED if isinstance(stopped, Interrupted) else STOPPED)
        unlinked_path = self._write_unlinked()
        if self.ledger is not None and self.run_id is not None:
            self.ledger.finish(self.run_id, status, counts.to_json())
            self.ledger.close()
        return BackfillResult(
            counts=counts, dry_run=opts.dry_run, run_id=self.run_id, resumed=resumed, status=status,
            rejects_path=self.rejects.path if self.rejects.written else None, unlinked_path=unlinked_path,
            out_dir=opts.out_dir, elapsed=time.monotonic() - self._started, resolver=self.resolver.description,
            stopped_by=stopped,
        )

    def _items(self) -> Iterator[Action | Reject | Skip]:
        for name, size in zip(self.opts.inputs, self._sizes, strict=True):
            source = self._current = open_source(name, self.opts.encoding)
            try:
                yield from read_source(source, self.validator, self.opts.input_format)
            finally:
                source.close()
            self._bytes_done += size or 0

    def _pump(self, seen: SeenKeys) -> None:
        opts, counts = self.opts, self.counts
        since, until = self._since, self._until
        since_s = since.timestamp() if since else None
        until_s = until.timestamp() if until else None
        only = set(opts.only)
        limit = opts.limit
        taken = 0
        chunk: list[Action] = []
        rejects = self.rejects
        assert rejects is not None
        # Duplicates are looked up in SQLite on a helper thread (SQLite works without
        # the GIL) while the next chunk is read; chunks are still handled in order.
        checking: tuple[list[Action], Future] | None = None
        for item in self._items():
            counts.read += 1
            if type(item) is Action:
                if (only and item.action not in only) or (since_s is not None and item.epoch < since_s) \
                        or (until_s is not None and item.epoch >= until_s):
                    counts.filtered += 1
                else:
                    chunk.append(item)
                    taken += 1
                    if len(chunk) >= CHUNK:
                        if checking is not None and not self._process(checking[0], checking[1].result()):
                            return
                        checking = (chunk, self._dedup.submit(seen.first_seen, chunk))
                        chunk = []
                    if limit is not None and taken >= limit:
                        break
            elif type(item) is Reject:
                counts.rejected += 1
                rejects.write(item.to_json())
            else:
                counts.skipped[item.reason] += 1
            if not counts.read & 255:
                self._tick()
        if checking is not None and not self._process(checking[0], checking[1].result()):
            return
        if chunk and not self._process(chunk, seen.first_seen(chunk)):
            return
        last = self.builder.flush()
        if last is not None:
            self._dispatch(last)

    def _links(self, users: set[str]) -> dict[str, str]:
        """LINE user ID -> profile ID, or UNLINKED / AMBIGUOUS, asking the resolver only about new IDs.

        The answers are kept for the run, up to LINK_CACHE IDs (then forgotten and asked
        again), so memory stays bounded however many users the input has.
        """
        cache = self._link_cache
        missing = sorted(u for u in users if u not in cache)
        if missing:
            if len(cache) + len(missing) > LINK_CACHE:
                cache.clear()
            for user, link in self.resolver.resolve(missing).items():
                if link.status is LinkStatus.LINKED:
                    cache[user] = link.profile_ids[0]
                else:
                    cache[user] = AMBIGUOUS if link.status is LinkStatus.AMBIGUOUS else UNLINKED
            for user in missing:
                cache.setdefault(user, UNLINKED)
        return cache

    def _process(self, chunk: list[Action], first_seen: list[bool]) -> bool:
        """Resolve a de-duplicated chunk and batch its linked events. False: stop."""
        counts = self.counts
        fresh = [a for a, first in zip(chunk, first_seen, strict=True) if first]
        counts.duplicates += len(chunk) - len(fresh)
        links = self._links({a.line_user_id for a in fresh})
        add = self.builder.add
        for action in fresh:
            target = links[action.line_user_id]
            if target is UNLINKED:
                counts.unlinked += 1
                if self._unlinked_ids is not None:
                    self._unlinked_ids[action.line_user_id] += 1
            elif target is AMBIGUOUS:
                counts.ambiguous += 1
                if self._ambiguous_ids is not None:
                    self._ambiguous_ids[action.line_user_id] += 1
            else:
                done, added = add(target, action)
                if not added:
                    counts.duplicates += 1
                if done is not None and not self._dispatch(done):
                    return False
        return True

    def _dispatch(self, batch: Batch) -> bool:
        """Send (or, in a dry run, write) one batch. False when the run must stop."""
        counts = self.counts
        body = batch.body()
        if self.opts.dry_run:
            counts.would_send += batch.events
            counts.batches += 1
            if self.opts.out_dir is not None:
                (self.opts.out_dir / f"batch-{batch.seq:06d}.json").write_bytes(body)
            return True
        key = batch_key(body)
        before = self._accepted.get(key)
        if before is not None:
            assert self.ledger is not None and self.run_id is not None and self.rejects is not None
            with self._lock:
                counts.sent += before.sent
                counts.sent_before += before.sent
                counts.failed += before.refused
                counts.batches += 1
                counts.batches_before += 1
            for reject in self.ledger.refused_for(self.run_id, key):
                self.rejects.write(reject)
            return True
        assert self.sender is not None
        return self.sender.submit(batch, body, key, self._tick)

    def _on_delivered(self, batch: Batch, key: str, delivery: Delivery) -> None:
        """In a worker thread, right after Klaviyo took the batch: record it, then count it."""
        assert self.ledger is not None and self.run_id is not None and self.rejects is not None
        refused = [_refused_json(a, reason) for a, reason in delivery.refused]
        self.ledger.record_batch(self.run_id, key, batch.seq, batch.events, delivery.sent, refused)
        for reject in refused:
            self.rejects.write(reject)
        with self._lock:
            self.counts.sent += delivery.sent
            self.counts.failed += len(refused)
            self.counts.batches += 1
            self.counts.requests += delivery.requests

    def _wait_in_flight(self) -> None:
        if self.sender is not None:
            self.sender.drain(self._tick)

    def _tick(self) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self._last_tick < PROGRESS_EVERY:
            return
        self._last_tick = now
        self.progress(self.snapshot())

    def snapshot(self) -> Progress:
        sizes = self._sizes
        total = None if None in sizes else sum(s or 0 for s in sizes)
        current = self._current.position() if self._current is not None else 0
        return Progress(
            read=self.counts.read,
            sent=self.counts.would_send if self.opts.dry_run else self.counts.sent,
            in_flight=self.sender.in_flight_events if self.sender else 0,
            bytes_read=self._bytes_done + current, bytes_total=total,
            elapsed=time.monotonic() - self._started, dry_run=self.opts.dry_run,
        )

    def _write_unlinked(self) -> Path | None:
        path = self.opts.unlinked
        if path is None or self._unlinked_ids is None or self._ambiguous_ids is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(["line_user_id", "status", "actions"])
                for status, ids in (("unlinked", self._unlinked_ids), ("ambiguous", self._ambiguous_ids)):
                    for user, n in sorted(ids.items(), key=lambda kv: (-kv[1], kv[0])):
                        writer.writerow([user, status, n])
        except OSError as exc:
            raise UsageError(f"cannot write --unlinked {path}: {exc.strerror or exc}") from None
        return path


def _prepare_out_dir(out_dir: Path) -> None:
    """--out DIR: created if needed; batch files from an earlier dry run are replaced."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob("batch-*.json"):
            old.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write request bodies to {out_dir}: {exc.strerror or exc}") from None


def run_backfill(opts: BackfillOptions, resolver: Resolver, *, state_dir: Path,
                 post: Callable[[bytes], None] | None = None, base_url: str = "",
                 progress: Callable[[Progress], None] | None = None, now: datetime | None = None) -> BackfillResult:
    """Run (or resume) a backfill. Stopping errors come back in `result.stopped_by`."""
    return BackfillRun(opts, resolver, state_dir=state_dir, post=post, base_url=base_url,
                       progress=progress, now=now).run()
