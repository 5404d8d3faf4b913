"""`events pull`: read the metrics' events from Klaviyo into the mirror.

A pull works out, per metric, what the mirror lacks in the asked range (never read,
or interrupted), plus a trailing window it re-reads (`overlap`, default 3 days)
because events arrive with old times (a backfill writes last year's events today).
The ranges are cut into slices that several readers page through at once, so the
pull is bound by Get Events' steady limit (3,500 requests a minute) rather than by
one request's latency. One writer (the calling thread) stores each page with its
slice's resume point in one transaction.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from linesync_cli.core.events.mirror import Mirror, Slice
from linesync_cli.errors import CursorRefused, Interrupted, LinesyncError, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.klaviyo_records import ReadEvent

DEFAULT_OVERLAP = timedelta(days=3)
DEFAULT_READERS = 8
# Pages written in one transaction when several are waiting (a statement costs more than its rows).
PAGES_PER_WRITE = 8
# Slices shorter than this are not cut further: each costs at least one request.
MIN_SLICE = timedelta(hours=1)
# Klaviyo accepts event times from 2000 on (fact sheet section 7), up to a year ahead.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=366)


@dataclass(frozen=True)
class MetricRef:
    key: str  # stable name in the mirror: sent, delivered, ..., email_opened
    id: str  # Klaviyo metric id
    name: str  # Klaviyo event name


@dataclass(frozen=True)
class PullOptions:
    since: datetime
    until: datetime
    metrics: tuple[MetricRef, ...]
    overlap: timedelta = DEFAULT_OVERLAP
    full: bool = False
    readers: int = DEFAULT_READERS
    # Ranges read before this time count as unread (verify: read after the run's events settled).
    fresh_after: datetime | None = None

    def __post_init__(self) -> None:
        check_range(self.since, self.until)
        if self.overlap < timedelta(0):
            raise UsageError("--overlap cannot be negative", hint="e.g. --overlap 3d, or --overlap 0d for none")


def check_range(since: datetime, until: datetime) -> None:
    if since >= until:
        raise UsageError("--since must be before --until", hint="e.g. --since 30d, or --since 2026-10-01 --until 2026-11-01")
    if since < EARLIEST:
        raise UsageError(f"--since {since.date().isoformat()} is before 2000-01-01; Klaviyo holds no events before "
                         "that", hint="use --since 2000-01-01 or later")
    if until > datetime.now(UTC) + LATEST_AHEAD:
        raise UsageError(f"--until {until.date().isoformat()} is more than a year ahead; Klaviyo holds no events "
                         "that far in the future", hint="leave --until out to read up to now")


@dataclass
class PullProgress:
    events: int
    pages: int
    slices_done: int
    slices_total: int
    elapsed: float


@dataclass
class MetricPulled:
    metric: MetricRef
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)  # read this time
    events: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric.key, "event": self.metric.name, "metric_id": self.metric.id,
                "events_read": self.events,
                "ranges": [{"since": lo.isoformat(), "until": hi.isoformat()} for lo, hi in self.ranges]}


@dataclass
class PullResult:
    since: datetime
    until: datetime
    metrics: list[MetricPulled]
    events_read: int
    events_new: int
    requests: int
    elapsed: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "events_read": self.events_read,
                "events_new": self.events_new, "requests": self.requests, "elapsed_seconds": round(self.elapsed, 3),
                "metrics": [m.to_json() for m in self.metrics], "notes": self.notes}


Range = tuple[datetime, datetime]


def _merge(ranges: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(ranges: Sequence[Range], cuts: Sequence[Range]) -> list[Range]:
    out = list(_merge(ranges))
    for clo, chi in _merge(cuts):
        nxt: list[Range] = []
        for lo, hi in out:
            if chi <= lo or clo >= hi:
                nxt.append((lo, hi))
                continue
            if lo < clo:
                nxt.append((lo, clo))
            if chi < hi:
                nxt.append((chi, hi))
        out = nxt
    return out


def plan_ranges(opts: PullOptions, metric: MetricRef, covered: Sequence[Range], pending: Sequence[Range]) -> list[Range]:
    """What to read of one metric: the asked range less what is stored or under way, plus the overlap."""
    wanted = [(opts.since, opts.until)]
    if opts.full:
        return wanted
    gaps = _subtract(wanted, list(covered) + list(pending))
    if covered and opts.overlap > timedelta(0):
        frontier = max(hi for _, hi in covered)
        tail = (max(opts.since, frontier - opts.overlap), min(opts.until, frontier))
        gaps += _subtract([tail], pending)
    return _merge(gaps)


def cut_slices(ranges: Sequence[Range], pieces: int) -> list[Range]:
    """About `pieces` slices of equal length over the ranges, none shorter than MIN_SLICE."""
    total = sum(((hi - lo) for lo, hi in ranges), timedelta(0))
    if not ranges or total <= timedelta(0):
        return []
    step = max(MIN_SLICE, total / max(1, pieces))
    out: list[Range] = []
    for lo, hi in ranges:
        at = lo
        while at < hi:
            end = min(hi, at + step)
            if hi - end < step / 4:  # no sliver at the end
                end = hi
            out.append((at, end))
            at = end
    return out


class _Stop(Exception):
    pass


def run_pull(client: KlaviyoClient, mirror: Mirror, opts: PullOptions,
             progress: Callable[[PullProgress], None] | None = None) -> PullResult:
    """Read what the mirror lacks; stored pages stay stored whatever stops the pull."""
    started = time.monotonic()
    by_id = {m.id: m for m in opts.metrics}
    pulled = {m.id: MetricPulled(m) for m in opts.metrics}
    pending = [s for s in mirror.pending_slices() if s.metric_id in by_id]
    if opts.full:
        # A rebuild starts its ranges over; slices of an earlier pull inside them go.
        mirror.drop_slices([s.id for s in pending])
        pending = []
    planned: list[tuple[str, str, datetime, datetime, bool]] = []
    for metric in opts.metrics:
        covered = [(c.since, c.until) for c in mirror.coverage(metric.id)
                   if opts.fresh_after is None or c.pulled_at >= opts.fresh_after]
        mine = [(s.since, s.until) for s in pending if s.metric_id == metric.id]
        ranges = plan_ranges(opts, metric, covered, mine)
        if opts.full:
            mirror.forget_coverage(metric.id, opts.since, opts.until)
        pulled[metric.id].ranges = _merge(ranges + mine)
        planned += [(metric.id, metric.key, lo, hi, opts.full) for lo, hi in cut_slices(ranges, opts.readers)]
    if planned:
        mirror.add_slices(planned)
    slices = [s for s in mirror.pending_slices() if s.metric_id in by_id]
    before = mirror.scalar("SELECT count(*) FROM events")
    requests_before = client.stats["requests"]
    result = PullResult(opts.since, opts.until, list(pulled.values()), 0, 0, 0, 0.0)

    def counted(s: Slice, n: int) -> None:
        pulled[s.metric_id].events += n

    try:
        result.events_read, result.notes = read_into_mirror(client, mirror, slices, opts.readers, progress,
                                                            on_page=counted)
    finally:
        result.events_new = mirror.scalar("SELECT count(*) FROM events") - before
        result.requests = client.stats["requests"] - requests_before
        result.elapsed = time.monotonic() - started
    return result


def read_into_mirror(client: KlaviyoClient, mirror: Mirror, slices: Iterable[Slice], readers: int,
                     progress: Callable[[PullProgress], None] | None = None,
                     on_page: Callable[[Slice, int], None] | None = None,
                     total: int | None = None) -> tuple[int, list[str]]:
    """Page through the slices with parallel readers, storing each page as it comes.

    Slices with a profile_id (backfill verify's profile reads) store events only; the
    others also keep their resume point and, when done, the range they covered.
    Returns the events read and any notes; raises Interrupted or the readers' error,
    with every page stored before it kept.
    """
    def store(reader: _Readers, pages: list[tuple[Slice, Any, datetime | None]]) -> list[int]:
        counts = mirror.store_pages([(s, page.body, page.next_cursor, read_from) for s, page, read_from in pages])
        for (s, _, _), (n, newest) in zip(pages, counts, strict=True):
            if newest is not None:
                reader.stored_up_to(s, newest)
            if on_page is not None:
                on_page(s, n)
        return [n for n, _ in counts]

    return _read_pages(client, slices, readers, store, progress, total, keeps=True)


def read_events(client: KlaviyoClient, slices: Iterable[Slice], readers: int,
                on_pages: Callable[[list[tuple[Slice, Sequence[ReadEvent]]]], None],
                progress: Callable[[PullProgress], None] | None = None,
                total: int | None = None) -> tuple[int, list[str]]:
    """Page through the slices like read_into_mirror, handing the pages to `on_pages` instead of
    storing them: backfill verify keeps only the keys it matches on, in its own file, so a
    read-back of millions neither grows the mirror nor its index. Nothing here resumes: verify
    reads its ranges whole every time. Returns the events read and any notes."""
    def hand_over(_: _Readers, pages: list[tuple[Slice, Any, datetime | None]]) -> list[int]:
        read = [(s, _page_events(s, page)) for s, page, _ in pages]
        on_pages(read)
        return [len(page_events) for _, page_events in read]

    return _read_pages(client, slices, readers, hand_over, progress, total, keeps=False)


def _read_pages(client: KlaviyoClient, slices: Iterable[Slice], readers: int,
                sink: Callable[[_Readers, list[tuple[Slice, Any, datetime | None]]], list[int]],
                progress: Callable[[PullProgress], None] | None, total: int | None,
                *, keeps: bool) -> tuple[int, list[str]]:
    """The readers' loop: each batch of pages (slice, page, read_from) goes to `sink`, which
    returns each page's event count. `keeps`: whether what the sink took outlasts a stop (the
    mirror's pages do; verify discards its partial read), which is what a stop's message says.
    The progress callback ticks at most every 0.2 s, and once at the end."""
    started = time.monotonic()
    if total is None and isinstance(slices, Sequence):
        total = len(slices)
    reader = _Readers(client, slices, max(1, readers), total)
    done = pages = events = 0
    notes: list[str] = []
    last_tick = 0.0
    stopped = False
    try:
        for batch in reader.batches(PAGES_PER_WRITE):
            read = [(s, page, read_from) for kind, s, page, read_from in batch if kind == "page"]
            notes += [payload for kind, _, payload, _ in batch if kind == "note"]
            if read:
                events += sum(sink(reader, read))
                pages += len(read)
                done += sum(page.next_cursor is None for _, page, _ in read)
            now = time.monotonic()
            if progress is not None and now - last_tick >= 0.2:
                last_tick = now
                progress(PullProgress(events, pages, done, total or 0, now - started))
    except KeyboardInterrupt:
        if not keeps:
            raise Interrupted("interrupted; nothing was changed", hint="run the same command again") from None
        stopped = True
    finally:
        reader.stop()
    if progress is not None:
        progress(PullProgress(events, pages, done, total or 0, time.monotonic() - started))
    if stopped:
        raise Interrupted(f"interrupted; the {events:,} events read so far are kept",
                          hint="run the same command again to continue where it stopped")
    if reader.error is not None:
        error = reader.error
        if keeps and isinstance(error, LinesyncError):
            error.message = f"{error.message} (the {events:,} events read before are kept)"
            if not error.hint:
                error.hint = "run the same command again to continue where it stopped"
        raise error
    return events, notes


def _page_events(s: Slice, page: Any) -> Sequence[ReadEvent]:
    """A page's events as records (the readers fetch raw pages, which the mirror parses in bulk)."""
    import json

    from linesync_cli.api.klaviyo_records import RawEventPage, parse_read_page

    if isinstance(page, RawEventPage):
        return parse_read_page(json.loads(page.body), s.metric_id, page.page_size).events
    return page.events


class _Readers:
    """Reader threads paging through slices; pages come back in a bounded queue (flat memory).

    `slices` may be a lazy iterator (backfill verify's millions of profiles): readers take
    the next one under a lock, so only the slices being read are in memory.
    """

    def __init__(self, client: KlaviyoClient, slices: Iterable[Slice], count: int, total: int | None = None) -> None:
        self.client = client
        self.error: BaseException | None = None
        self._todo: Iterator[Slice] = iter(slices)
        self._todo_lock = threading.Lock()
        self._out: queue.Queue = queue.Queue(maxsize=count * 2)
        self._stop = threading.Event()
        if total is None and isinstance(slices, Sequence):
            total = len(slices)
        self._threads = [threading.Thread(target=self._work, name=f"events-reader-{i}", daemon=True)
                         for i in range(min(count, total) if total is not None else count)]
        self._alive = len(self._threads)
        self._lock = threading.Lock()
        # Newest event time the writer stored per slice being read (bounded by the readers).
        self._newest: dict[Slice, datetime | None] = {}
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()

    def _put(self, item: tuple) -> None:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stop

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                with self._todo_lock:
                    s = next(self._todo, None)
                if s is None:
                    return
                self._read(s)
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread
            if not self._stop.is_set():
                self.error = exc
            self._stop.set()
        finally:
            with self._lock:
                self._alive -= 1
            try:
                self._out.put_nowait(("exit", None, None, None))
            except queue.Full:
                pass

    def stored_up_to(self, s: Slice, newest: datetime) -> None:
        """The writer stored `s`'s events up to `newest`: where a refused cursor resumes."""
        with self._lock:
            if s in self._newest:  # only slices still being read: a finished one needs none
                known = self._newest[s]
                self._newest[s] = newest if known is None else max(known, newest)

    def _read(self, s: Slice) -> None:
        cursor = s.cursor
        # A slice resumed without a cursor starts at its newest stored event (same-second
        # events are read again; the mirror keeps one row per event id).
        read_from = s.read_from or (s.last_time if cursor is None and s.last_time else None)
        with self._lock:
            self._newest[s] = None
        try:
            while not self._stop.is_set():
                try:
                    page = self.client.get_events_page_raw(s.metric_id, read_from or s.since, s.until, cursor=cursor,
                                                           profile_id=s.profile_id)
                except CursorRefused as exc:
                    cursor = None
                    with self._lock:
                        read_from = self._newest.get(s) or s.last_time or s.since
                    self._put(("note", s, f"{exc.message}; reading {s.metric} again from "
                                          f"{read_from.isoformat()} (nothing is stored twice)", None))
                    continue
                self._put(("page", s, page, read_from))
                if page.next_cursor is None:
                    return
                cursor = page.next_cursor
        finally:
            with self._lock:
                self._newest.pop(s, None)

    def results(self) -> Iterator[tuple]:
        while True:
            with self._lock:
                finished = self._alive == 0
            try:
                item = self._out.get(timeout=0.2)
            except queue.Empty:
                if finished:
                    return
                continue
            if item[0] == "exit":
                with self._lock:
                    if self._alive == 0 and self._out.empty():
                        return
                continue
            if self.error is not None:
                return
            yield item

    def batches(self, most: int) -> Iterator[list[tuple]]:
        """What the readers fetched, a few pages at a time: those already waiting join the next write."""
        for item in self.results():
            batch = [item]
            while len(batch) < most:
                try:
                    more = self._out.get_nowait()
                except queue.Empty:
                    break
                if more[0] != "exit":
                    batch.append(more)
            if self.error is not None:
                return
            yield batch


EMAIL_KEYS = ("email_received", "email_opened", "email_clicked")


def mirror_metrics(client: KlaviyoClient, names: Sequence[str] = (), *, compare_email: bool = False
                   ) -> tuple[tuple[MetricRef, ...], list[str]]:
    """The metrics a pull reads (the nine LINE ones, or those named; email ones with compare_email)
    and the names of the asked ones Klaviyo does not have yet."""
    from linesync_cli.catalogue import ACTIONS
    from linesync_cli.core.funnel import EMAIL_STEPS, known_metrics
    from linesync_cli.core.metrics import line_action

    keys = [line_action(n).key for n in names] if names else [a.key for a in ACTIONS]
    keys = list(dict.fromkeys(keys))
    if compare_email:
        keys += list(EMAIL_KEYS)
    known = known_metrics(client)
    names_by_key = {a.key: a.metric_name for a in ACTIONS} | {s.key: s.metric_name for s in EMAIL_STEPS}
    refs, missing = [], []
    for key in keys:
        metric = known.get(key)
        if metric is None:
            missing.append(names_by_key[key])
        else:
            refs.append(MetricRef(key, metric.id, metric.name))
    return tuple(refs), missing
