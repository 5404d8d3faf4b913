"""Pacing on Klaviyo's fixed windows (api/ratelimit.py), with a fake clock: nothing here is timed.

The limiter follows the server's steady window once answers carry
`RateLimit-Remaining`/`RateLimit-Reset`, falls back to a sliding log without them,
and a 429 costs at most the rest of the window it hit.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from linesync_cli.api import ratelimit
from linesync_cli.api.http import wanted_in_flight
from linesync_cli.api.ratelimit import (
    ALIGN_MARGIN_SECONDS,
    MAX_MARGIN_SECONDS,
    MIN_MARGIN_SECONDS,
    RESET_MARGIN_SECONDS,
    Window,
    WindowLimiter,
)

KLAVIYO_BULK = [Window(10, 1.0), Window(150, 60.0)]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(t: FakeTime, windows: list[Window] = KLAVIYO_BULK) -> WindowLimiter:
    return WindowLimiter(windows, clock=t.clock, sleep=t.sleep)


def test_headers_allow_exactly_the_remaining_budget_then_wait_for_the_reset():
    t = FakeTime()
    lim = limiter(t)
    first = lim.acquire()
    lim.observe(first, remaining=7, reset=12)
    assert lim.follows_server
    start = observed = t.now
    slots = [lim.acquire() for _ in range(7)]
    # Within one burst window (spread over it while the answers place the burst windows), not a window later.
    assert t.now - start < 1.0, "the 7 left in the window go within the burst window"
    eighth = lim.acquire()
    # No earlier than the reset the server stated, and not a sliding window later either.
    assert eighth.waited > 0
    assert 12.0 <= t.now - observed <= 12.0 + RESET_MARGIN_SECONDS + 1e-6
    assert all(not s.settled for s in slots)


def test_answers_inside_the_window_keep_the_budget_exact():
    """Each answer's Remaining replaces the guess: requests answered are no longer counted twice."""
    t = FakeTime()
    lim = limiter(t, [Window(100, 1.0), Window(20, 60.0)])
    s = lim.acquire()
    lim.observe(s, remaining=5, reset=40)
    observed = t.now
    for left in range(4, -1, -1):
        s = lim.acquire()
        assert s.waited < 0.02  # at most the spreading of a burst window's requests
        lim.observe(s, remaining=left, reset=40)
    late = lim.acquire()
    assert 40.0 <= t.now - observed <= 40.0 + RESET_MARGIN_SECONDS + 1e-6
    # The new window is spent from its first instant: 19 more (20 less the one in flight) within
    # one burst window (spread over it while the answers place the burst windows).
    lim.observe(late, remaining=19, reset=60)
    start = t.now
    for _ in range(19):
        lim.acquire()
    assert t.now - start < 1.0
    assert lim.acquire().waited >= 59.0


def test_requests_in_flight_count_against_the_budget_until_answered():
    t = FakeTime()
    lim = limiter(t, [Window(100, 1.0), Window(20, 60.0)])
    s = lim.acquire()
    lim.observe(s, remaining=3, reset=30)
    a, b, c = lim.acquire(), lim.acquire(), lim.acquire()
    assert max(a.waited, b.waited, c.waited) < 0.02  # at most the spreading of a burst window's requests
    # Three in flight, three left: a fourth would overfill the window if all three are counted.
    lim.observe(a, remaining=2, reset=30)  # a was counted; b and c may or may not be yet
    assert lim.acquire().waited >= 29.0


def test_without_headers_it_falls_back_to_the_sliding_log():
    t = FakeTime()
    lim = limiter(t, [Window(3, 1.0), Window(5, 60.0)])
    sent = []
    for _ in range(6):
        slot = lim.acquire()
        sent.append(t.now)
        lim.settle(slot)  # an answer without RateLimit-* headers
    assert not lim.follows_server
    # The sixth waits until the first is a whole steady window (plus margin) old.
    assert sent[5] - sent[0] >= 60.0
    assert sent[1] - sent[0] == 0.0 and sent[3] - sent[0] >= 1.0 + MIN_MARGIN_SECONDS - 1e-9


