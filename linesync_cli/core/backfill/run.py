"""One backfill run: check the inputs, then read, validate, filter, de-duplicate,
resolve, batch and hand each batch to the sink, then report.

The parts, each with one job:

- `check_inputs` (options.py): every input opens; its size and fingerprint.
- `RecordedRun`: a delivering run's place in the ledger (started, or resumed with
  the batches already accepted and the window it started with).
- `Pipeline`: records in, batches out, every record counted in one bucket; what it
  still holds when it stops is `pending`.
- an outlet per kind of sink: `DryRunOutlet` writes bodies (or nothing) and counts
  them as `would_send`; `LedgerOutlet` skips batches accepted before, sends the rest
  through the `Sender` workers and records each in the ledger as Klaviyo takes it.
- `BackfillResult` (result.py): the counts and the outcome.

`filtered` holds the records left out by --since/--until/--only; `--limit N` stops
reading after N records passed the filters, so it needs no bucket. `failed` counts
events Klaviyo refused (400); they go to the rejects file too.
"""

from __future__ import annotations

import csv
import gc
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from linesync_cli.core.backfill.batching import Batch, BatchBuilder, SeenKeys, batch_key
from linesync_cli.core.backfill.ledger import COMPLETE, INTERRUPTED, STOPPED, AcceptedBatch, Ledger
from linesync_cli.core.backfill.options import (
    BackfillOptions,
    InputFile,
    TimeWindow,
    check_inputs,
    run_fingerprint,
)
from linesync_cli.core.backfill.readers import Source, open_source, read_chunks
from linesync_cli.core.backfill.records import Action, Reject, Skip
from linesync_cli.core.backfill.result import BackfillProgress, BackfillResult, Counts
from linesync_cli.core.backfill.sender import Delivery, Sender
from linesync_cli.core.backfill.sink import DryRunSink, Sink
from linesync_cli.core.backfill.validate import ActionValidator
from linesync_cli.core.linkage import LinkStatus
from linesync_cli.errors import Interrupted, LinesyncError, UsageError
from linesync_cli.state import ensure_dir, open_owner_only

if TYPE_CHECKING:
    from linesync_cli.core.linkage import Resolver

__all__ = ["BackfillOptions", "BackfillProgress", "BackfillResult", "Counts", "TimeWindow", "run_backfill"]

# Actions resolved per linkage call (the resolver takes up to ~1,000 distinct IDs).
CHUNK = 1000
# LINE user IDs whose linkage is remembered during a run (about 200 bytes each).
LINK_CACHE = 50_000
# Markers in the link cache (profile IDs are plain strings).
UNLINKED, AMBIGUOUS = object(), object()
PROGRESS_EVERY = 0.25  # seconds between progress callbacks
_line_user_id = attrgetter("line_user_id")


