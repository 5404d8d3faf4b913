"""The backfill run's identity (fingerprint, window, resume) and its books, without HTTP.

The sink here is a recording stand-in that "delivers" (so runs go to the ledger);
the linkage links every user. What Klaviyo stores is checked in test_backfill_e2e.py.
"""

from __future__ import annotations

import builtins
import gc
import hashlib
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linesync_cli.core.backfill import run as run_module
from linesync_cli.core.backfill.batching import BatchBuilder
from linesync_cli.core.backfill.ledger import Ledger
from linesync_cli.core.backfill.options import TimeWindow, check_inputs, run_fingerprint
from linesync_cli.core.backfill.run import BackfillOptions, run_backfill
from linesync_cli.core.backfill.sink import DryRunSink
from linesync_cli.core.linkage import Link
from linesync_cli.errors import Unavailable
from linesync_cli.timeutil import parse_zone
from tests.support.backfill_data import START, write_actions_csv

NOW = datetime(2026, 11, 1, tzinfo=UTC)


class LinkEveryone:
    description = "everyone linked (test)"
    identity = "test: everyone linked"

    def resolve(self, ids):
        return {i: Link.of(i, [f"P{i[-6:]}"]) for i in ids}


class RecordingSink:
    """Delivers (runs are recorded) into a list; after `fail_after` bodies, Klaviyo is "unavailable"."""

    delivers = True

    def __init__(self, identity: str = "https://klaviyo.test", fail_after: int | None = None) -> None:
        self.identity = identity
        self.bodies: list[bytes] = []
        self.fail_after = fail_after

    def open(self) -> None:
        pass

    def send(self, body: bytes) -> None:
        if self.fail_after is not None and len(self.bodies) >= self.fail_after:
            raise Unavailable("Klaviyo is unavailable (test)")
        self.bodies.append(body)

    def events(self) -> int:
        return sum(len(e["attributes"]["events"]["data"]) for b in self.bodies
                   for e in json.loads(b)["data"]["attributes"]["events-bulk-create"]["data"])


@pytest.fixture
def actions(tmp_path) -> Path:
    # From START on, one action every 7 seconds (see backfill_data.action_rows).
    return write_actions_csv(tmp_path / "actions.csv", 3000, 30)


def _nth(i: int) -> datetime:
    """The time of the i-th action in `actions`."""
    return START + timedelta(seconds=7 * i)


def _run(opts, state_dir, sink=None):
    return run_backfill(opts, LinkEveryone(), sink=sink or RecordingSink(), state_dir=state_dir, now=NOW)


def test_the_fingerprint_of_a_command_line_run_is_the_one_earlier_versions_wrote(actions):
    """A run started before the options became values must resume: the hashed document is unchanged."""
    zone = parse_zone("Asia/Tokyo")
    opts = BackfillOptions(inputs=(str(actions),), encoding="utf-8", timezone=zone,
                           window=TimeWindow.parse("30d", "2026-10-01", zone, now=NOW), only=("sent",), limit=50)
    data = actions.read_bytes()
    earlier = {  # as run.py wrote it before: the window as typed, the zone's name, the linkage key, the URL
        "inputs": [{"path": str(actions.resolve()), "size": len(data),
                    "hash": hashlib.blake2b(data[: 1 << 20], digest_size=16).hexdigest()}],
        "options": {"format": None, "encoding": "utf-8", "timezone": "Asia/Tokyo", "since": "30d",
                    "until": "2026-10-01", "only": ["sent"], "limit": 50, "trigger_flows": False,
                    "linkage": "property:LINE User ID"},
        "klaviyo": "https://a.klaviyo.com",
    }
    expected = hashlib.sha256(json.dumps(earlier, sort_keys=True).encode()).hexdigest()
    assert run_fingerprint(opts, check_inputs(opts.inputs), "property:LINE User ID", "https://a.klaviyo.com") \
        == expected


def test_a_relative_window_resumes_tomorrow_with_the_times_it_started_with(actions, tmp_path):
    state = tmp_path / "state"
    opts = BackfillOptions(inputs=(str(actions),), workers=1)
    today = _nth(600) + timedelta(days=150)  # "150d" today is the 600th action
    first = _run(replace(opts, window=TimeWindow.parse("150d", None, now=today)), state, RecordingSink(fail_after=1))
    assert first.status == "stopped" and first.counts.filtered == 600 and first.counts.sent > 0
    assert Ledger(state).run(first.run_id).options["since_at"] == _nth(600).isoformat()
    # Tomorrow "150d" is a day later (after every action): the text names the same run, which keeps its time.
    tomorrow = TimeWindow.parse("150d", None, now=today + timedelta(days=1))
    assert tomorrow.since > _nth(3000)
    sink = RecordingSink()
    again = _run(replace(opts, window=tomorrow), state, sink)
    assert again.resumed and again.run_id == first.run_id
    assert (again.counts.filtered, again.counts.sent, again.counts.sent_before) == (600, 2400, first.counts.sent)
    assert sink.events() == 2400 - first.counts.sent


def test_a_library_caller_passing_only_datetimes_gets_a_run_per_window(actions, tmp_path):
    state = tmp_path / "state"
    opts = BackfillOptions(inputs=(str(actions),))
    first = _run(replace(opts, window=TimeWindow(since=_nth(100))), state)
    other = _run(replace(opts, window=TimeWindow(since=_nth(200))), state)
    same = _run(replace(opts, window=TimeWindow(since=_nth(100))), state)
    assert not other.resumed and other.run_id != first.run_id  # another window is another run...
    assert other.counts.filtered == 200  # ...and it is the window applied, not the old run's
    assert same.resumed and same.run_id == first.run_id and same.counts.filtered == 100


