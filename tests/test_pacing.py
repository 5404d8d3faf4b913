"""Pacing on Klaviyo's fixed windows (api/ratelimit.py), with a fake clock: nothing here is timed.

The limiter follows the server's steady window once answers carry
`RateLimit-Remaining`/`RateLimit-Reset`, falls back to a sliding log without them,
and a 429 costs at most the rest of the window it hit.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest

from linesync_cli.api.ratelimit import (
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
    start = t.now
    slots = [lim.acquire() for _ in range(7)]
    assert t.now - start < 0.01, "the 7 left in the window go at once (within the burst of 10)"
    eighth = lim.acquire()
    # No earlier than the reset the server stated, and not a sliding window later either.
    assert 12.0 <= eighth.waited <= 12.0 + RESET_MARGIN_SECONDS + 1e-6
    assert all(not s.settled for s in slots)


def test_answers_inside_the_window_keep_the_budget_exact():
    """Each answer's Remaining replaces the guess: requests answered are no longer counted twice."""
    t = FakeTime()
    lim = limiter(t, [Window(100, 1.0), Window(20, 60.0)])
    s = lim.acquire()
    lim.observe(s, remaining=5, reset=40)
    for left in range(4, -1, -1):
        s = lim.acquire()
        assert s.waited == 0.0
        lim.observe(s, remaining=left, reset=40)
    late = lim.acquire()
    assert 40.0 <= late.waited <= 40.0 + RESET_MARGIN_SECONDS + 1e-6
    # The new window is spent from its first instant: 19 more at once (20 less the one in flight).
    lim.observe(late, remaining=19, reset=60)
    start = t.now
    for _ in range(19):
        lim.acquire()
    assert t.now == start
    assert lim.acquire().waited >= 59.0


def test_requests_in_flight_count_against_the_budget_until_answered():
    t = FakeTime()
    lim = limiter(t, [Window(100, 1.0), Window(20, 60.0)])
    s = lim.acquire()
    lim.observe(s, remaining=3, reset=30)
    a, b, c = lim.acquire(), lim.acquire(), lim.acquire()
    assert (a.waited, b.waited, c.waited) == (0.0, 0.0, 0.0)
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
    assert t.now - resumed < 0.01


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
    """Klaviyo's counting: fixed windows from an epoch; headers on every non-429 answer."""

    def __init__(self, epoch: float, windows: list[tuple[int, float]]) -> None:
        self.epoch, self.windows = epoch, windows
        self.counts: dict[tuple[int, int], int] = {}
        self.accepted: list[float] = []
        self.refused = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        slots = [int((now - self.epoch) // w) for _, w in self.windows]
        if any(self.counts.get((i, s), 0) >= limit for i, ((limit, _), s) in enumerate(zip(self.windows, slots, strict=True))):
            self.refused += 1
            steady_s = self.windows[-1][1]
            return False, 0, steady_s - ((now - self.epoch) % steady_s)
        for i, s in enumerate(slots):
            self.counts[(i, s)] = self.counts.get((i, s), 0) + 1
        self.accepted.append(now)
        limit, steady_s = self.windows[-1]
        remaining = limit - self.counts[(len(self.windows) - 1, slots[-1])]
        return True, remaining, float(math.ceil(steady_s - ((now - self.epoch) % steady_s)))


@pytest.mark.parametrize("latency, phase, in_flight", [(0.05, 0.0, 4), (0.3, 0.5, 8), (0.8, 0.37, 16), (0.8, 0.9, 32)])
def test_fixed_windows_are_filled_without_a_429(latency, phase, in_flight):
    """Simulated: many requests in flight, jittered latency, a start anywhere in the window.

    No 429, no window over its limit, and each window after the first gets its whole
    budget (which a sliding log cannot give after a short first window).
    """
    rng = random.Random(f"{latency}{phase}")
    t = FakeTime()
    answers: list[tuple[float, int, object, bool, int, float]] = []  # (due, seq, slot, ok, remaining, reset)
    retries = 0

    def deliver_next() -> None:
        nonlocal retries
        due, _, slot, ok, remaining, reset = heapq.heappop(answers)
        t.now = max(t.now, due)
        if ok:
            lim.observe(slot, remaining, reset)
        else:
            lim.refused(slot, 0.05, int(reset))
            retries += 1

    def sleep(seconds: float) -> None:
        # Like the real limiter's wait on its condition: an answer arriving meanwhile wakes it.
        if answers and answers[0][0] <= t.now + seconds:
            deliver_next()
        else:
            t.now += seconds

    lim = WindowLimiter(KLAVIYO_BULK, clock=t.clock, sleep=sleep)
    server = FixedWindowServer(epoch=t.now - phase * 60.0, windows=[(10, 1.0), (150, 60.0)])
    seq = sent = 0
    while sent < 600 + retries or answers:
        while answers and (answers[0][0] <= t.now or sent >= 600 + retries or len(answers) >= in_flight):
            deliver_next()
        if sent >= 600 + retries:
            continue
        slot = lim.acquire()
        sent += 1
        # Counted a little after leaving (upload), answered after the server's latency.
        counted_at = t.now + rng.uniform(0.0, 0.01)
        ok, remaining, reset = server.take(counted_at)
        seq += 1
        heapq.heappush(answers, (counted_at + latency * rng.uniform(0.8, 1.2), seq, slot, ok, remaining, reset))
    assert server.refused == 0
    per_window: dict[int, int] = {}
    for when in server.accepted:
        key = int((when - server.epoch) // 60.0)
        per_window[key] = per_window.get(key, 0) + 1
    windows = [per_window[k] for k in sorted(per_window)]
    assert max(windows) <= 150
    assert windows[1:-1] == [150] * (len(windows) - 2), windows
    # The next window is used from the instant it opens (within one latency and the margin).
    second_window_start = server.epoch + (min(per_window) + 1) * 60.0
    first_in_second = min(w for w in server.accepted if w >= second_window_start)
    assert first_in_second - second_window_start <= latency * 1.2 + 0.05


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
