"""Crash-resume loop: a backfill killed with SIGKILL at random moments, then re-run to the end.

The backfill runs as a real process (`python -m linesync_cli backfill ...`) against the
stand-in Klaviyo, with Klaviyo's bulk-create windows scaled down ten times in time
(burst 10 per 0.1 s, steady 150 per 6 s, so the same shape as 10/s and 150/min) and a
little latency per request so that batches are in flight when the kill lands. The
kill moments are drawn from a seeded random generator: some land before the first
request, most while batches are being sent and recorded.

After the last (unkilled) run:
- the stand-in holds exactly the events a dry run of the same command would send
  (profile, metric, unique_id, time), each once;
- per kill, the batches sent again by the next run (requests whose events were all
  stored before that run started, counted from the stand-in's request log) are no
  more than the batches that could be in flight at once (`--workers`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.backfill_data import link_users, write_actions_csv, write_link_map
from tests.support.standin_cli import run_cli

BULK = "/api/event-bulk-create-jobs"
WORKERS = 3


def _spawn(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    full_env.update({k: v for k, v in env.items() if v is not None})
    return subprocess.Popen([sys.executable, "-m", "linesync_cli", *args], env=full_env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _event_keys(body: dict) -> list[tuple[str, str, str, str]]:
    """(profile id, metric, unique_id, time) of every event in a bulk-create body."""
    keys = []
    for entry in body["data"]["attributes"]["events-bulk-create"]["data"]:
        pid = entry["attributes"]["profile"]["data"]["id"]
        for event in entry["attributes"]["events"]["data"]:
            a = event["attributes"]
            keys.append((pid, a["metric"]["data"]["attributes"]["name"], a["unique_id"], a["time"]))
    return keys


def _stored(standin) -> list[tuple[str, str, str]]:
    names = {mid: m["name"] for mid, m in standin.metrics.items()}
    with standin.lock:
        return [(e["profile_id"], names[e["metric_id"]], e["unique_id"]) for e in standin.events]


def _expected(args: list[str], env: dict, tmp: Path) -> set[tuple[str, str, str, str]]:
    out = tmp / "expected-bodies"
    result = run_cli([*args, "--dry-run", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    return {key for body in sorted(out.glob("batch-*.json")) for key in _event_keys(json.loads(body.read_bytes()))}


def _resent_batches(requests, stored_before: set[tuple[str, str, str]]) -> tuple[int, int]:
    """(batches, events): distinct batches of this run whose every event was stored before it started."""
    resent = set()
    for req in requests:
        if not isinstance(req.body, dict):
            continue
        keys = frozenset((pid, metric, uid) for pid, metric, uid, _ in _event_keys(req.body))
        if keys and keys <= stored_before:
            resent.add(keys)
    return len(resent), sum(len(k) for k in resent)


def _sent_a_batch(standin, first_request: int) -> bool:
    return any(r.op == "bulk_create_events" for r in standin.requests[first_request:])


def crash_resume_loop(standin, env: dict, tmp: Path, *, events: int, kills: int, seed: int,
                      faults: float = 0.0, ctrl_c: float = 0.0, stops: list[str] | None = None) -> list[int]:
    """Run, kill, re-run ... then finish.

    Returns, per run, the batches it sent again (all its events stored before it
    started): the first entry is the first run (nothing to resend), each later one
    is the cost of the kill before it. With `ctrl_c`, that share of the stops (once
    a request was sent) are SIGINT instead: exit 130 after the batches in flight
    were recorded, so the next run resends nothing.
    """
    rng = random.Random(seed)
    link_map = write_link_map(tmp / "map.csv", link_users(standin, 60))
    actions = write_actions_csv(tmp / "actions.csv", events, 70)  # users 60-69 are unlinked
    args = ["backfill", str(actions), "--link-map", str(link_map), "--json", "--workers", str(WORKERS)]
    expected = _expected(args, env, tmp)
    assert len(expected) == sum(1 for i in range(events) if i % 70 < 60)
    standin.set_rate_limit("bulk_create_events", burst=(10, 0.1), steady=(150, 6.0))
    standin.set_delay(0.12, BULK)  # a whole first run takes longer than the latest kill moment
    if faults:  # 5xx and drops (half of them after the batch was stored) on top of the kills
        standin.inject_fault_rate(faults, seed=seed)

    resent_per_kill: list[int] = []
    resent_events = 0
    interrupted = False
    for _ in range(kills):
        stored_before = set(_stored(standin))
        if len(stored_before) == len(expected):
            break  # finished before the kill could land
        first_request = len(standin.requests)
        proc = _spawn(args, env, tmp)
        sig = signal.SIGKILL
        try:
            # A random moment: mostly while batches are in flight, sometimes before the first one.
            if rng.random() < 0.15:
                time.sleep(rng.uniform(0.0, 0.4))
            else:
                deadline = time.monotonic() + 30
                # A batch, not the Flow listing before it: a Ctrl-C there stops before any run exists.
                while not _sent_a_batch(standin, first_request) and proc.poll() is None:
                    assert time.monotonic() < deadline, "the backfill sent nothing"
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.4))
                if rng.random() < ctrl_c:
                    sig = signal.SIGINT
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if sig == signal.SIGINT and proc.returncode != 0:  # 0: it had finished already
            assert proc.returncode == 130 and b"progress is saved" in err, (proc.returncode, err[-500:])
        _settle(standin, first_request)
        batches, events_again = _resent_batches_after(standin, stored_before, first_request)
        if interrupted:
            assert batches == 0, "a run stopped with Ctrl-C had recorded its batches in flight"
        interrupted = sig == signal.SIGINT
        if stops is not None:
            stops.append(f"exit {proc.returncode}")
        resent_per_kill.append(batches)
        resent_events += events_again

    standin.set_delay(0)
    standin.clear_faults()
    stored_before = set(_stored(standin))
    first_request = len(standin.requests)
    final = run_cli(args, env=env)
    assert final.exit_code == 0, final.stderr
    summary = json.loads(final.stdout)
    counts = summary["counts"]
    assert counts["reconciled"] is True and counts["pending"] == 0
    assert counts["sent"] == len(expected)
    assert counts["sent"] + counts["unlinked"] == counts["read"] == events
    batches, events_again = _resent_batches_after(standin, stored_before, first_request)
    if interrupted:
        assert batches == 0, "a run stopped with Ctrl-C had recorded its batches in flight"
    resent_per_kill.append(batches)
    resent_events += events_again
    if not faults:  # the measure sees every resend: Klaviyo (the stand-in) absorbed exactly these
        assert resent_events == standin.duplicates_ignored, (resent_events, standin.duplicates_ignored)

    stored = _stored(standin)
    assert len(stored) == len(set(stored)), "an event is stored twice"
    assert set(stored) == {(pid, metric, uid) for pid, metric, uid, _ in expected}
    times = {(pid, metric, uid): t for pid, metric, uid, t in expected}
    for event in standin.events:
        name = standin.metrics[event["metric_id"]]["name"]
        assert event["datetime"].isoformat() == times[(event["profile_id"], name, event["unique_id"])]
    assert standin.profiles_created == 0 and standin.profiles_changed == 0
    return resent_per_kill


def _settle(standin, first_request: int) -> None:
    """Wait until the stand-in has acted on every request the killed process left (it may still be
    storing a batch whose sender is dead), so the next run's "stored before" is complete."""
    time.sleep(0.05)  # requests still being read are recorded by then
    deadline = time.monotonic() + 10
    while True:
        with standin.lock:
            if all(r.status is not None or r.dropped for r in standin.requests[first_request:]):
                return
        assert time.monotonic() < deadline, "the stand-in never finished the killed run's requests"
        time.sleep(0.01)


