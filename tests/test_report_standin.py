"""`report funnel` and `segments create` end to end against the stateful stand-in Klaviyo.

The stand-in counts people per bucket from real events, so these tests check that a
range unique is the number of distinct people, not a sum of daily figures.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import linesync_cli.app
from tests.support.spec import SPECS_PRESENT

standin_module = pytest.importorskip("tests.support.standins", reason="the stand-in server is not in this tree")

KEY = "pk_test_report_standin_000"
T = ZoneInfo("Asia/Tokyo")
runner = CliRunner()


@pytest.fixture
def klaviyo():
    server = standin_module.KlaviyoStandIn(api_key=KEY).start()
    # A roomy stated limit (headers follow it), so the client does not pace the test at 3/s.
    server.set_rate_limit("query_metric_aggregates", (100, 1.0), (6000, 60.0))
    try:
        yield server
    finally:
        server.stop()
    if SPECS_PRESENT:
        assert server.contract_violations == []


def cli(klaviyo, tmp_path, *args: str):
    import os

    env = {k: None for k in os.environ if k.startswith("LINESYNC_")}
    env.update(LINESYNC_KLAVIYO_API_KEY=KEY, LINESYNC_KLAVIYO_BASE_URL=klaviyo.base_url,
               LINESYNC_STATE_DIR=str(tmp_path), NO_COLOR="1", COLUMNS="200")
    return runner.invoke(linesync_cli.app.app, list(args), env=env)


def seed(klaviyo) -> dict[str, str]:
    """Ten people sent a message on 11-02 and again on 11-05; three of them also on 10-30."""
    ids = {n: klaviyo.add_metric(n) for n in ("Sent LINE Message", "Delivered LINE Message", "Clicked LINE Message")}
    people = [klaviyo.add_profile(email=f"p{i}@example.com") for i in range(10)]
    for day in (datetime(2026, 11, 2, 10, tzinfo=T), datetime(2026, 11, 5, 10, tzinfo=T)):
        for p in people:
            klaviyo.add_event(ids["Sent LINE Message"], p, day)
            klaviyo.add_event(ids["Delivered LINE Message"], p, day)
    for p in people[:3]:
        klaviyo.add_event(ids["Sent LINE Message"], p, datetime(2026, 10, 30, 10, tzinfo=T))
    klaviyo.add_event(ids["Clicked LINE Message"], people[0], datetime(2026, 11, 5, 11, tzinfo=T))
    return ids


def steps(result) -> dict[str, dict]:
    return {s["key"]: s for s in json.loads(result.stdout)["steps"]}


def test_range_unique_counts_people_once_across_days(klaviyo, tmp_path) -> None:
    seed(klaviyo)
    result = cli(klaviyo, tmp_path, "report", "funnel", "--since", "2026-11-01", "--until", "2026-12-01",
                 "--timezone", "Asia/Tokyo", "--json")
    assert result.exit_code == 0, result.stderr
    got = steps(result)
    sent = got["sent"]
    assert (sent["total"], sent["unique"], sent["unique_exact"]) == (20, 10, True)
    assert sum(b["unique_in_interval"] for b in sent["series"]) == 20  # daily uniques would have said 20 people
    assert got["clicked"]["unique"] == 1 and got["opened"]["status"] == "missing"


def test_a_range_across_months_is_labelled_not_summed_silently(klaviyo, tmp_path) -> None:
    seed(klaviyo)
    result = cli(klaviyo, tmp_path, "report", "funnel", "--since", "2026-10-25", "--until", "2026-11-08",
                 "--timezone", "Asia/Tokyo", "--json", "--interval", "week")
    assert result.exit_code == 0, result.stderr
    sent = steps(result)["sent"]
    # 3 people in October, the same 3 plus 7 more in November: 10 people, but per month 3 + 10.
    assert (sent["total"], sent["unique"], sent["unique_exact"], sent["unique_lower_bound"]) == (23, 13, False, 10)


def test_segment_create_then_the_same_name_is_refused(klaviyo, tmp_path) -> None:
    ids = seed(klaviyo)
    first = cli(klaviyo, tmp_path, "segments", "create", "line-clicked-recently", "--days", "7")
    assert first.exit_code == 0, first.stderr
    assert "LINE clicked (7d)" in first.stdout
    [segment] = [s for s in klaviyo.segments.values() if s["name"] == "LINE clicked (7d)"]
    condition = segment["definition"]["condition_groups"][0]["conditions"][0]
    assert condition["metric_id"] == ids["Clicked LINE Message"]
    again = cli(klaviyo, tmp_path, "segments", "create", "line-clicked-recently", "--days", "7")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert len([s for s in klaviyo.segments.values() if s["name"] == "LINE clicked (7d)"]) == 1
