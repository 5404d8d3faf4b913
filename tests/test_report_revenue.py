"""`report revenue` against figures computed by hand (issue 19, item 2).

The world: orders of Shopify's "Placed Order" on 2026-11-09 12:00 UTC (ORDER), a 5-day
window, the range 2026-11-02 (a Monday) to 2026-11-16. Who did what, and where each
order must land:

  pA  clicked B1 exactly 5d before            1000 JPY   clicked (the boundary counts)
  pB  clicked B1 5d + 1s before               2000 JPY   other (just outside, nothing sent)
  pC  sent 1d before, clicked 1 min after     3000 JPY   received (a click after does not count)
  pD  clicked B1 2d before and B2 1h before   4000 JPY   clicked once, under B2 (the last click)
  pE  clicked B2 1d before                    50.5 usd   clicked, USD ($value_currency wins over $currency_code)
  pF  clicked B1 3h before                    no $value  clicked, counted, not summed
  pH  clicked B3 in the order's own second     500 JPY   clicked (at the order time counts)
  pI  sent 6d before                          6000 JPY   other (the send is outside the window)
  pJ  clicked B1 on 2026-11-01 (before --since), ordered 2026-11-02 12:00, 700 JPY: clicked
      (clicks are read one window before --since)
  pK  clicked B1 1d before an order at --until: outside the range, not counted at all
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.support.standin_cli import run_cli

SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 16, tzinfo=UTC)
ORDER = datetime(2026, 11, 9, 12, tzinfo=UTC)
RANGE = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def _world(s):
    clicked = s.add_metric("Clicked LINE Message")
    sent = s.add_metric("Sent LINE Message")
    s.add_metric("Delivered LINE Message")
    placed = s.add_metric("Placed Order", "Shopify", "Shopify")
    n = iter(range(1000))
    people = {name: s.add_profile(email=f"{name}@example.jp") for name in
              ("pA", "pB", "pC", "pD", "pE", "pF", "pH", "pI", "pJ", "pK")}

    def click(who, when, broadcast):
        s.add_event(clicked, people[who], when, {"Broadcast ID": broadcast}, unique_id=f"c{next(n)}")

    def send(who, when):
        s.add_event(sent, people[who], when, {"Broadcast ID": "B0"}, unique_id=f"s{next(n)}")

    def order(who, when, value, props=None):
        s.add_event(placed, people[who], when, props if props is not None else {"$currency_code": "JPY"},
                    unique_id=f"o{next(n)}", value=value)

    click("pA", ORDER - 5 * DAY, "B1")
    order("pA", ORDER, 1000)
    click("pB", ORDER - 5 * DAY - timedelta(seconds=1), "B1")
    order("pB", ORDER, 2000)
    send("pC", ORDER - DAY)
    click("pC", ORDER + timedelta(minutes=1), "B1")
    order("pC", ORDER, 3000)
    click("pD", ORDER - 2 * DAY, "B1")
    click("pD", ORDER - HOUR, "B2")
    order("pD", ORDER, 4000)
    click("pE", ORDER - DAY, "B2")
    order("pE", ORDER, 50.5, {"$value_currency": "usd", "$currency_code": "JPY"})
    click("pF", ORDER - 3 * HOUR, "B1")
    order("pF", ORDER, None)
    click("pH", ORDER, "B3")
    order("pH", ORDER, 500)
    send("pI", ORDER - 6 * DAY)
    order("pI", ORDER, 6000)
    click("pJ", SINCE - DAY, "B1")
    order("pJ", SINCE + 12 * HOUR, 700)
    click("pK", UNTIL - DAY, "B1")
    order("pK", UNTIL, 9999)
    return placed


def _figures(doc, *keys):
    return {tuple(r[k] for k in keys): (r["orders"], r["orders_without_value"], r["revenue"], r["people"])
            for r in doc["rows"]}


def test_orders_land_in_the_hand_computed_groups(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "revenue", *RANGE, "--window", "5d", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["measure"] == "revenue after a LINE click"
    assert "not attribution" in doc["notice"] and "attributes none of this revenue to LINE" in doc["notice"]
    assert _figures(doc, "group", "currency") == {
        # pA 1000 + pD 4000 + pH 500 + pJ 700 (whose click, on 2026-11-01, is there only if the
        # pull read clicks from one window before --since); pF counted without a value.
        ("clicked", "JPY"): (5, 1, 6200, 5),
        ("clicked", "USD"): (1, 0, 50.5, 1),
        ("received", "JPY"): (1, 0, 3000, 1),
        # pB 2000 + pI 6000
        ("other", "JPY"): (2, 0, 8000, 2),
    }
    clicked_jpy = doc["rows"][0]
    assert (clicked_jpy["orders_with_value"], clicked_jpy["average_order_value"]) == (4, 1550)
    # pK's order at --until is outside the range: 9 orders, one of them without a value.
    assert (doc["orders"], doc["orders_without_value"], doc["currencies"]) == (9, 1, ["JPY", "USD"])
    # Across currencies a group has people and orders, never a summed revenue.
    totals = {t["group"]: (t["orders"], t["people"]) for t in doc["totals"]}
    assert totals == {"clicked": (6, 6), "received": (1, 1), "other": (2, 2)}
    assert all("revenue" not in t for t in doc["totals"])


def test_by_broadcast_splits_clicks_on_the_last_click_before_each_order(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "revenue", *RANGE, "--by", "broadcast", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["by"] == "broadcast"
    assert _figures(doc, "group", "broadcast_id", "currency") == {
        # pA 1000 + pJ 700, pF without a value; pD's earlier B1 click is not counted again.
        ("clicked", "B1", "JPY"): (3, 1, 1700, 3),
        ("clicked", "B2", "JPY"): (1, 0, 4000, 1),
        ("clicked", "B2", "USD"): (1, 0, 50.5, 1),
        ("clicked", "B3", "JPY"): (1, 0, 500, 1),
        ("received", None, "JPY"): (1, 0, 3000, 1),
        ("other", None, "JPY"): (2, 0, 8000, 2),
    }


def test_per_week_puts_each_order_in_its_iso_week(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "revenue", *RANGE, "--per", "week", "--format", "csv"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    got = {(r["period"], r["group"], r["currency"]): (r["orders"], r["revenue"]) for r in rows}
    assert got == {
        ("2026-W45", "clicked", "JPY"): ("1", "700"),  # pJ on Monday 2 November
        ("2026-W46", "clicked", "JPY"): ("4", "5500"),
        ("2026-W46", "clicked", "USD"): ("1", "50.5"),
        ("2026-W46", "received", "JPY"): ("1", "3000"),
        ("2026-W46", "other", "JPY"): ("2", "8000"),
    }
    week = next(r for r in rows if r["period"] == "2026-W46")
    assert (week["period_since"], week["period_until"]) == ("2026-11-09T00:00:00+00:00", "2026-11-16T00:00:00+00:00")
    # The first line of stderr says what this is, and what it is not.
    first = result.stderr.splitlines()[0]
    assert first.startswith("revenue after a LINE click") and "not attribution" in first
    assert "1 of 9 Placed Order orders have no numeric $value" in result.stderr
    assert "2 currencies (JPY, USD)" in result.stderr


def test_a_shorter_window_moves_orders_out_of_the_clicked_group(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "revenue", *RANGE, "--window", "2h", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    # Within 2h: pD (1h) and pH (0s) clicked; pA, pE, pF, pJ clicked too early; pC's send (1d) too.
    assert {(r["group"], r["currency"]): r["orders"] for r in doc["rows"]} == {
        ("clicked", "JPY"): 2, ("other", "JPY"): 6, ("other", "USD"): 1}


def test_table_shows_groups_without_the_word_attribution_on_stdout(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    result = run_cli(["report", "revenue", *RANGE], env=cli_env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Placed Order within 5d after a LINE click")
    assert [line.split("  ")[0] for line in lines[2:]] == [
        "clicked on LINE", "clicked on LINE", "received, no click", "everyone else"]
    assert "attribut" not in result.stdout.lower()


def test_unknown_order_metric_lists_the_candidates_before_reading_events(klaviyo_standin, cli_env):
    _world(klaviyo_standin)
    klaviyo_standin.add_metric("Order Completed", "WooCommerce", "WooCommerce")
    klaviyo_standin.add_metric("Viewed Product", "Shopify", "Shopify")
    result = run_cli(["report", "revenue", *RANGE, "--order-metric", "Purchase"], env=cli_env)
    assert result.exit_code == 2
    assert "no metric named 'Purchase' in this Klaviyo account" in result.stderr
    assert "'Order Completed' (WooCommerce" in result.stderr and "'Placed Order' (" in result.stderr
    assert "Viewed Product" not in result.stderr
    assert klaviyo_standin.requests_for("get_events") == []


def test_a_name_on_two_metrics_is_picked_by_id(klaviyo_standin, cli_env):
    placed = _world(klaviyo_standin)
    klaviyo_standin.add_metric("Placed Order")  # an API copy beside Shopify's
    result = run_cli(["report", "revenue", *RANGE], env=cli_env)
    assert result.exit_code == 2
    assert "'Placed Order' names 2 metrics" in result.stderr and f"ID {placed}" in result.stderr
    result = run_cli(["report", "revenue", *RANGE, "--order-metric", placed, "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["orders"] == 9


def test_bad_windows_and_line_metrics_are_refused_before_the_network(klaviyo_standin, cli_env):
    for argv, said in (
        (["--window", "15d"], "--window 15d is longer than the range (14d from --since to --until)"),
        (["--window", "0d"], "--window must be longer than zero"),
        (["--window", "soon"], "--window 'soon' is not a duration"),
        (["--order-metric", "Clicked LINE Message"], "'Clicked LINE Message' is a LINE metric, not an order metric"),
    ):
        result = run_cli(["report", "revenue", *RANGE, *argv], env=cli_env)
        assert result.exit_code == 2, (argv, result.stderr)
        assert said in result.stderr, result.stderr
    assert klaviyo_standin.requests == []
