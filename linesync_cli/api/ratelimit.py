"""Client-side pacing for Klaviyo's fixed rate-limit windows (burst 1 s, steady 60 s).

Two ways to pace, per operation:

- **The steady window as the server counts it**, once a response has carried
  `RateLimit-Remaining` and `RateLimit-Reset` (Klaviyo sends them on every non-429
  answer, for the steady window). The limiter then knows the budget left in the
  current window and when the next one opens, sends exactly that budget, and
  spends the next window from the instant it opens. This is what fills fixed
  windows: a sliding log can only send a request a whole window after the one
  `limit` places back, so after a short first window it idles most of the next.
- **A sliding log** of send times, for every window whose state the server does
  not state (the burst window always, the steady one until headers arrive or when
  a server sends none): every interval of length w holds at most N requests, which
  implies every fixed window on the server holds at most N as well.

Limits start from the spec's `x-klaviyo-ratelimit` values and follow the
`RateLimit-Limit` header when the server states its own (e.g. `10, 10;w=1, 150;w=60`).

Budget accounting with requests in flight: the server's count grows as our
requests arrive, and a response can come back after later requests were counted.
The smallest `Remaining` seen in the window is the freshest count; every request
that has been answered is in it (a request counted later would have reported a
smaller number), and a request still in flight may or may not be. Counting every
request in flight as not yet counted gives `budget = min Remaining - in flight`,
which never overfills the window and is exact as soon as the answers are in.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# Sent times are taken before the request leaves; the server counts arrivals. A
# margin on each window paced by the sliding log absorbs the jitter between the
# two: 4 %, and never less than MIN_MARGIN_SECONDS. On the 1 s burst window that
# margin is paid on every burst second, so it sets how fast a steady window's budget
# is spent: it starts small, and each 429 from a full burst window (the jitter was
# larger) widens it by MIN_MARGIN_SECONDS, up to MAX_MARGIN_SECONDS, for the rest of
# the run. A burst 429 costs a retry a moment later; a wider margin costs every
# burst second from then on, so it grows only as far as the jitter shows it must.
WINDOW_MARGIN = 0.04
MIN_MARGIN_SECONDS = 0.05
MAX_MARGIN_SECONDS = 0.25
# After the steady window rolls, its first requests wait this long past our estimate
# of the reset (an upper bound already): a clock step between us and the server.
RESET_MARGIN_SECONDS = 0.02


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


def parse_ratelimit_limit(header: str) -> list[Window]:
    """Parse `10, 10;w=1, 150;w=60` (IETF draft structured form) into windows.

    A bare integer with no `;w=` pairs gives no windows: it says nothing about length.
    """
    windows = []
    for part in header.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*;\s*w\s*=\s*(\d+(?:\.\d+)?)\s*", part)
        if m and int(m.group(1)) > 0 and float(m.group(2)) > 0:
            windows.append(Window(int(m.group(1)), float(m.group(2))))
    return windows


class Slot:
    """One request's place in the pacing: taken by acquire(), handed back by settle()."""

    __slots__ = ("sent", "waited", "settled")

    def __init__(self, sent: float, waited: float) -> None:
        self.sent = sent
        self.waited = waited  # seconds acquire() waited for it
        self.settled = False


