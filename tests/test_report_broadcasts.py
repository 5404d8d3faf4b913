"""`report broadcasts` and `report funnel --exact` against figures computed by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.support.standin_cli import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)


def _world(s):
    m = {k: s.add_metric(f"{k.title()} LINE Message") for k in ("sent", "delivered", "failed", "opened", "clicked")}
    p1, p2, p3, p4 = (s.add_profile(external_id=f"U{i}" + "0" * 31) for i in range(4))
    t1 = NOW - timedelta(days=2)  # broadcast B1 (newer)
    t2 = NOW - timedelta(days=5)  # broadcast B2 (older)
    n = iter(range(10_000))

    def ev(metric, profile, when, broadcast):
        props = {"Broadcast ID": broadcast} if broadcast else {}
        s.add_event(m[metric], profile, when, props, unique_id=f"k{next(n)}")

    for p in (p1, p2, p3):
        ev("sent", p, t1, "B1")
    ev("delivered", p1, t1 + timedelta(seconds=5), "B1")
    ev("delivered", p2, t1 + timedelta(seconds=5), "B1")
    ev("failed", p3, t1 + timedelta(seconds=5), "B1")
    ev("opened", p1, t1 + timedelta(minutes=3), "B1")
    ev("opened", p1, t1 + timedelta(hours=3), "B1")
    ev("opened", p2, t1 + timedelta(minutes=9), "B1")
    ev("clicked", p1, t1 + timedelta(minutes=4), "B1")
    ev("sent", p1, t2, "B2")
    ev("sent", p1, t2 + timedelta(hours=1), "B2")
    ev("delivered", p1, t2 + timedelta(hours=1), "B2")
    ev("sent", p4, t1 - timedelta(days=1), None)
    return m


def test_broadcast_figures_match_a_hand_count(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "broadcasts", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [r["label"] for r in doc["rows"]] == ["B1", "B2", "(none)"]
    b1 = {k: (v["total"], v["unique"]) for k, v in doc["rows"][0]["steps"].items()}
    assert b1 == {"sent": (3, 3), "delivered": (2, 2), "failed": (1, 1), "opened": (3, 2), "clicked": (1, 1)}
    steps = doc["rows"][0]["steps"]
    assert steps["delivered"]["unique_rate"] == 2 / 3
    assert steps["opened"]["unique_rate"] == 1.0
    assert steps["clicked"]["unique_rate"] == 0.5
    b2 = {k: (v["total"], v["unique"]) for k, v in doc["rows"][1]["steps"].items()}
    assert b2["sent"] == (2, 1) and b2["delivered"] == (1, 1) and b2["opened"] == (0, 0)
    assert doc["rows"][2]["id"] is None and doc["rows"][2]["steps"]["sent"]["total"] == 1
    # CSV carries the same figures; a second report reads nothing new.
    result = run_cli(["report", "broadcasts", "--format", "csv"], env=cli_env)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["id"], r["opened_total"], r["opened_unique"]) for r in rows] == [
        ("B1", "3", "2"), ("B2", "0", "0"), ("(none)", "0", "0")]
    assert "new events" not in result.stderr


def test_funnel_exact_counts_unique_people_across_months(klaviyo_standin, cli_env):
    m = _world(klaviyo_standin)
    p1 = next(iter(klaviyo_standin.profiles))
    # p1 sent again 40 days ago: another month, same person.
    klaviyo_standin.add_event(m["sent"], p1, NOW - timedelta(days=40), {}, unique_id="old")
    result = run_cli(["report", "funnel", "--since", "60d", "--exact", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    steps = {s["key"]: s for s in json.loads(result.stdout)["steps"]}
    # Sent: 3 (B1) + 2 (B2) + 1 (none) + 1 (old) = 7 events; people p1, p2, p3, p4 = 4.
    assert (steps["sent"]["total"], steps["sent"]["unique"], steps["sent"]["unique_exact"]) == (7, 4, True)
    assert (steps["opened"]["total"], steps["opened"]["unique"]) == (3, 2)
    assert steps["delivered"]["unique_rate"] == 2 / 4
