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

**Burst windows on the steady window's seconds**, once the answers place them. No
header describes the burst window, but a server that counts fixed windows from one
epoch (`floor(t / w)`, as the stand-in does; Klaviyo's alignment is not documented)
starts a burst window every whole second from the steady reset. Each answer bounds
that instant: counted `c`, answered `a = c + l` (the server's time after counting),
Reset ceiled, so `R + l` lies in `(a + Reset - 1, a + Reset]`; over a window's answers
the two ends close in (answers counted just after and just before a whole second).
A request sent at `s` is counted at `s + RTT - l`, so in send time the burst windows
start at `(R + l) - min RTT` + whole seconds, and so does the steady window itself: a
request sent then is counted after the reset as long as it spends no less time before
counting than the fastest one did. The client never needs to split the latency, only
`l` to be steady, which the answers check (where it varies, their bounds cross by
about its spread, and a spread too wide leaves the windows unplaced). Each burst
window then gets its 10 at its start, the steady window's first one included (not a
latency after its reset). A request sent until its deadline (the slow tail of recent
round trips still counted before it ends) counts in it; one sent later may be counted
in the next, so it counts in both, and goes while the window it is sent in has room
(a client with one request in flight is never held). That removes the sliding
log's margin (14 x 50 ms a steady window) and the opening's latency, and tolerates
counts most of a second late where the log tolerated 50 ms. If the alignment is wrong
(a burst 429 for a request sent this way), the limiter goes back to the sliding log,
and the opening to the reset's upper bound, for the rest of the run: a few 429s once.

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

import math
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
# Burst windows placed from the answers (see the module docstring). A send goes this long
# after a placed burst window's start, and leaves this long before its end: the spread of
# the server's time between counting and answering, which the placing assumes constant.
ALIGN_MARGIN_SECONDS = 0.03
# Answers whose round trips size a burst window's use (the fastest one places the windows,
# the median excess over it says how late in a window a request may still go). Not a high
# quantile: a loaded server answers late after counting on time, and p90 dropped the placing.
ALIGN_RTT_SAMPLES = 64
ALIGN_RTT_QUANTILE = 0.5
# Placed once the answers bound the windows' start to this share of a burst window, and
# leave at least this share of each for sending (kept while at least the second share is).
ALIGN_ENTER_UNKNOWN = 0.2
ALIGN_ENTER_USABLE = 0.3
ALIGN_KEEP_USABLE = 0.1
# Until the windows are placed, this many burst windows' requests are spread out (see _delay).
ALIGN_LEARNING_WINDOWS = 3
# Clocks drift: a bound on where the windows start loosens by this much a second of age.
ALIGN_DRIFT = 1e-4


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

    __slots__ = ("sent", "waited", "settled", "aligned")

    def __init__(self, sent: float, waited: float, aligned: bool = False) -> None:
        self.sent = sent
        self.waited = waited  # seconds acquire() waited for it
        self.settled = False
        self.aligned = aligned  # sent into a burst window placed from the answers


@dataclass(frozen=True)
class BurstSlot:
    """A burst window in send time: sends go from `start`; a send from `counts_from` on may be
    counted in it. That instant is the previous window's deadline (the slow tail of recent round
    trips still counted before that window ends): a send after it counts in both windows."""

    start: float
    counts_from: float


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
        # Burst windows placed from the answers: the lower bound of the reset as the answers
        # see it (`_window_end` is the upper one) and when it was last raised; recent round trips.
        self._answer_reset_lo: float | None = None
        self._answer_reset_lo_at = 0.0
        self._rtts: deque[float] = deque(maxlen=ALIGN_RTT_SAMPLES)
        self._rtt_min = 0.0
        self._rtt_excess = 0.0  # ALIGN_RTT_QUANTILE of recent round trips less the fastest
        self._align_failed = False  # a burst 429 for a request sent into a placed window
        self._reset_fractional = False  # a Reset with a fraction: exact, not rounded
        self._placed = False  # sending by placed burst windows (see _update_placed)
        self._learning_sends = 0  # sends spread out since headers came, while not placed

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
        if self._answer_reset_lo is not None:
            self._answer_reset_lo += periods * steady.seconds
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
            # The reset, as seen at answer time, is after this (a fractional Reset is exact).
            if reset != int(reset):
                self._reset_fractional = True
            answer_lo = now + reset - (0.0 if self._reset_fractional else 1.0)
            if slot is not None:
                self._observe_rtt(now - slot.sent)
            if self._window_end is None:
                self._window_end, self._remaining = latest, remaining
                self._answer_reset_lo, self._answer_reset_lo_at = answer_lo, now
            else:
                self._roll(now)
                if earliest <= self._window_end - steady.seconds / 2:
                    pass  # counted in a window that is over: nothing to learn about this one
                elif earliest > self._window_end + steady.seconds / 2:
                    # Our estimate lags a whole window (a clock step, a long pause): start again from this answer.
                    self._window_end, self._remaining = latest, remaining
                    self._answer_reset_lo, self._answer_reset_lo_at = answer_lo, now
                else:
                    self._window_end = min(self._window_end, latest)
                    self._remaining = min(self._remaining, remaining)
                    if self._answer_reset_lo is None or answer_lo > self._answer_reset_lo_now(now):
                        self._answer_reset_lo, self._answer_reset_lo_at = answer_lo, now
            self._update_placed(now)
            self._notify()

    def _observe_rtt(self, rtt: float) -> None:
        # The fastest round trip of the run, as `_window_end` is the earliest bound of the run: one
        # answer with a short server time sets both (a recent minimum would place windows early).
        self._rtt_min = rtt if not self._rtts else min(self._rtt_min, rtt)
        self._rtts.append(rtt)
        ordered = sorted(self._rtts)
        self._rtt_excess = ordered[min(len(ordered) - 1, int(len(ordered) * ALIGN_RTT_QUANTILE))] - self._rtt_min

    def _answer_reset_lo_now(self, now: float) -> float:
        assert self._answer_reset_lo is not None
        return self._answer_reset_lo - ALIGN_DRIFT * max(0.0, now - self._answer_reset_lo_at)

    @property
    def aligned(self) -> bool:
        """True while the burst windows are placed from the answers (sends go at their starts)."""
        with self._lock:
            return self._burst_slot(self._clock()) is not None

    def _placement(self, now: float) -> tuple[float, float, float, float] | None:
        """Where the answers put the burst windows: (upper and lower bound of the steady reset
        as seen at answer time, how much of a burst window that leaves for sending, its length)."""
        steady = self.steady
        if (self._align_failed or self._window_end is None or self._answer_reset_lo is None or steady is None
                or len(self._windows) < 2 or len(self._rtts) < 10):
            return None
        burst = min(self._windows, key=lambda w: w.seconds)
        periods = steady.seconds / burst.seconds
        if abs(periods - round(periods)) > 1e-9:
            return None  # burst windows cannot start on the steady window's seconds
        hi = self._window_end  # the reset as seen at answer time is at or before this...
        lo = self._answer_reset_lo_now(now)  # ... and after this
        # The bounds assume the server's time from counting to answering constant; where it varies
        # they cross (an exact Reset gives both from each answer: they always do), by about that
        # spread, which is then the uncertainty: the later one is when a burst window surely
        # started, the earlier one when it surely has not ended.
        hi, lo = max(hi, lo), min(hi, lo)
        usable = burst.seconds - (hi - lo) - self._rtt_excess - 2 * ALIGN_MARGIN_SECONDS
        return hi, lo, usable, burst.seconds

    def _update_placed(self, now: float) -> None:
        """Start placing burst windows once the answers bound them closely; stop when they no longer leave room."""
        placement = self._placement(now)
        if placement is None:
            self._placed = False
            return
        hi, lo, usable, width = placement
        if self._placed:
            self._placed = usable >= ALIGN_KEEP_USABLE * width
        else:
            self._placed = hi - lo <= ALIGN_ENTER_UNKNOWN * width and usable >= ALIGN_ENTER_USABLE * width

    def _burst_slot(self, now: float) -> BurstSlot | None:
        """The burst window `now` falls in, in send time, while the answers place the windows."""
        placement = self._placement(now) if self._placed else None
        if placement is None:
            return None
        hi, lo, usable, width = placement
        if usable < ALIGN_KEEP_USABLE * width:
            return None
        # In send time: a request goes one round trip (at least the fastest) before its answer.
        first = hi - self._rtt_min + ALIGN_MARGIN_SECONDS
        k = math.floor((now - first) / width + 1e-9)  # at a window's start exactly, that window
        start = first + k * width
        end = lo - self._rtt_min + (k + 1) * width  # the window surely lasts until here
        deadline = end - self._rtt_excess - ALIGN_MARGIN_SECONDS
        return BurstSlot(start, counts_from=deadline - width)

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
            if available_in is not None and available_in < 1 and slot is not None and slot.aligned:
                # Sent at a placed burst window's start and refused: the server's burst windows are
                # not where the answers put them. Back to the sliding log, for good.
                self._align_failed = True
                self._placed = False
            elif available_in is not None and available_in < 1:
                self._margin = min(MAX_MARGIN_SECONDS, self._margin + MIN_MARGIN_SECONDS)
            if self._window_end is not None and steady is not None and available_in is not None and available_in >= 1:
                self._roll(now)
                if now + available_in > self._window_end:
                    # The server resets later than our bound said: trust the server, and
                    # learn where its burst windows start again from the answers to come.
                    self._window_end = now + available_in + 1.0
                    self._answer_reset_lo = None
                self._remaining = 0
            elif self._window_end is None and available_in is not None and available_in >= 1:
                # Paced by the sliding log, whose entries now belong to a window that
                # is over once the wait is: keep only the requests still in flight
                # (they may yet be counted in the next one), so the next window is not
                # waited for a second time.
                keep = list(self._sent)[-self._in_flight:] if self._in_flight else []
                self._sent = deque(keep, maxlen=self._sent.maxlen)
            self._update_placed(now)
            self._notify()

    def _settle(self, slot: Slot | None) -> None:
        if slot is not None and not slot.settled:
            slot.settled = True
            self._in_flight -= 1

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.notify_all()

    # -- acquiring a slot ---------------------------------------------------------------
    def _delay(self, now: float) -> tuple[float, bool]:
        """Seconds to wait before the next send, and whether it goes into a placed burst window."""
        delay = max(0.0, self._blocked_until - now)
        sent = list(self._sent)
        steady = self.steady
        follows = self._window_end is not None
        if follows:
            self._roll(now)
        slot = self._burst_slot(now) if follows else None
        if slot is not None:
            # Placed, the steady window opens in send time as its first burst window does: one
            # fastest round trip before the reset's upper bound at answer time (see opening()).
            self._roll(now + self._rtt_min - ALIGN_MARGIN_SECONDS)
        burst = min(self._windows, key=lambda w: w.seconds, default=None)
        if slot is not None and burst is not None:
            # A send past the deadline may be counted in the next window instead: it is charged
            # to both (the next one counts from this deadline), so it needs room in this one
            # only. It used to wait for the next start, which idled a client that sends one
            # request at a time for the last part of every burst window it never fills.
            if sum(1 for t in sent[-burst.limit:] if t >= slot.counts_from) >= burst.limit:
                delay = max(delay, slot.start + burst.seconds - now)
        elif (follows and burst is not None and sent and not self._align_failed
              and self._learning_sends < ALIGN_LEARNING_WINDOWS * burst.limit):
            # Learning where the burst windows start: the burst window's requests spread evenly
            # over it rather than sent together, so that their counts fall all over it and the
            # answers bound its start within a burst window or two (bunched, every count of a
            # burst window falls at one point of it, and the bound closes in 0.05 s a window).
            spacing = (burst.seconds + max(burst.seconds * WINDOW_MARGIN, self._margin)) / burst.limit
            delay = max(delay, sent[-1] + spacing - now)
        for w in self._windows:
            if follows and w is steady:
                continue
            if slot is not None and w is burst:
                continue  # paced by the placed burst windows instead
            if len(sent) >= w.limit:
                # The request `limit` places back must be at least a window old.
                oldest = sent[-w.limit]
                margin = max(w.seconds * WINDOW_MARGIN, self._margin)
                delay = max(delay, oldest + w.seconds + margin - now)
        if follows and steady is not None:
            assert self._window_end is not None
            if self._remaining - self._in_flight <= 0:
                # No budget left in this window: wait for its reset (or for an answer,
                # which may show a request in flight was counted in the window before).
                delay = max(delay, self._opening() - now)
        return delay, slot is not None

    def _opening(self) -> float:
        """When the next steady window may be sent into, in send time.

        Not placed: its reset's upper bound at answer time, the only instant surely after the
        reset wherever in the round trip the server counts (a latency late). Placed: that less
        the fastest round trip, as every burst window: the answers showed the server's time
        after counting constant (their bounds agree), and a request sent then is counted after
        the reset if it takes no less before counting than the fastest one did.
        """
        assert self._window_end is not None
        if self._placed:
            return self._window_end - self._rtt_min + ALIGN_MARGIN_SECONDS
        return self._window_end + RESET_MARGIN_SECONDS

    def acquire(self) -> Slot:
        """Wait for a slot and take it. Hand it back with observe(), refused() or settle()."""
        started = self._clock()
        while True:
            with self._lock:
                now = self._clock()
                delay, aligned = self._delay(now)
                if delay <= 1e-9:  # (a fake clock may not move by less than its float resolution)
                    self._sent.append(now)
                    self._in_flight += 1
                    if self._window_end is not None and not aligned:
                        self._learning_sends += 1
                    return Slot(now, now - started, aligned)
                if self._wake is not None:
                    self._wake.wait(delay)
                    continue
            self._sleep(delay)