def _resent_batches_after(standin, stored_before: set, first_request: int) -> tuple[int, int]:
    with standin.lock:
        requests = [r for r in standin.requests[first_request:] if r.op == "bulk_create_events"]
    return _resent_batches(requests, stored_before)


def test_sigkill_at_random_points_then_resume_delivers_exactly_once(cli_env, klaviyo_standin, tmp_path):
    resent = crash_resume_loop(klaviyo_standin, cli_env, tmp_path, events=21_000, kills=3, seed=20261128)
    assert resent[0] == 0
    assert all(n <= WORKERS for n in resent), resent
    assert len(resent) >= 2  # the first kill surely landed mid-run (later ones may find the work done)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_loop_long(cli_env, klaviyo_standin, tmp_path, seed):
    resent = crash_resume_loop(klaviyo_standin, cli_env, tmp_path, events=60_000, kills=10, seed=seed)
    assert all(n <= WORKERS for n in resent), resent


@pytest.mark.slow
def test_sigkill_and_ctrl_c_mixed(cli_env, klaviyo_standin, tmp_path):
    stops: list[str] = []
    resent = crash_resume_loop(klaviyo_standin, cli_env, tmp_path, events=60_000, kills=10, seed=5, ctrl_c=0.5,
                               stops=stops)
    assert all(n <= WORKERS for n in resent), resent
    assert "exit 130" in stops and f"exit {-signal.SIGKILL}" in stops, stops