def test_a_429_mid_window_costs_the_rest_of_that_window_and_no_more():
    """Another client on the account spent the budget: wait for the reset the 429 states, then go on at once."""
    t = FakeTime()
    lim = limiter(t)
    s = lim.acquire()
    lim.observe(s, remaining=120, reset=30)
    for _ in range(9):
        lim.observe(lim.acquire(), remaining=100, reset=30)
    refused = lim.acquire()
    lim.refused(refused, wait=30.3, available_in=30)
    after = lim.acquire()
    assert 30.0 <= after.waited <= 31.5
    resumed = t.now
    lim.observe(after, remaining=149, reset=60)
    # The next window's burst goes at once: no second window waited for the
    # requests sent before the 429.
    for _ in range(9):
        lim.observe(lim.acquire(), remaining=140, reset=59)
    assert t.now - resumed < 1.0, "within the burst window (spread over it while its start is learnt again)"


def test_a_429_in_the_sliding_log_does_not_wait_a_second_window():
    t = FakeTime()
    lim = limiter(t, [Window(10, 1.0), Window(15, 60.0)])
    for _ in range(12):
        lim.settle(lim.acquire())
    refused = lim.acquire()
    lim.refused(refused, wait=20.2, available_in=20)
    resumed = lim.acquire()
    assert 20.0 <= resumed.waited <= 20.5, "the window the 429 named is over: the log's old entries do not apply"


def test_a_refused_request_gives_its_place_back():
    """The server did not count a 429'd request; the limiter must not either (it would leave a slot unused)."""
    t = FakeTime()
    lim = limiter(t, [Window(10, 1.0), Window(3, 60.0)])
    a = lim.acquire()
    lim.settle(a)
    b = lim.acquire()
    lim.refused(b, wait=0.1, available_in=0)  # a burst-edge 429, "expected available in 0 seconds"
    c = lim.acquire()
    lim.settle(c)
    d = lim.acquire()
    assert d.waited < 1.0, "the third place in the steady window is still free"
    assert lim.acquire().waited >= 59.0


def test_a_burst_429_does_not_empty_the_steady_budget():
    t = FakeTime()
    lim = limiter(t)
    s = lim.acquire()
    lim.observe(s, remaining=100, reset=50)
    refused = lim.acquire()
    lim.refused(refused, wait=0.3, available_in=0)
    assert lim.acquire().waited <= 0.31