def test_the_sink_and_the_linkage_are_part_of_the_run(actions, tmp_path):
    state = tmp_path / "state"
    opts = BackfillOptions(inputs=(str(actions),))
    first = _run(opts, state, RecordingSink("https://one.example"))
    assert not _run(opts, state, RecordingSink("https://two.example")).resumed

    class OtherLinkage(LinkEveryone):
        identity = "link map /elsewhere.csv"

    other = run_backfill(opts, OtherLinkage(), sink=RecordingSink("https://one.example"), state_dir=state, now=NOW)
    assert not other.resumed and other.run_id != first.run_id


def test_each_input_is_opened_once_to_check_it_and_once_to_read_it(actions, tmp_path, monkeypatch):
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    result = _run(BackfillOptions(inputs=(str(actions),)), tmp_path / "state")
    assert result.counts.sent == 3000
    assert opened.count(str(actions)) == 2


def test_a_stopped_runs_pending_is_what_the_sink_did_not_get(actions, tmp_path):
    sink = RecordingSink(fail_after=2)
    result = _run(BackfillOptions(inputs=(str(actions),), workers=1), tmp_path / "state", sink)
    c = result.counts
    assert result.status == "stopped" and isinstance(result.stopped_by, Unavailable)
    assert c.sent == sink.events() > 0
    assert c.pending == c.read - sink.events() > 0
    assert c.reconciled


@pytest.mark.parametrize("how", ["stop event", "KeyboardInterrupt"])
def test_an_interrupted_runs_pending_is_what_the_sink_did_not_get(tmp_path, monkeypatch, how):
    """Ctrl-C on the command sets `stop` (from a signal handler, at any moment); a library
    caller may raise KeyboardInterrupt (here from the progress callback, on the main thread)."""
    monkeypatch.setattr(run_module, "PROGRESS_EVERY", 0.0)
    stop = threading.Event()

    class StopAfterTwo(RecordingSink):
        def send(self, body):
            super().send(body)
            if len(self.bodies) == 2:
                stop.set()

    sink = StopAfterTwo()

    def ctrl_c_once_stopped(progress):
        if how == "KeyboardInterrupt" and stop.is_set():
            raise KeyboardInterrupt

    many = write_actions_csv(tmp_path / "many.csv", 10_000, 30)
    result = run_backfill(BackfillOptions(inputs=(str(many),), workers=1), LinkEveryone(), sink=sink,
                          state_dir=tmp_path / "state", progress=ctrl_c_once_stopped,
                          stop=stop if how == "stop event" else None, now=NOW)
    c = result.counts
    assert result.status == "interrupted"
    assert c.sent == sink.events() > 0
    assert c.pending == c.read - sink.events() > 0
    assert c.reconciled


def test_a_record_lost_between_stages_breaks_the_books(actions, tmp_path, monkeypatch):
    real_add_run = BatchBuilder.add_run
    lost = []

    def add_run_losing_one(self, profile_ids, actions, start):
        if lost or not start <= 6 < len(actions):
            return real_add_run(self, profile_ids, actions, start)
        lost.append(actions[6])  # the 7th action: said to be added, kept nowhere
        done, at, repeats = real_add_run(self, [*profile_ids[:6], *profile_ids[7:]], [*actions[:6], *actions[7:]],
                                         start)
        return done, at + 1 if at >= 6 else at, repeats

    monkeypatch.setattr(BatchBuilder, "add_run", add_run_losing_one)
    result = run_backfill(BackfillOptions(inputs=(str(actions),)), LinkEveryone(), sink=DryRunSink(),
                          state_dir=tmp_path / "state", now=NOW)
    assert result.counts.would_send == 2999
    assert result.counts.to_json()["reconciled"] is False


def test_a_batch_counted_twice_breaks_the_books(actions, tmp_path, monkeypatch):
    real = run_module.LedgerOutlet._on_delivered

    def twice(self, batch, key, delivery):
        real(self, batch, key, delivery)
        if batch.seq == 2:
            self._counts.sent += delivery.sent

    monkeypatch.setattr(run_module.LedgerOutlet, "_on_delivered", twice)
    result = _run(BackfillOptions(inputs=(str(actions),)), tmp_path / "state")
    assert result.counts.sent == 4000
    assert result.counts.to_json()["reconciled"] is False


def test_the_cyclic_collector_is_held_off_only_while_nothing_is_sent(actions, tmp_path):
    """Holding it off pays in a dry run (CPU-bound, no cycles); a run that sends is paced by
    Klaviyo, and anything of its HTTP path caught in a cycle would wait for a collection."""
    before = gc.get_threshold()
    seen: dict[str, tuple[int, ...]] = {}

    class Watching(RecordingSink):
        def send(self, body: bytes) -> None:
            seen["sending"] = gc.get_threshold()
            super().send(body)

    class WatchingDry(DryRunSink):
        def send(self, body: bytes) -> None:
            seen["dry run"] = gc.get_threshold()
            super().send(body)

    _run(BackfillOptions(inputs=(str(actions),)), tmp_path / "state", sink=Watching())
    run_backfill(BackfillOptions(inputs=(str(actions),)), LinkEveryone(), sink=WatchingDry(),
                 state_dir=tmp_path / "state", now=NOW)
    assert seen["sending"] == before
    assert seen["dry run"][0] > before[0]
    assert gc.get_threshold() == before, "restored after the run"