@pytest.mark.slow
def test_sigkill_loop_with_faults(cli_env, klaviyo_standin, tmp_path, fast_retries):
    """Kills on top of 5% 5xx and drops: still exactly once in the end. (A batch stored before its
    answer was dropped and then killed during its retry is resent by the next run: in flight too.)"""
    resent = crash_resume_loop(klaviyo_standin, cli_env, tmp_path, events=40_000, kills=6, seed=4, faults=0.05)
    assert all(n <= WORKERS for n in resent), resent


def test_resent_counter_sees_a_resent_batch(klaviyo_standin):
    """The measure above can fail: a batch whose events were all stored before counts once."""

    class Req:
        def __init__(self, body):
            self.body, self.op = body, "bulk_create_events"

    body = {"data": {"attributes": {"events-bulk-create": {"data": [{"attributes": {
        "profile": {"data": {"id": "p1"}},
        "events": {"data": [{"attributes": {"metric": {"data": {"attributes": {"name": "m"}}}, "unique_id": "u1",
                                            "time": "t"}}]}}}]}}}}
    assert _resent_batches([Req(body), Req(body)], {("p1", "m", "u1")}) == (1, 1)
    assert _resent_batches([Req(body)], set()) == (0, 0)


def test_throttled_retries_outlast_a_burst_window_someone_else_filled(httpx_mock):
    """Found by this loop: a run started right after a kill shares the 10/s window of the Flow
    listing with the killed one; Klaviyo says "Expected available in 0 seconds" (rounded down),
    and six retries 0.05-0.3 s apart all landed in the same second: exit 4. The retries must
    span more than the 1 s burst window before giving up."""
    from pydantic import SecretStr

    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.errors import RateLimited

    sleeps: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    httpx_mock.add_response(status_code=429, is_reusable=True, json={"errors": [{
        "status": 429, "code": "throttled", "title": "Request was throttled.",
        "detail": "Request was throttled. Expected available in 0 seconds."}]})
    client = KlaviyoClient(SecretStr("pk_test_0000000000000000"), "https://a.klaviyo.com", sleep=sleep,
                           clock=lambda: clock[0], rng=lambda: 0.5)
    with pytest.raises(RateLimited):
        client.get_flows_triggered_by_metric("AbC123")
    assert sum(sleeps) > 1.0, sleeps
    assert sleeps[0] < 0.35  # the first retry still comes at once: the window has usually just rolled
