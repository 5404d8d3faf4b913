"""Fault soak: a large backfill through injected 5xx and dropped connections and Klaviyo's rate windows.

5% of all requests fail at random (seeded): half answer 500/502/503/504, half drop the
connection, and half of the drops are processed by the stand-in before the answer is
lost (Klaviyo stored the batch; the client cannot know). Every event must be stored
exactly once, on its linked profile, and the summary must reconcile.

Each run also starts with one scripted fault of each kind (a drop after processing, a
503, a drop before processing), so that even a short run meets every kind.

- default suite: 5,000 events; windows scaled down in count as well as time (burst 2
  per 0.1 s, steady 4 per 1 s) so that both windows answer 429 even with a handful of
  1,000-event requests; retry backoff shortened 100-fold (`fast_retries`);
- `slow`: 50,000 events against Klaviyo's real windows (10/s burst, 150/min steady) and
  the real backoff, and 200,000 events with the windows scaled ten times in time
  (10 per 0.1 s, 150 per 6 s: the steady window is reached several times).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.support.backfill_data import link_users, write_actions_csv, write_link_map
from tests.support.spec import SPECS_PRESENT
from tests.support.standin_cli import KLAVIYO_TEST_KEY, run_cli
from tests.support.standins import KlaviyoStandIn

BULK = "/api/event-bulk-create-jobs"
LINKED, USERS = 90, 100  # users 90-99 are unlinked


@pytest.fixture
def soak_standin():
    # Validating every 1,000-event body against the spec takes ~0.2 s: check every 10th.
    standin = KlaviyoStandIn(api_key=KLAVIYO_TEST_KEY, validate_every=10).start()
    try:
        yield standin
    finally:
        standin.stop()
    if SPECS_PRESENT:
        assert not standin.contract_violations, standin.contract_violations[:5]


def soak(standin, env: dict, tmp, *, events: int, windows: tuple | None, seed: int) -> dict:
    mapping = link_users(standin, LINKED)
    link_map = write_link_map(tmp / "map.csv", mapping)
    actions = write_actions_csv(tmp / "actions.csv", events, USERS)
    if windows is not None:
        burst, steady = windows
        standin.set_rate_limit("bulk_create_events", burst=burst, steady=steady)
    standin.inject_fault_rate(0.05, seed=seed, drop_share=0.5, processed_share=0.5)
    # A few requests cannot be trusted to draw every kind of fault at 5%: one of each first.
    standin.drop_next(1, BULK, process_before_drop=True)
    standin.fail_next(1, 503, BULK)
    standin.drop_next(1, BULK)
    env = env | {"LINESYNC_KLAVIYO_BASE_URL": standin.base_url}
    result = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]

    linked = sum(1 for i in range(events) if i % USERS < LINKED)
    buckets = ("sent", "would_send", "unlinked", "ambiguous", "duplicates", "rejected", "failed", "filtered", "pending")
    assert counts["read"] == events == sum(counts[b] for b in buckets) + sum(counts["skipped"].values())
    assert counts["reconciled"] is True
    assert (counts["sent"], counts["unlinked"], counts["pending"]) == (linked, events - linked, 0)

    stored = Counter((e["profile_id"], e["metric_id"], e["unique_id"]) for e in standin.events)
    assert len(stored) == linked, "not every event was delivered"
    assert max(stored.values()) == 1, "an event was stored twice"
    assert {e["profile_id"] for e in standin.events} == set(mapping.values())
    assert standin.profiles_created == 0 and standin.profiles_changed == 0

    bulk = standin.requests_for("bulk_create_events")
    faults = Counter("drop" if r.dropped else r.status for r in bulk)
    assert faults["drop"] > 0 and sum(n for s, n in faults.items() if isinstance(s, int) and s >= 500) > 0, faults
    print(f"soak {events:,} events: {len(bulk)} requests, faults {dict(faults)}, "
          f"429s {standin.throttled['bulk_create_events']}, resends absorbed {standin.duplicates_ignored}")
    return {"requests": len(bulk), "faults": faults, "throttled": standin.throttled["bulk_create_events"],
            "resends_absorbed": standin.duplicates_ignored}


def test_soak_5000_events_through_faults_and_scaled_windows(cli_env, soak_standin, tmp_path, fast_retries):
    figures = soak(soak_standin, cli_env, tmp_path, events=5_000, windows=((2, 0.1), (4, 1.0)), seed=11)
    assert figures["resends_absorbed"] >= 1_000  # the batch processed before its drop was sent again


@pytest.mark.slow
def test_soak_50000_events_real_windows(cli_env, soak_standin, tmp_path):
    soak(soak_standin, cli_env, tmp_path, events=50_000, windows=None, seed=12)


@pytest.mark.slow
def test_soak_200000_events_windows_scaled_in_time(cli_env, soak_standin, tmp_path):
    figures = soak(soak_standin, cli_env, tmp_path, events=200_000, windows=((10, 0.1), (150, 6.0)), seed=13)
    assert figures["requests"] > 150