class WindowLimiter:
    """Thread-safe pacing over one or more (limit, seconds) windows."""

    def __init__(
        self,
        windows: list[Window],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        # Real time: a thread waiting for budget wakes when an answer frees some.
        # Injected sleep (tests' fake clocks): plain sleeps, so time only moves there.
        self._wake = threading.Condition(self._lock) if sleep is time.sleep else None
        self._clock = clock
        self._sleep = sleep
        self._windows = list(windows)
        self._sent: deque[float] = deque(maxlen=max((w.limit for w in windows), default=1))
        self._blocked_until = 0.0
        self._margin = MIN_MARGIN_SECONDS  # widened by burst-window 429s
        self._in_flight = 0
        # The steady window as the server states it; None until a response says.
        self._window_end: float | None = None  # upper bound of when it resets, our clock
        self._remaining = 0  # smallest RateLimit-Remaining seen in it

    @property
    def windows(self) -> list[Window]:
        return list(self._windows)

    @property
    def steady(self) -> Window | None:
        """The longest window: the one `RateLimit-Remaining`/`-Reset` describe."""
        return max(self._windows, key=lambda w: w.seconds, default=None)

    @property
    def margin(self) -> float:
        """Seconds added to each window paced by the sliding log (at least 4 % of it)."""
        return self._margin

    @property
    def follows_server(self) -> bool:
        """True once the steady window is paced from the server's own counts."""
        return self._window_end is not None

    def set_windows(self, windows: list[Window]) -> None:
        if not windows or windows == self._windows:
            return
        with self._lock:
            self._windows = list(windows)
            self._sent = deque(self._sent, maxlen=max(w.limit for w in windows))

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends before this."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))

    # -- the steady window from the server's headers ----------------------------------------
    def _roll(self, now: float) -> None:
        """Move the known window forward when its reset has passed: a fresh budget."""
        steady = self.steady
        if self._window_end is None or steady is None or now < self._window_end:
            return
        periods = int((now - self._window_end) // steady.seconds) + 1
        self._window_end += periods * steady.seconds
        self._remaining = steady.limit

    def observe(self, slot: Slot | None, remaining: int, reset: float) -> None:
        """A non-429 answer said `remaining` requests are left and the window resets in `reset` s.

        Settles the slot (it was counted). The server counted the request between
        its sending and this answer, and Reset is in whole seconds rounded up, so the
        window this answer describes ends between `sent + reset - 1` and
        `now + reset`: the upper bound is when the next window surely is open
        (answers narrow it to the smallest), the lower one tells a late answer about
        a window that is over from one about the current window.
        """
        steady = self.steady
        with self._lock:
            self._settle(slot)
            if steady is None:
                return
            now = self._clock()
            reset = max(0.0, reset)
            latest, earliest = now + reset, (slot.sent if slot is not None else now) + reset - 1.0
            remaining = max(0, min(remaining, steady.limit))
            if self._window_end is None:
                self._window_end, self._remaining = latest, remaining
            else:
                self._roll(now)
                if earliest <= self._window_end - steady.seconds / 2:
                    pass  # counted in a window that is over: nothing to learn about this one
                elif earliest > self._window_end + steady.seconds / 2:
                    # Our estimate lags a whole window (a clock step, a long pause): start again from this answer.
                    self._window_end, self._remaining = latest, remaining
                else:
                    self._window_end = min(self._window_end, latest)
                    self._remaining = min(self._remaining, remaining)
            self._notify()

    def settle(self, slot: Slot | None) -> None:
        """The request is over and no answer stated the window (an error, a dropped connection).

        While we follow the server's window, assume the server counted it: the budget
        comes only from answers, so one that says nothing must not give budget back.
        """
        with self._lock:
            if slot is not None and not slot.settled and self._window_end is not None:
                self._roll(self._clock())
                self._remaining = max(0, self._remaining - 1)
            self._settle(slot)
            self._notify()

    def refused(self, slot: Slot | None, wait: float, available_in: float | None = None) -> None:
        """A 429 answered this request: nobody sends for `wait` s.

        `available_in` is what the server said (whole seconds, rounded down, as in
        Klaviyo's "Expected available in N seconds"); 1 or more means the steady
        window is full, 0 the burst one. The server did not count the request. When
        we follow the server's steady window, a full one is spent to the end (the
        budget was shared with another client, or we started in a window already
        used): nothing more is sent in it, and sending starts again the instant it
        resets, not a window later.
        """
        steady = self.steady
        with self._lock:
            if slot is not None and not slot.settled:
                # Not counted by the server, so not by us either: a refused request
                # logged as sent would leave its place in the window unused, and on a
                # run a few windows long push the last requests into one more window.
                try:
                    self._sent.remove(slot.sent)
                except ValueError:
                    pass  # already pushed out of the log
            self._settle(slot)
            now = self._clock()
            self._blocked_until = max(self._blocked_until, now + max(0.0, wait))
            if available_in is not None and available_in < 1:
                self._margin = min(MAX_MARGIN_SECONDS, self._margin + MIN_MARGIN_SECONDS)
            if self._window_end is not None and steady is not None and available_in is not None and available_in >= 1:
                self._roll(now)
                if now + available_in > self._window_end:
                    # The server resets later than our bound said: trust the server.
                    self._window_end = now + available_in + 1.0
                self._remaining = 0
            elif self._window_end is None and available_in is not None and available_in >= 1:
                # Paced by the sliding log, whose entries now belong to a window that
                # is over once the wait is: keep only the requests still in flight
                # (they may yet be counted in the next one), so the next window is not
                # waited for a second time.
                keep = list(self._sent)[-self._in_flight:] if self._in_flight else []
                self._sent = deque(keep, maxlen=self._sent.maxlen)
            self._notify()

    def _settle(self, slot: Slot | None) -> None:
        if slot is not None and not slot.settled:
            slot.settled = True
            self._in_flight -= 1

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.notify_all()

    # -- acquiring a slot ---------------------------------------------------------------
    def _delay(self, now: float) -> float:
        delay = max(0.0, self._blocked_until - now)
        sent = list(self._sent)
        steady = self.steady
        follows = self._window_end is not None
        for w in self._windows:
            if follows and w is steady:
                continue
            if len(sent) >= w.limit:
                # The request `limit` places back must be at least a window old.
                oldest = sent[-w.limit]
                margin = max(w.seconds * WINDOW_MARGIN, self._margin)
                delay = max(delay, oldest + w.seconds + margin - now)
        if follows and steady is not None:
            self._roll(now)
            assert self._window_end is not None
            if self._remaining - self._in_flight <= 0:
                # No budget left in this window: wait for its reset (or for an answer,
                # which may show a request in flight was counted in the window before).
                delay = max(delay, self._window_end - now + RESET_MARGIN_SECONDS)
        return delay

    def acquire(self) -> Slot:
        """Wait for a slot and take it. Hand it back with observe(), refused() or settle()."""
        started = self._clock()
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._sent.append(now)
                    self._in_flight += 1
                    return Slot(now, now - started)
                if self._wake is not None:
                    self._wake.wait(delay)
                    continue
            self._sleep(delay)