class FixedWindowServer:
    """Klaviyo's counting: fixed windows from one epoch; headers on every non-429 answer.

    Reset is in whole seconds rounded up (as the stand-in says it).
    """

    def __init__(self, epoch: float, windows: list[tuple[int, float]]) -> None:
        self.epoch, self.windows = epoch, windows
        self.counts: dict[tuple[int, int], int] = {}
        self.accepted: list[float] = []
        self.refused = 0
        self.refused_burst = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        slots = [int((now - self.epoch) // w) for _, w in self.windows]
        full = [i for i, ((limit, _), s) in enumerate(zip(self.windows, slots, strict=True))
                if self.counts.get((i, s), 0) >= limit]
        if full:
            self.refused += 1
            self.refused_burst += full == [0]
            # Seconds until the full window (the longest if both) resets.
            return False, 0, max(self.windows[i][1] - ((now - self.epoch) % self.windows[i][1]) for i in full)
        for i, s in enumerate(slots):
            self.counts[(i, s)] = self.counts.get((i, s), 0) + 1
        self.accepted.append(now)
        limit, steady_s = self.windows[-1]
        remaining = limit - self.counts[(len(self.windows) - 1, slots[-1])]
        return True, remaining, float(math.ceil(steady_s - ((now - self.epoch) % steady_s)))

    def per_window(self) -> list[int]:
        counts: dict[int, int] = {}
        for when in self.accepted:
            key = int((when - self.epoch) // self.windows[-1][1])
            counts[key] = counts.get(key, 0) + 1
        return [counts.get(k, 0) for k in range(min(counts), max(counts) + 1)]

    def floor_schedule(self, start: float, requests: int) -> list[float]:
        """When each request would be counted by a client that knows the windows: the first instant they allow."""
        used: dict[tuple[int, int], int] = {}
        times, t = [], start
        for _ in range(requests):
            while True:
                slots = [int((t - self.epoch) // w) for _, w in self.windows]
                full = [i for i, ((limit, _), s) in enumerate(zip(self.windows, slots, strict=True))
                        if used.get((i, s), 0) >= limit]
                if not full:
                    break
                t = max(self.epoch + (slots[i] + 1) * self.windows[i][1] for i in full)
            for i, s in enumerate(slots):
                used[(i, s)] = used.get((i, s), 0) + 1
            times.append(t)
        return times


@dataclass
class Simulated:
    server: FixedWindowServer
    limiter: WindowLimiter
    start: float
    finished: float  # the last answer
    floor: float  # the last answer of a client that knows the windows, with the same latency
    retries: int
    sent_at: list[float]
    refused_at: list[tuple[float, bool]]  # when each 429 came, and whether its request went into a placed burst window

    @property
    def ratio(self) -> float:
        return (self.floor - self.start) / (self.finished - self.start)

    def window_opened(self, k: int) -> float:
        return self.server.epoch + k * self.server.windows[-1][1]

    def counted_in_window(self, k: int) -> list[float]:
        opened, steady_s = self.window_opened(k), self.server.windows[-1][1]
        return [w for w in self.server.accepted if opened <= w < opened + steady_s]


def simulate(*, latency: float, phase: float, requests: int, in_flight: int | None = None, upper: int = 16,
             jitter: float = 0.01, latency_spread: float = 0.2, serial: float = 0.0, seed: str = "",
             burst_aligned: bool = True) -> Simulated:
    """A run against FixedWindowServer on a fake clock: bodies always ready.

    In flight: `in_flight` at most, or (None) what the client asks for (`wanted_in_flight`
    with the smoothed latency, at most `upper`). Each request arrives `uniform(0, jitter)` s
    after it leaves (upload); with `serial`, the server handles one request at a time for
    that many seconds each and counts it as it takes it (the stand-in parses a body under
    its lock: a bunch is counted one after another, the last late); it is answered
    `latency` (+- latency_spread/2 of it, and no sooner than its handling) after it was
    counted (Klaviyo's gateway counts first, then the work), a 429 at once. With
    `burst_aligned=False` the server's burst windows start half a burst window off its
    steady window's seconds.
    """
    rng = random.Random(f"{latency}{phase}{jitter}{serial}{seed}{burst_aligned}")
    t = FakeTime()
    answers: list[tuple[float, int, object, bool, int, float]] = []  # (due, seq, slot, ok, remaining, reset)
    retries = 0
    finished = t.now
    smoothed: list[float] = []
    refused_at: list[tuple[float, bool]] = []

    def deliver_next() -> None:
        nonlocal retries, finished
        due, _, slot, ok, remaining, reset_in = heapq.heappop(answers)
        t.now = max(t.now, due)
        finished = max(finished, t.now)
        if ok:
            rtt = t.now - slot.sent  # type: ignore[attr-defined]
            smoothed[:] = [rtt if not smoothed else smoothed[0] + 0.2 * (rtt - smoothed[0])]
            lim.observe(slot, remaining, reset_in)  # type: ignore[arg-type]
        else:
            refused_at.append((t.now, slot.aligned))  # type: ignore[attr-defined]
            # As http.py: a hair past what the server said, everyone held meanwhile.
            lim.refused(slot, int(reset_in) + 0.05 + 0.25 * rng.random(), int(reset_in))  # type: ignore[arg-type]
            retries += 1

    def sleep(seconds: float) -> None:
        # Like the real limiter's wait on its condition: an answer arriving meanwhile wakes it.
        if answers and answers[0][0] <= t.now + seconds:
            deliver_next()
        else:
            t.now += seconds

    def room() -> int:
        if in_flight is not None:
            return in_flight
        return wanted_in_flight(lim, smoothed[0] if smoothed else None, upper)

    lim = WindowLimiter(KLAVIYO_BULK, clock=t.clock, sleep=sleep)
    windows = [(10, 1.0), (150, 60.0)]
    server = FixedWindowServer(epoch=t.now - phase * 60.0, windows=windows)
    if not burst_aligned:
        burst_server = FixedWindowServer(epoch=server.epoch + 0.5, windows=windows[:1])
    start = t.now
    seq = sent = 0
    server_free = 0.0
    sent_at: list[float] = []
    while sent < requests + retries or answers:
        while answers and (answers[0][0] <= t.now or sent >= requests + retries or len(answers) >= room()):
            deliver_next()
        if sent >= requests + retries:
            continue
        slot = lim.acquire()
        sent += 1
        sent_at.append(t.now)
        counted_at = t.now + rng.uniform(0.0, jitter)
        if serial:
            counted_at = max(counted_at, server_free)
        if burst_aligned:
            ok, remaining, reset_in = server.take(counted_at)
        else:
            # The burst windows from one epoch, the steady one from another.
            burst_ok, _, burst_wait = burst_server.take(counted_at)
            ok, remaining, reset_in = server.take(counted_at) if burst_ok else (False, 0, burst_wait)
            if not burst_ok:
                server.refused += 1
                server.refused_burst += 1
        seq += 1
        if ok:
            server_free = counted_at + serial
            answered = counted_at + max(serial, latency * rng.uniform(1 - latency_spread / 2, 1 + latency_spread / 2))
        else:
            answered = counted_at
        heapq.heappush(answers, (answered, seq, slot, ok, remaining, reset_in))
    floor = server.floor_schedule(start, requests)[-1] + latency
    return Simulated(server, lim, start, finished, floor, retries, sent_at, refused_at)


@pytest.mark.parametrize("latency, phase, in_flight", [(0.05, 0.0, 4), (0.3, 0.5, 8), (0.8, 0.37, 16), (0.8, 0.9, 32)])
def test_fixed_windows_are_filled_without_a_429(latency, phase, in_flight):
    """Simulated: many requests in flight, jittered latency, a start anywhere in the window.

    No 429, no window over its limit, and each window after the first gets its whole
    budget (which a sliding log cannot give after a short first window), spent from
    its opening: the first request within one latency of it, or (when that is late in
    a burst window) at the next burst window's start, the budget in 15 burst windows.
    """
    run = simulate(latency=latency, phase=phase, requests=600, in_flight=in_flight, latency_spread=0.4)
    server = run.server
    assert server.refused == 0
    windows = server.per_window()
    assert max(windows) <= 150
    assert windows[1:-1] == [150] * (len(windows) - 2), windows
    second = int((run.start - server.epoch) // 60.0) + 1
    counted = run.counted_in_window(second)
    assert counted[0] - run.window_opened(second) <= max(latency * 1.2 + 0.05, 1.0 + 0.1)
    assert counted[-1] - run.window_opened(second) <= 15.0 + 0.5


@pytest.mark.parametrize("latency", [0.05, 0.3, 0.8])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
@pytest.mark.parametrize("serial", [0.0, 0.04])
def test_two_windows_with_burst_windows_placed_from_the_answers(latency, seed, serial):
    """The benchmark's 2-window run (300 requests, start mid-window), each request counted up
    to 5 ms after it leaves, or (serial) by a server that takes one request at a time for
    40 ms each, as the stand-in does: no 429, both windows whole, and the second window's
    budget spent in 15 burst windows from its opening, each burst window's 10 sent together
    at its start (in send time: one fastest round trip before the answers' reset, plus whole
    seconds), the first of them too.

    On the sliding log the second window's first request is counted a latency after it opens
    (the reset's upper bound) and the last 14 x 1.05 s after that: 0.75 / 1.5 s later than
    asserted at 50 / 800 ms.
    """
    run = simulate(latency=latency, phase=0.5, requests=300, jitter=0.005, latency_spread=0.02, serial=serial,
                   seed=seed)
    server = run.server
    assert server.refused == 0
    assert server.per_window() == [150, 150]
    assert run.limiter.aligned
    counted = run.counted_in_window(1)
    opened = run.window_opened(1)
    assert counted[0] - opened <= ALIGN_MARGIN_SECONDS + 0.01 + 0.02 * latency + 1e-6
    assert 14.0 <= counted[-1] - opened <= 14.0 + ALIGN_MARGIN_SECONDS + 0.05 + 9 * serial
    sent = sorted(run.sent_at)
    groups = [sent[i:i + 10] for i in range(150, 300, 10)]
    spreads = [g[-1] - g[0] for g in groups]
    assert all(spread < 1e-9 for spread in spreads), ("each burst window's 10 leave together", spreads)


def test_a_long_run_stays_placed_and_fills_every_window():
    """10 steady windows (the benchmark's long run): the placing holds all along (the lower
    bound loosens with age for clock drift, ~0.05 s over the run, and nothing sent placed
    refreshes it), no 429, every window whole, the last spent as fast as the first."""
    run = simulate(latency=0.8, phase=0.5, requests=1500, jitter=0.005, latency_spread=0.02, serial=0.04, seed="L")
    assert run.server.refused == 0
    assert run.server.per_window() == [150] * 10
    assert run.limiter.aligned
    last = run.counted_in_window(9)
    assert last[-1] - run.window_opened(9) <= 14.0 + ALIGN_MARGIN_SECONDS + 0.05 + 9 * 0.04


def test_a_placing_that_lapses_with_age_is_found_again(monkeypatch):
    """Placed sends are counted early in their burst windows, so their answers never refresh
    the lower bound, which loosens with age (clock drift) until the placing lapses (about 2 h
    at the real drift allowance; here 30 times faster, so every few windows). The sliding log
    then paces, its groups drift across the server's burst windows, an answer counted late in
    one bounds them closely again, and the placing comes back: no 429, every window whole,
    placed at the end, across two hours of lapses."""
    monkeypatch.setattr(ratelimit, "ALIGN_DRIFT", 3e-3)
    run = simulate(latency=0.8, phase=0.5, requests=150 * 120, jitter=0.005, latency_spread=0.02, seed="drift")
    assert run.server.refused == 0
    windows = run.server.per_window()
    assert windows[1:-1] == [150] * (len(windows) - 2)
    first = int((run.start - run.server.epoch) // 60.0)
    spent = [run.counted_in_window(k)[-1] - run.window_opened(k) for k in range(first + 1, first + len(windows))]
    placed_pace = 14.0 + ALIGN_MARGIN_SECONDS + 0.05
    assert sum(1 for s in spent if s > placed_pace) >= 10, "the placing lapsed (windows spent at the sliding log's pace)"
    assert sum(1 for s in spent if s <= placed_pace) >= len(spent) // 2, "and came back"
    assert run.limiter.aligned


def test_burst_windows_off_the_steady_seconds_cost_a_few_429s_once():
    """A server whose burst windows start half a second off its steady window's seconds: the
    placed windows are wrong, the first burst 429 for a request sent into one sends the
    limiter back to the sliding log for good; a few 429s (those already in flight), once."""
    run = simulate(latency=0.3, phase=0.5, requests=450, jitter=0.005, latency_spread=0.02, serial=0.01,
                   burst_aligned=False)
    assert 1 <= run.server.refused <= 10
    assert run.server.refused == run.server.refused_burst
    last_429 = max(w for w, _ in run.refused_at)
    assert last_429 - min(w for w, _ in run.refused_at) < 1.0, "all in one burst window"
    assert all(aligned for _, aligned in run.refused_at)
    assert not run.limiter.aligned
    assert run.server.per_window() == [150, 150, 150]
    assert run.limiter.margin == MIN_MARGIN_SECONDS, "the sliding log's margin was not what failed"


def _placed_limiter(t: FakeTime, rtt: float = 0.1) -> WindowLimiter:
    """A limiter whose answers (one every 0.37 s, counted instantly, answered `rtt` later)
    place the burst windows on the steady window's seconds, the reset at t=1060."""
    lim = limiter(t)
    reset_at = 1060.0
    remaining = 149
    while not lim.aligned:
        slot = lim.acquire()
        counted = t.now
        t.now += rtt
        lim.observe(slot, remaining, float(math.ceil(reset_at - counted)))
        remaining -= 1
        t.now += 0.37 - rtt
    return lim


def test_placed_burst_windows_send_ten_at_each_start_and_late_sends_count_in_both():
    t = FakeTime()
    lim = _placed_limiter(t)
    t.now = 1030.5  # mid burst window: its start has passed
    first = lim.acquire()
    assert first.aligned and first.waited == 0.0, "room left in this burst window, early enough in it"
    for _ in range(9):
        lim.acquire()
    eleventh = lim.acquire()
    # The next burst window starts at 1031 on the server: the send goes a margin after it.
    assert 1031.0 <= t.now <= 1031.0 + ALIGN_MARGIN_SECONDS + 0.01
    assert eleventh.aligned
    # Late in a burst window a request may be counted in this one or the next: it goes at once
    # while this one has room (a client sending one at a time never idles), and counts in both.
    t.now = 1031.97
    for n in range(9):
        late = lim.acquire()
        assert t.now == 1031.97 and late.waited == 0.0, f"late send {n + 1}: window 1031 held {n + 1} of 10"
    # Window 1031 now holds 10 (the eleventh and 9 late ones): the next waits for 1032...
    lim.acquire()
    assert 1032.0 <= t.now <= 1032.0 + ALIGN_MARGIN_SECONDS + 0.01
    # ... where the 9 late ones may have been counted: 1032 takes one more, then 1033.
    lim.acquire()
    assert 1033.0 <= t.now <= 1033.0 + ALIGN_MARGIN_SECONDS + 0.01


def test_a_burst_429_for_a_placed_send_goes_back_to_the_sliding_log_for_good():
    t = FakeTime()
    lim = _placed_limiter(t)
    slot = lim.acquire()
    assert slot.aligned
    lim.refused(slot, wait=0.1, available_in=0)
    assert not lim.aligned
    assert lim.margin == MIN_MARGIN_SECONDS
    # More answers placing the windows as well as before do not bring the placing back.
    for _ in range(20):
        t.now += 0.37
        s = lim.acquire()
        lim.observe(s, 100, float(math.ceil(1060.0 - t.now)))
    assert not lim.aligned


def test_a_burst_429_before_the_windows_are_placed_widens_the_margin_as_before():
    t = FakeTime()
    lim = limiter(t)
    slot = lim.acquire()
    assert not slot.aligned
    lim.refused(slot, wait=0.1, available_in=0)
    assert lim.margin == 2 * MIN_MARGIN_SECONDS


def test_without_headers_the_burst_windows_are_never_placed():
    t = FakeTime()
    lim = limiter(t)
    for _ in range(40):
        lim.settle(lim.acquire())
    assert not lim.aligned


def test_placed_windows_keep_a_burst_windows_worth_more_in_flight():
    t = FakeTime()
    lim = _placed_limiter(t)
    assert wanted_in_flight(lim, 0.8, 32) == 8 + 10
    assert wanted_in_flight(limiter(t), 0.8, 32) == 8 + 1
    assert wanted_in_flight(lim, 0.8, 16) == 16


def test_burst_429s_widen_the_sliding_margin_up_to_a_cap():
    """A 429 from a full burst window means the send-to-count jitter beat the margin: widen it, boundedly."""
    t = FakeTime()
    lim = limiter(t)
    assert lim.margin == MIN_MARGIN_SECONDS
    lim.refused(lim.acquire(), wait=0.1, available_in=0)
    assert lim.margin == 2 * MIN_MARGIN_SECONDS
    for _ in range(10):
        lim.refused(lim.acquire(), wait=0.1, available_in=0)
    assert lim.margin == MAX_MARGIN_SECONDS
    # ... and the wider margin is what the burst window is paced with.
    t.now += 10
    first = t.now
    for _ in range(10):
        lim.settle(lim.acquire())
    lim.acquire()
    assert t.now - first >= 1.0 + MAX_MARGIN_SECONDS - 1e-9


def test_a_steady_429_does_not_widen_the_margin():
    t = FakeTime()
    lim = limiter(t)
    lim.refused(lim.acquire(), wait=20.2, available_in=20)
    assert lim.margin == MIN_MARGIN_SECONDS


# -- requests in flight, sized by latency -------------------------------------------------------

def _bulk_client_after(latencies: list[float]):
    """A Klaviyo client whose bulk-create answers took these many seconds (fake clock)."""
    import httpx
    from pydantic import SecretStr

    from linesync_cli.api.klaviyo import KlaviyoClient

    t = FakeTime()
    answers = iter(latencies)

    def answer(request: httpx.Request) -> httpx.Response:
        t.now += next(answers)
        return httpx.Response(202, headers={"RateLimit-Limit": "10, 10;w=1, 150;w=60",
                                            "RateLimit-Remaining": "140", "RateLimit-Reset": "50"})

    client = KlaviyoClient(SecretStr("pk_test_0000000000000000"), "https://a.klaviyo.com",
                           transport=httpx.MockTransport(answer), sleep=t.sleep, clock=t.clock)
    for _ in latencies:
        client.bulk_create_events_encoded(b"{}")
    return client


@pytest.mark.parametrize("latency, upper, wanted", [
    (0.8, 32, 9),    # 10/s for 0.8 s: 8 answering, one more being sent
    (0.3, 32, 4),
    (0.05, 32, 2),   # never fewer than 2
    (2.0, 16, 16),   # --workers is the upper bound
    (0.8, 1, 1),     # ... even below 2
])
def test_in_flight_is_the_burst_rate_times_the_observed_latency(latency, upper, wanted):
    client = _bulk_client_after([latency] * 3)
    assert client.bulk_create_in_flight(upper) == wanted


def test_in_flight_follows_the_latency_as_it_changes():
    slow_then_fast = _bulk_client_after([1.0] * 3 + [0.1] * 30)
    assert slow_then_fast.bulk_create_in_flight(32) == 3  # smoothed down to ~0.1 s
    # Before any answer: the burst window's limit, which may go at once.
    assert _bulk_client_after([]).bulk_create_in_flight(32) == 10


def test_the_sender_keeps_only_the_wanted_number_in_flight():
    """8 worker threads, but the client asks for 3: never more than 3 posts at once, and all are sent."""
    import threading
    import time

    from linesync_cli.core.backfill.batching import Batch
    from linesync_cli.core.backfill.sender import Sender

    lock = threading.Lock()
    now_sending = most = 0
    go = threading.Event()

    def post(body: bytes) -> None:
        nonlocal now_sending, most
        with lock:
            now_sending += 1
            most = max(most, now_sending)
        go.wait(timeout=10)
        with lock:
            now_sending -= 1

    delivered = []
    sender = Sender(post, 8, lambda batch, key, delivery: delivered.append(batch.seq), in_flight=lambda: 3)
    feeder = threading.Thread(target=lambda: [sender.submit(Batch(seq=i, backfill=True), b"{}", str(i), lambda: None)
                                              for i in range(12)])
    feeder.start()
    deadline = time.monotonic() + 10
    while now_sending < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # room for a fourth to start, if the sender let it
    assert now_sending == 3
    go.set()
    feeder.join(timeout=10)
    sender.drain(lambda: None)
    sender.close()
    assert sorted(delivered) == list(range(12))
    assert most == 3


def test_connections_outlive_a_steady_windows_idle_time():
    """A backfill idles most of each steady window; its connections must still be open when the
    next window's first burst window goes (10 new connections at once: a SYN retry 1 s later
    from a server with a short accept queue, a TLS handshake each from a real one)."""
    from pydantic import SecretStr

    from linesync_cli.api.http import KEEPALIVE_SECONDS
    from linesync_cli.api.klaviyo import KlaviyoClient

    assert KEEPALIVE_SECONDS >= 60.0
    client = KlaviyoClient(SecretStr("pk_test_0000000000000000"), "https://a.klaviyo.com")
    try:
        pool = client._client._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == KEEPALIVE_SECONDS
        assert pool._max_keepalive_connections >= 16  # --workers' default
    finally:
        client.close()


def test_a_client_with_one_request_in_flight_is_never_held_by_burst_windows_it_cannot_fill():
    # links sync and every paged read: one request at a time, here 5 a second against a burst
    # window of 10, so only the steady budget should ever hold it. Placed burst windows used to
    # stop sends for the last part of each second (the deadline), idling it about a fifth of the time.
    run = simulate(latency=0.2, phase=0.0, requests=140, in_flight=1, jitter=0.005, latency_spread=0.02,
                   seed="serial")
    assert not run.refused_at
    assert run.limiter.aligned, "the answers placed the burst windows"
    gaps = [b - a for a, b in zip(run.sent_at[40:], run.sent_at[41:], strict=False)]  # once placed
    assert max(gaps) < 0.2 * 1.02 + 0.01, f"a send waited {max(gaps) - 0.2:.3f} s past its answer"