class RejectsFile:
    """JSON Lines, opened on the first reject (a clean run leaves no file behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None
        self._lock = threading.Lock()
        try:
            path.unlink(missing_ok=True)  # a previous invocation's list is rewritten whole
        except OSError as exc:
            raise UsageError(f"cannot replace the rejects file {path}: {exc.strerror or exc}") from None

    def write(self, reject: dict[str, Any]) -> None:
        with self._lock:
            if self._fh is None:
                try:
                    ensure_dir(self.path.parent)
                    # Owner-only: rejected records hold customers' LINE IDs and links.
                    # backslashreplace: a record with undecodable bytes is written, not lost.
                    self._fh = open_owner_only(self.path, "w", encoding="utf-8", errors="backslashreplace")
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


# -- the ledger --------------------------------------------------------------

@dataclass(frozen=True)
class RecordedRun:
    """A delivering run in the ledger: new, or resumed with what was accepted before."""

    ledger: Ledger
    id: int
    resumed: bool
    accepted: dict[str, AcceptedBatch]
    window: TimeWindow  # a resumed run keeps the times it started with

    @classmethod
    def open(cls, ledger: Ledger, fingerprint: str, inputs: tuple[InputFile, ...], opts: BackfillOptions,
             linkage: str) -> RecordedRun:
        if opts.restart:
            ledger.supersede(fingerprint)
        previous = ledger.latest_run(fingerprint)
        if previous is not None:
            ledger.lock_run(previous.id)
            ledger.resume_run(previous.id)
            return cls(ledger, previous.id, True, ledger.accepted_batches(previous.id),
                       opts.window.pinned(previous.options))
        stored = opts.identity() | {"linkage": linkage} | opts.window.resolved()
        run_id = ledger.start_run(fingerprint, [i.fingerprint["path"] for i in inputs], stored)
        ledger.lock_run(run_id)
        return cls(ledger, run_id, False, {}, opts.window)


# -- outlets: where the pipeline's batches go ----------------------------------

class DryRunOutlet:
    """A dry run: each body goes to the sink (a directory, or nowhere) and counts as would_send."""

    def __init__(self, sink: Sink, counts: Counts) -> None:
        self._send = sink.send
        # A sink that needs the records behind a body (backfill verify: their file and line) takes the batch.
        self._send_batch: Callable[[Batch], None] | None = getattr(sink, "send_batch", None)
        self._counts = counts
        self.error: Exception | None = None

    def dispatch(self, batch: Batch, tick: Callable[[], None]) -> bool:
        if self._send_batch is not None:
            self._send_batch(batch)
        else:
            self._send(batch.body())
        self._counts.would_send += batch.events
        self._counts.batches += 1
        return True

    @property
    def sent(self) -> int:
        return self._counts.would_send

    @property
    def in_flight_events(self) -> int:
        return 0

    @property
    def held_events(self) -> int:
        return 0

    def drain(self, tick: Callable[[], None]) -> None:
        pass

    def close(self) -> None:
        pass


class LedgerOutlet:
    """Batches accepted by an earlier invocation are counted, not sent; the rest go to the
    workers, and each is recorded in the ledger right after Klaviyo takes it."""

    def __init__(self, sink: Sink, run: RecordedRun, counts: Counts, rejects: RejectsFile, workers: int) -> None:
        self._run = run
        self._counts = counts
        self._rejects = rejects
        self._lock = threading.Lock()
        upper = max(1, workers)
        sized: Callable[[int], int] | None = getattr(sink, "in_flight", None)
        self._sender = Sender(sink.send, upper, self._on_delivered,
                              in_flight=(lambda: sized(upper)) if sized is not None else None)

    @property
    def error(self) -> Exception | None:
        return self._sender.error

    @property
    def sent(self) -> int:
        return self._counts.sent

    @property
    def in_flight_events(self) -> int:
        return self._sender.in_flight_events

    @property
    def held_events(self) -> int:
        """Handed over but not accounted: in flight, or in a batch whose delivery failed."""
        return self._sender.in_flight_events + self._sender.undelivered_events

    def dispatch(self, batch: Batch, tick: Callable[[], None]) -> bool:
        body = batch.body()
        key = batch_key(body)
        before = self._run.accepted.get(key)
        if before is None:
            return self._sender.submit(batch, body, key, tick)
        counts = self._counts
        with self._lock:
            counts.sent += before.sent
            counts.sent_before += before.sent
            counts.failed += before.refused
            counts.batches += 1
            counts.batches_before += 1
        for reject in self._run.ledger.refused_for(self._run.id, key):
            self._rejects.write(reject)
        return True

    def _on_delivered(self, batch: Batch, key: str, delivery: Delivery) -> None:
        """In a worker thread, right after Klaviyo took the batch: record it, then count it."""
        refused = [_refused_json(a, reason) for a, reason in delivery.refused]
        self._run.ledger.record_batch(self._run.id, key, batch.seq, batch.events, delivery.sent, refused)
        for reject in refused:
            self._rejects.write(reject)
        with self._lock:
            self._counts.sent += delivery.sent
            self._counts.failed += len(refused)
            self._counts.batches += 1
            self._counts.requests += delivery.requests

    def drain(self, tick: Callable[[], None]) -> None:
        self._sender.drain(tick)

    def close(self) -> None:
        self._sender.close()


Outlet = DryRunOutlet | LedgerOutlet


# -- the pipeline --------------------------------------------------------------

class Pipeline:
    """Records in, batches out. `run()` returns the error that stopped it (None: it finished).

    Every record read is counted in one bucket as it lands; `held()` counts what is
    still on its way (the pending bucket), from the pipeline's own holders.
    """

    def __init__(self, opts: BackfillOptions, window: TimeWindow, inputs: tuple[InputFile, ...], resolver: Resolver,
                 outlet: Outlet, rejects: RejectsFile, counts: Counts, *, seen: SeenKeys, dry_run: bool,
                 progress: Callable[[BackfillProgress], None] | None, now: datetime | None,
                 stop: threading.Event | None = None) -> None:
        self.opts = opts
        self.window = window
        self.inputs = inputs
        self.resolver = resolver
        self.outlet = outlet
        self.rejects = rejects
        self.counts = counts
        self.seen = seen
        self.dry_run = dry_run
        self.progress = progress
        self._stop = stop
        self.validator = ActionValidator(opts.timezone, now)
        self.builder = BatchBuilder(backfill=not opts.trigger_flows)
        self.started = time.monotonic()
        self.unlinked_ids: Counter = Counter()
        self.ambiguous_ids: Counter = Counter()
        self._keep_ids = opts.unlinked is not None
        self._link_cache: dict[str, Any] = {}
        self._last_tick = 0.0
        self._current: Source | None = None  # inputs are opened one at a time, as they are read
        self._bytes_done = 0
        # The holders of records read but not yet in a bucket (see held()).
        self._reading: list[Action] = []  # passed the filters, waiting for a full chunk
        self._checking: list[Action] = []  # a chunk being de-duplicated
        self._unhandled: list[Action] = []  # of the chunk being resolved, not yet batched
        self._stranded = 0  # events of batches the outlet did not take (the run was stopping)
        self._dedup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-dedup")

    def held(self) -> int:
        return (len(self._reading) + len(self._checking) + len(self._unhandled) + self.builder.held_events
                + self._stranded + self.outlet.held_events)

    def run(self) -> LinesyncError | None:
        stopped: LinesyncError | None = None
        try:
            try:
                self._pump()
                self.outlet.drain(self._tick)
            except LinesyncError as exc:  # e.g. the linkage lost its API access
                stopped = exc
                self.outlet.drain(self._tick)
            except KeyboardInterrupt:
                stopped = Interrupted("interrupted (dry run: nothing was sent)") if self.dry_run else Interrupted(
                    "interrupted; progress is saved", hint="run the same command again to continue where it stopped")
                try:
                    self.outlet.drain(self._tick)
                except KeyboardInterrupt:
                    pass
            error = self.outlet.error
            if stopped is None and error is not None:
                if not isinstance(error, LinesyncError):
                    raise error
                stopped = error
        finally:
            self._dedup.shutdown(wait=True)
            if self._current is not None:
                self._current.close()
            self.outlet.close()
        return stopped

    def _chunks(self) -> Iterator[tuple[list[Action | Reject | Skip], bool]]:
        for checked in self.inputs:
            source = self._current = open_source(checked.name, self.opts.encoding)
            try:
                yield from read_chunks(source, self.validator, self.opts.input_format)
            finally:
                source.close()
            self._bytes_done += checked.size or 0

    def _pump(self) -> None:
        opts, counts = self.opts, self.counts
        since_s, until_s = self.window.bounds()
        only = set(opts.only)
        limit = opts.limit
        taken = 0
        rejects = self.rejects
        first_seen = self.seen.first_seen
        # Duplicates are looked up in SQLite on a helper thread (SQLite works without
        # the GIL) while the next chunk is read; chunks are still handled in order.
        checking: Future | None = None

        def hand_over() -> bool:
            """The previous chunk on to resolving and batching; CHUNK of the actions read to the duplicate check."""
            nonlocal checking
            if checking is not None and not self._process(self._checking, checking.result()):
                return False
            reading = self._reading
            full, rest = (reading, []) if len(reading) == CHUNK else (reading[:CHUNK], reading[CHUNK:])
            self._checking, self._reading = full, rest
            checking = self._dedup.submit(first_seen, full)
            return True

        filtering = bool(only) or since_s is not None or until_s is not None
        # The common case, a chunk of actions with no filter or limit, is taken whole.
        whole = not filtering and limit is None
        for items, pure in self._chunks():
            if whole and pure:
                actions = cast("list[Action]", items)
                if self._reading:
                    self._reading.extend(actions)
                else:
                    self._reading = actions
                counts.read += len(items)
                while len(self._reading) >= CHUNK:
                    if not hand_over():
                        return
                self._safe_point()
                continue
            for item in items:
                counts.read += 1
                if type(item) is Action:
                    if filtering and ((only and item.action not in only)
                                      or (since_s is not None and item.epoch < since_s)
                                      or (until_s is not None and item.epoch >= until_s)):
                        counts.filtered += 1
                    else:
                        self._reading.append(item)
                        taken += 1
                        if len(self._reading) >= CHUNK and not hand_over():
                            return
                        if limit is not None and taken >= limit:
                            break
                elif type(item) is Reject:
                    counts.rejected += 1
                    rejects.write(item.to_json())
                elif type(item) is Skip:
                    counts.skipped[item.reason] += 1
                if not counts.read & 255:
                    self._safe_point()
            else:
                continue
            break  # --limit reached
        if checking is not None and not self._process(self._checking, checking.result()):
            return
        chunk = self._reading
        if chunk:
            self._checking, self._reading = chunk, []
            if not self._process(chunk, first_seen(chunk)):
                return
        last = self.builder.flush()
        if last is not None:
            self._dispatch(last)

    def _links(self, users: set[str]) -> dict[str, Any]:
        """LINE user ID -> profile ID, or UNLINKED / AMBIGUOUS, asking the resolver only about new IDs.

        The answers are kept for the run, up to LINK_CACHE IDs (then forgotten and asked
        again), so memory stays bounded however many users the input has.
        """
        cache = self._link_cache
        missing = sorted(users.difference(cache))
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
        fresh = chunk if all(first_seen) else list(compress(chunk, first_seen))
        # From here the chunk's records are either duplicates or held as unhandled.
        self._unhandled, self._checking = fresh, []
        counts.duplicates += len(chunk) - len(fresh)
        users = list(map(_line_user_id, fresh))
        links = self._links(set(users))
        targets = list(map(links.__getitem__, users))
        if UNLINKED not in targets and AMBIGUOUS not in targets:
            return self._batch_all(fresh, targets)
        add = self.builder.add
        keep_ids = self._keep_ids
        action: Action | None = None
        try:
            for action in fresh:
                target = links[action.line_user_id]
                if target is UNLINKED:
                    counts.unlinked += 1
                    if keep_ids:
                        self.unlinked_ids[action.line_user_id] += 1
                elif target is AMBIGUOUS:
                    counts.ambiguous += 1
                    if keep_ids:
                        self.ambiguous_ids[action.line_user_id] += 1
                else:
                    done, added = add(target, action)
                    if not added:
                        counts.duplicates += 1
                    if done is not None and not self._dispatch(done):
                        self._unhandled = _after(fresh, action)
                        return False
        except BaseException:
            self._unhandled = _after(fresh, action) if action is not None else fresh
            raise
        self._unhandled = []
        return True

    def _batch_all(self, fresh: list[Action], profile_ids: list[str]) -> bool:
        """_process when every action of the chunk is linked: the builder takes them in runs."""
        builder, counts = self.builder, self.counts
        at = 0
        while at < len(fresh):
            try:
                done, at, repeats = builder.add_run(profile_ids, fresh, at)
            except BaseException:
                self._unhandled = fresh[builder.stopped_at + 1:]
                raise
            counts.duplicates += repeats
            if done is not None:
                self._unhandled = fresh[at:]
                if not self._dispatch(done):
                    return False
        self._unhandled = []
        return True

    def _dispatch(self, batch: Batch) -> bool:
        """Hand one batch to the outlet. False when the run must stop (the batch stays pending)."""
        try:
            taken = self.outlet.dispatch(batch, self._safe_point)
        except BaseException:
            self._stranded += batch.events
            raise
        if not taken:
            self._stranded += batch.events
        return taken

    def _safe_point(self) -> None:
        """Where every record is in a bucket or a holder: a requested stop takes effect here."""
        if self._stop is not None and self._stop.is_set():
            raise KeyboardInterrupt
        self._tick()

    def _tick(self) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self._last_tick < PROGRESS_EVERY:
            return
        self._last_tick = now
        self.progress(self.snapshot())

    def snapshot(self) -> BackfillProgress:
        sizes = [i.size for i in self.inputs]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        current = self._current.position() if self._current is not None else 0
        return BackfillProgress(
            read=self.counts.read, sent=self.outlet.sent, in_flight=self.outlet.in_flight_events,
            bytes_read=self._bytes_done + current, bytes_total=total,
            elapsed=time.monotonic() - self.started, dry_run=self.dry_run,
        )


def _after(actions: list[Action], action: Action) -> list[Action]:
    """The actions after `action` (by identity): those the loop had not reached."""
    for i, a in enumerate(actions):
        if a is action:
            return actions[i + 1:]
    return actions


def write_unlinked(path: Path, unlinked: Counter, ambiguous: Counter) -> Path:
    """--unlinked FILE: each LINE user ID not sent, with its status and number of actions."""
    try:
        # Owner-only, like the state: the list is customers' LINE user IDs.
        with open_owner_only(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["line_user_id", "status", "actions"])
            for status, ids in (("unlinked", unlinked), ("ambiguous", ambiguous)):
                for user, n in sorted(ids.items(), key=lambda kv: (-kv[1], kv[0])):
                    writer.writerow([user, status, n])
    except OSError as exc:
        raise UsageError(f"cannot write --unlinked {path}: {exc.strerror or exc}") from None
    return path


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A run that sends nothing makes a few objects per record and frees them by reference
    counting, never in cycles; the cyclic collector's passes (every 700 allocations, over
    everything alive since start-up) are then pure cost: 10-15 % of a dry run's CPU. Measured
    with GC thresholds (50,000, 20, 10) and start-up's objects frozen out of the passes;
    restored after."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _seen_keys(state_dir: Path) -> SeenKeys:
    try:
        return SeenKeys(state_dir / "tmp")
    except OSError as exc:
        raise UsageError(f"cannot write temporary files in {state_dir}: {exc.strerror or exc}",
                         hint="check LINESYNC_STATE_DIR (or --state-dir) points at a writable directory") from None


DRY_RUN_REJECTS_KEPT = 20


def prune_dry_run_rejects(directory: Path, keep: int = DRY_RUN_REJECTS_KEPT) -> None:
    """Keep the newest `keep` dry-run rejects files: every new set of inputs or options makes one
    (its name carries the run's fingerprint), and nothing else would ever remove them. A real
    run's rejects (run-N.jsonl) belong to its ledger entry and stay."""
    try:
        files = sorted(directory.glob("dry-run-*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # tidying is a courtesy; the run's result stands


def run_backfill(opts: BackfillOptions, resolver: Resolver, *, sink: Sink, state_dir: Path,
                 inputs: tuple[InputFile, ...] | None = None, progress: Callable[[BackfillProgress], None] | None = None,
                 stop: threading.Event | None = None, now: datetime | None = None) -> BackfillResult:
    """Run (or resume) a backfill into `sink`. Stopping errors come back in `result.stopped_by`.

    `inputs` are the checked inputs when the caller checked them already (check_inputs
    of `opts.inputs`, to fail before anything else); otherwise they are checked here.
    Setting `stop` interrupts the run at the next point where the books are whole
    (the command sets it on Ctrl-C); a KeyboardInterrupt also stops it, wherever it
    lands, so `pending` may then be off by the record in hand.
    Raises only usage errors (exit 2), before anything is sent.
    """
    inputs = check_inputs(opts.inputs) if inputs is None else inputs
    started = time.monotonic()
    fingerprint = run_fingerprint(opts, inputs, resolver.identity, sink.identity)
    counts = Counts()
    recorded: RecordedRun | None = None
    if sink.delivers:
        recorded = RecordedRun.open(Ledger(state_dir), fingerprint, inputs, opts, resolver.identity)
        default_rejects = state_dir / "rejects" / f"run-{recorded.id}.jsonl"
    else:
        default_rejects = state_dir / "rejects" / f"dry-run-{fingerprint[:12]}.jsonl"
    try:
        rejects = RejectsFile(opts.rejects or default_rejects)
        sink.open()
        seen = _seen_keys(state_dir)
    except BaseException:
        if recorded is not None:
            recorded.ledger.close()
        raise
    try:
        outlet: Outlet = (LedgerOutlet(sink, recorded, counts, rejects, opts.workers) if recorded is not None
                          else DryRunOutlet(sink, counts))
        pipeline = Pipeline(opts, recorded.window if recorded else opts.window, inputs, resolver, outlet, rejects,
                            counts, seen=seen, dry_run=not sink.delivers, progress=progress, now=now, stop=stop)
        # Only while nothing is sent: a sending run is paced by Klaviyo, not by its CPU, and
        # anything of the HTTP path caught in a cycle (httpx's responses were, each holding its
        # body: 450 MB at 1.5M events) would wait for a collection.
        with _fewer_collections() if not sink.delivers else nullcontext():
            stopped = pipeline.run()
    except BaseException:
        if recorded is not None:
            recorded.ledger.close()
        raise
    finally:
        seen.close()
        rejects.close()
    counts.pending = pipeline.held()
    status = COMPLETE if stopped is None else (INTERRUPTED if isinstance(stopped, Interrupted) else STOPPED)
    unlinked_path = (write_unlinked(opts.unlinked, pipeline.unlinked_ids, pipeline.ambiguous_ids)
                     if opts.unlinked is not None else None)
    if recorded is not None:
        recorded.ledger.finish(recorded.id, status, counts.to_json())
        recorded.ledger.close()
    else:
        prune_dry_run_rejects(default_rejects.parent)
    return BackfillResult(
        counts=counts, dry_run=not sink.delivers, run_id=recorded.id if recorded else None,
        resumed=recorded.resumed if recorded else False, status=status,
        rejects_path=rejects.path if rejects.written else None, unlinked_path=unlinked_path,
        out_dir=sink.out_dir if isinstance(sink, DryRunSink) else None, elapsed=time.monotonic() - started,
        resolver=resolver.description, stopped_by=stopped,
    )
