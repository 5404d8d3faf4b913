"""`linesync metrics show` end to end over loopback against the stateful Klaviyo stand-in.

The stand-in checks every request against the official spec (the fixture fails the
test otherwise), keeps Klaviyo's rate windows and answers 429s like Klaviyo.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.standin_cli import KLAVIYO_TEST_KEY, run_cli

TOKYO = ZoneInfo("Asia/Tokyo")
RANGE = ["--since", "2026-11-01", "--until", "2026-11-06", "--timezone", "Asia/Tokyo"]


def seed(standin) -> tuple[str, list[str]]:
    """Clicks on Nov 1, 2 and 4 (Tokyo) by three people; Nov 3 and 5 are empty."""
    mid = standin.add_metric("Clicked LINE Message", created=datetime(2026, 10, 1, tzinfo=UTC))
    people = [standin.add_profile(email="aiko@example.jp"), standin.add_profile(phone_number="+819011112222"),
              standin.add_profile()]
    day = datetime(2026, 11, 1, 10, tzinfo=TOKYO)
    # (Two events of one profile and metric in the same second would collide without unique_id.)
    for n, (offset, who) in enumerate(((0, 0), (0, 0), (1, 1), (3, 0), (3, 1), (3, 2))):
        standin.add_event(mid, people[who], day + timedelta(days=offset, minutes=n),
                          {"LINE User ID": f"U{who:032x}", "Message ID": f"m-{offset}", "Channel": "LINE"})
    return mid, people


def test_series_totals_and_feed_from_the_standin(klaviyo_standin, cli_env):
    mid, people = seed(klaviyo_standin)
    klaviyo_standin.add_metric("Clicked LINE Message", integration_name="Shopify", integration_category="eCommerce")
    result = run_cli(["metrics", "show", "clicked", *RANGE, "--feed", "4", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["metric"]["id"] == mid and len(doc["split_with"]) == 1
    assert [(s["start"][:10], s["count"], s["unique"]) for s in doc["series"]] == [
        ("2026-11-01", 2, 1), ("2026-11-02", 1, 1), ("2026-11-03", 0, 0), ("2026-11-04", 3, 3), ("2026-11-05", 0, 0)]
    assert doc["totals"]["count"] == 6 and doc["totals"]["unique"] == 3 and doc["totals"]["unique_exact"] is True
    feed = doc["feed"]["events"]
    assert [e["profile"]["id"] for e in feed] == [people[2], people[1], people[0], people[1]]
    assert feed[1]["profile"]["phone_number"] == "+819011112222" and doc["feed"]["more"] is True
    assert feed[0]["properties"]["Message ID"] == "m-3"
    assert "also exists under Shopify" in result.stderr
    assert KLAVIYO_TEST_KEY not in result.stdout + result.stderr


def test_terminal_chart_and_piped_table_from_the_standin(klaviyo_standin, cli_env):
    seed(klaviyo_standin)
    term = run_cli(["metrics", "show", "clicked", *RANGE], env=cli_env | {"TTY_COMPATIBLE": "1", "COLUMNS": "120"})
    assert term.exit_code == 0, term.stderr
    out = re.sub(r"\x1b\[[0-9;]*m", "", term.stdout)  # NO_COLOR still leaves bold and dim
    rows = [ln for ln in out.splitlines() if re.match(r"2026-11-0\d \w{3} │", ln)]
    assert len(rows) == 5 and rows[2].split("│")[1].split()[:2] == ["0", "0"]
    assert "aiko@example.jp" in term.stdout and "+819011112222" in term.stdout
    piped = run_cli(["metrics", "show", "clicked", *RANGE], env=cli_env)
    assert "│" not in piped.stdout
    assert piped.stdout.splitlines()[3].split() == ["2026-11-02T00:00:00+09:00", "1", "1"]


def test_a_throttled_aggregate_query_is_waited_out(klaviyo_standin, cli_env):
    seed(klaviyo_standin)
    klaviyo_standin.throttle_next(1, "/api/metric-aggregates", expected_in=0)
    result = run_cli(["metrics", "show", "clicked", *RANGE, "--json", "--feed", "0"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["count"] == 6
    assert [r.status for r in klaviyo_standin.requests_for("query_metric_aggregates")][:2] == [429, 200]


def test_feed_pages_over_the_200_event_page(klaviyo_standin, cli_env):
    mid = klaviyo_standin.add_metric("Delivered LINE Message")
    who = klaviyo_standin.add_profile(email="bulk@example.jp")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for i in range(230):
        klaviyo_standin.add_event(mid, who, start + timedelta(seconds=i), {"LINE User ID": "U" + "a" * 32})
    result = run_cli(["metrics", "show", "delivered", *RANGE, "--feed", "220", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    feed = json.loads(result.stdout)["feed"]
    assert len(feed["events"]) == 220 and feed["more"] is True
    times = [e["time"] for e in feed["events"]]
    assert times == sorted(times, reverse=True)
    assert len(klaviyo_standin.requests_for("get_events")) == 2


def test_missing_metric_exits_1_with_the_checks_to_run(klaviyo_standin, cli_env):
    klaviyo_standin.add_metric("Sent LINE Message")
    result = run_cli(["metrics", "show", "Clicked LINE Message", *RANGE], env=cli_env)
    assert result.exit_code == 1 and result.stdout == ""
    assert "no event of this kind has arrived yet" in result.stderr
    assert "linesync check-link" in result.stderr and "linesync doctor" in result.stderr
    assert klaviyo_standin.requests_for("query_metric_aggregates") == []
