"""Sending batches: a few worker threads, and what to do when Klaviyo says 400.

Pacing and retries of 429/5xx/timeouts/dropped connections live in the client
(`api/http.py`, `api/ratelimit.py`); resending is safe because every event has a
deterministic `unique_id`. Several workers keep requests in flight so that a
request's latency does not cap throughput below the rate limit.

A 400 rejects the whole request. When its errors point at entries
(`/data/attributes/events-bulk-create/data/<i>[/attributes/events/data/<j>]`),
just those events are refused and the rest is sent again; with no usable pointer
the batch is split in halves until the bad events are alone, within a budget of
extra requests so that a request-wide problem does not cost thousands of calls.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from linesync_cli.core.backfill.batching import Batch
from linesync_cli.core.backfill.records import Action
from linesync_cli.errors import ApiError, BadRequest

POINTER = re.compile(r"^/data/attributes/events-bulk-create/data/(\d+)(?:/attributes/events/data/(\d+))?(?:/|$)")
# Extra requests one batch may spend isolating bad events without pointers: enough
# to isolate a few bad events among 1,000 (about 20 requests each).
BISECT_BUDGET = 64
# A batch at least this big refused whole, with no pointer, stops the run (see deliver).
REQUEST_WIDE_MIN = 8


class RequestRefused(ApiError):
    """Klaviyo refused a whole batch without saying which events: the run stops (exit 1)."""

    code = "request-refused"


@dataclass
class Delivery:
    sent: int = 0
    refused: list[tuple[Action, str]] = field(default_factory=list)
    requests: int = 0


def _error_text(err: dict[str, Any]) -> str:
    title = str(err.get("title") or "").strip()
    detail = str(err.get("detail") or "").strip()
    said = f"{title}: {detail}" if title and detail and detail != title else (title or detail or "no detail")
    return said[:500]


def deliver(post: Callable[[bytes], None], batch: Batch, body: bytes | None = None) -> Delivery:
    """Send one batch; return how many events were accepted and which were refused (and why).

    Raises the client's typed errors for anything but a 400 (auth, unavailable), and
    RequestRefused when a sizeable batch is refused whole without a single pointer:
    that is a problem with the request, not with records, and the run must stop
    rather than mark every following batch as failed.
    """
    result = Delivery()
    todo: list[tuple[Batch, bytes | None]] = [(batch, body)]
    extra = 0
    pointed = False
    last_error: BadRequest | None = None
    while todo:
        current, encoded = todo.pop()
        result.requests += 1
        try:
            post(encoded if encoded is not None else current.body())
        except BadRequest as exc:
            last_error = exc
            located = current.located()
            hit: dict[int, str] = {}
            for err in exc.errors:
                source = err.get("source")
                if not isinstance(source, dict):
                    source = {}
                m = POINTER.match(str(source.get("pointer") or ""))
                if not m:
                    continue
                entry, event = int(m.group(1)), m.group(2)
                for i, j, action in located:
                    if i == entry and (event is None or j == int(event)):
                        hit[id(action)] = f"Klaviyo refused the event: {_error_text(err)}"
            if hit:
                pointed = True
                result.refused += [(a, hit[id(a)]) for _, _, a in located if id(a) in hit]
                rest = current.subset({id(a) for _, _, a in located if id(a) not in hit})
                if rest.events:
                    todo.append((rest, None))
                continue
            reason = f"Klaviyo refused the request: {exc.message}"
            if current.events == 1 or extra >= BISECT_BUDGET:
                result.refused += [(a, reason) for _, _, a in located]
                continue
            half = current.events // 2
            ids = [id(a) for _, _, a in located]
            extra += 2
            todo.append((current.subset(set(ids[half:])), None))
            todo.append((current.subset(set(ids[:half])), None))
        else:
            result.sent += current.events
    if not result.sent and not pointed and last_error is not None and batch.events >= REQUEST_WIDE_MIN:
        raise RequestRefused(
            f"Klaviyo refused all {batch.events:,} events of batch {batch.seq} without pointing at any "
            f"({last_error.message}); this looks like a problem with the request, not with the records",
            hint="the batch is not recorded as sent; run with --verbose, and report it if it persists",
            status=last_error.status, errors=last_error.errors,
        )
    return result


class Sender:
    """A small pool of workers, with a bound on batches in flight (memory stays flat)."""

    def __init__(self, post: Callable[[bytes], None], workers: int,
                 on_done: Callable[[Batch, str, Delivery], None], in_flight: Callable[[], int] | None = None) -> None:
        """`workers` threads at most; `in_flight`, when given, says how many batches to have
        in flight right now (the client sizes it from the rate limit and the latency)."""
        self._post = post
        self._in_flight_wanted = in_flight
        self._sending = 0
        self._room = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill-send")
        self._slots = threading.Semaphore(workers * 2)
        self._on_done = on_done
        self._in_flight: set[Future] = set()
        self._lock = threading.Lock()
        # The first error a worker met (typed LinesyncError, or a bug): the run stops on it.
        self.error: Exception | None = None
        self.in_flight_events = 0
        # Events of batches whose delivery raised: neither sent nor refused (pending).
        self.undelivered_events = 0

    def submit(self, batch: Batch, body: bytes, key: str, wait_tick: Callable[[], None]) -> bool:
        """Queue a batch once a slot is free; False when a worker already hit a stopping error."""
        while not self._slots.acquire(timeout=0.2):
            wait_tick()
        if self._in_flight_wanted is not None:
            # As many in flight as the rate limit times the latency needs, not all the workers:
            # more would only wait for the limiter, each holding a body.
            while True:
                with self._room:
                    if self._sending < max(1, self._in_flight_wanted()) or self.error is not None:
                        self._sending += 1
                        break
                    woke = self._room.wait(timeout=0.2)
                if not woke:
                    wait_tick()
        if self.error is not None:
            self._done_sending()
            self._slots.release()
            return False
        with self._lock:
            self.in_flight_events += batch.events
        future = self._pool.submit(self._work, batch, body, key)
        with self._lock:
            self._in_flight.add(future)
        return True

    def _work(self, batch: Batch, body: bytes, key: str) -> None:
        try:
            delivery = deliver(self._post, batch, body)
            self._on_done(batch, key, delivery)
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, which stops the run
            with self._lock:
                self.undelivered_events += batch.events
                if self.error is None:
                    self.error = exc
        finally:
            with self._lock:
                self.in_flight_events -= batch.events
                self._in_flight = {f for f in self._in_flight if not f.done()}
            self._done_sending()
            self._slots.release()

    def _done_sending(self) -> None:
        if self._in_flight_wanted is not None:
            with self._room:
                self._sending -= 1
                self._room.notify()

    def drain(self, wait_tick: Callable[[], None]) -> None:
        """Wait for every batch in flight (their results are recorded as they land)."""
        while True:
            with self._lock:
                busy = [f for f in self._in_flight if not f.done()]
            if not busy:
                return
            for f in busy:
                try:
                    f.result(timeout=0.2)
                except TimeoutError:
                    break
                except Exception:  # noqa: BLE001, S110 - _work keeps errors in self.error
                    pass
            wait_tick()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
