"""`linesync report funnel` on fixed aggregate answers: figures, rates, uniques, formats."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

import linesync_cli.app
from tests.support.report_fakes import IDS, add_aggregates, add_metrics, env
from tests.support.spec import check_contract

runner = CliRunner()
T = "+09:00"
NOV = [f"2026-11-01T00:00:00{T}"]
OCT_NOV = [f"2026-10-01T00:00:00{T}", f"2026-11-01T00:00:00{T}"]
DAYS = [f"2026-11-0{d}T00:00:00{T}" for d in (1, 2, 3)]
EVERYTHING_BUT_OPENED = [n for n in IDS if n != "Opened LINE Message"]
NOVEMBER = ["--since", "2026-11-01", "--until", "2026-12-01", "--timezone", "Asia/Tokyo"]

# One month, one bucket per metric: uniques are exact. Opened LINE Message has no
# metric (no events yet); Blocked exists but had no events in the range.
MONTH_TABLE = {
    ("SENT01", "month"): (NOV, [1200], [800]),
    ("DELIV1", "month"): (NOV, [1150], [790]),
    ("CLICK1", "month"): (NOV, [90], [60]),
    ("FAIL01", "month"): (NOV, [50], [10]),
    ("FOLLW1", "month"): (NOV, [30], [30]),
    ("BLOCK1", "month"): ([], [], []),
}


def run(args: list[str], tmp_path, **extra):
    return runner.invoke(linesync_cli.app.app, ["report", "funnel", *args], env=env(tmp_path, **extra))


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Plain (piped) table rows by event name: the cells after the event column."""
    import re

    out = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 2 and cells[1] in IDS:
            out[cells[1]] = cells[2:]
    return out


def test_one_month_table_figures_rates_and_a_metric_with_no_events(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, EVERYTHING_BUT_OPENED)
    seen = add_aggregates(httpx_mock, MONTH_TABLE)
    result = run(NOVEMBER, tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["Sent LINE Message"] == ["1200", "800"]
    assert rows["Delivered LINE Message"] == ["1150", "790", "95.8%", "98.8%", "Sent LINE Message"]
    assert rows["Opened LINE Message"] == ["no events yet", "Delivered LINE Message"]
    # Clicked's base (Opened) is missing: no rate, never a division by zero.
    assert rows["Clicked LINE Message"] == ["90", "60", "Opened LINE Message"]
    assert rows["Failed LINE Message"] == ["50", "10", "4.2%", "1.2%", "Sent LINE Message"]
    assert rows["Blocked LINE Account"] == ["0", "0"]
    assert "Opened LINE Message: no events yet" in " ".join(result.stderr.split())
    assert "–" not in result.stdout and "~" not in result.stdout
    # One month query per existing metric, none for the missing one, no email without --compare-email.
    queried = sorted(b["data"]["attributes"]["metric_id"] for b in seen)
    assert queried == sorted(["SENT01", "DELIV1", "CLICK1", "FAIL01", "FOLLW1", "BLOCK1"])
    assert {b["data"]["attributes"]["interval"] for b in seen} == {"month"}
    assert seen[0]["data"]["attributes"]["filter"] == [
        "greater-or-equal(datetime,2026-11-01T00:00:00+09:00)", "less-than(datetime,2026-12-01T00:00:00+09:00)"]
    check_contract(httpx_mock.get_requests())


def test_json_range_unique_is_never_the_sum_of_daily_uniques(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, ["Sent LINE Message", "Delivered LINE Message"])
    table = {
        # Daily uniques 3+2+4 = 9, but the same people came back: the month says 6.
        ("SENT01", "day"): (DAYS, [5, 2, 6], [3, 2, 4]),
        ("SENT01", "month"): (NOV, [13], [6]),
        # Only one active day: that day's unique is the range's, no month query needed.
        ("DELIV1", "day"): (DAYS, [0, 4, 0], [0, 3, 0]),
    }
    seen = add_aggregates(httpx_mock, table)
    result = run(["--since", "2026-11-01", "--until", "2026-11-04", "--timezone", "Asia/Tokyo", "--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    steps = {s["key"]: s for s in doc["steps"]}
    sent = steps["sent"]
    assert (sent["total"], sent["unique"], sent["unique_exact"]) == (13, 6, True)
    assert [b["unique_in_interval"] for b in sent["series"]] == [3, 2, 4]
    assert [b["count"] for b in sent["series"]] == [5, 2, 6]
    delivered = steps["delivered"]
    assert (delivered["total"], delivered["unique"], delivered["unique_exact"]) == (4, 3, True)
    assert delivered["total_rate"] == pytest.approx(4 / 13) and delivered["unique_rate"] == pytest.approx(3 / 6)
    assert steps["opened"]["status"] == "missing" and steps["opened"]["total"] is None
    assert steps["opened"]["detail"] == "no events yet"
    assert doc["range"] == {"since": "2026-10-31T15:00:00+00:00", "until": "2026-11-03T15:00:00+00:00",
                            "timezone": "Asia/Tokyo", "interval": "day"}
    assert [(b["data"]["attributes"]["metric_id"], b["data"]["attributes"]["interval"]) for b in seen] == [
        ("SENT01", "day"), ("SENT01", "month"), ("DELIV1", "day")]
    check_contract(httpx_mock.get_requests())


def test_a_range_across_months_labels_uniques_as_upper_bounds(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, ["Sent LINE Message", "Delivered LINE Message"])
    add_aggregates(httpx_mock, {
        ("SENT01", "month"): (OCT_NOV, [400, 800], [300, 600]),
        ("DELIV1", "month"): (OCT_NOV, [390, 780], [295, 590]),
    })
    args = ["--since", "2026-10-20", "--until", "2026-11-10", "--timezone", "Asia/Tokyo"]
    result = run(args, tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["Sent LINE Message"][:2] == ["1200", "600–900"]
    assert rows["Delivered LINE Message"][:4] == ["1170", "590–885", "97.5%", "~98.3%"]
    said = " ".join(result.stderr.split())  # Rich wraps stderr at the console width
    assert "crosses a calendar month" in said
    assert "--since 2026-11-01 --until 2026-12-01" in said

    result = run([*args, "--format", "json", "--interval", "month"], tmp_path)
    doc = json.loads(result.stdout)
    sent = next(s for s in doc["steps"] if s["key"] == "sent")
    assert (sent["unique"], sent["unique_exact"], sent["unique_lower_bound"]) == (900, False, 600)
    assert doc["uniques_exact"] is False


def test_csv_has_raw_values_one_row_per_step(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, EVERYTHING_BUT_OPENED)
    add_aggregates(httpx_mock, MONTH_TABLE | {
        ("RECV01", "month"): (NOV, [3000], [2500]),
        ("OPENEM", "month"): (NOV, [900], [750]),
        ("CLICEM", "month"): (NOV, [90], [80]),
    })
    result = run([*NOVEMBER, "--compare-email", "--format", "csv"], tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["key"] for r in rows] == ["sent", "delivered", "opened", "clicked", "failed", "followed", "blocked",
                                         "email_received", "email_opened", "email_clicked"]
    by = {r["key"]: r for r in rows}
    assert by["delivered"]["total"] == "1150" and by["delivered"]["total_rate"] == str(round(1150 / 1200, 6))
    assert by["delivered"]["rate_base"] == "sent" and by["delivered"]["unique_exact"] == "yes"
    assert by["delivered"]["unique_lower_bound"] == "790"
    assert by["opened"]["status"] == "missing" and by["opened"]["total"] == ""
    assert by["email_opened"]["channel"] == "Email" and by["email_opened"]["total_rate"] == "0.3"
    assert by["email_clicked"]["unique_rate"] == str(round(80 / 750, 6))
    assert by["sent"]["since"] == "2026-10-31T15:00:00+00:00" and by["sent"]["timezone"] == "Asia/Tokyo"
    assert result.stdout.splitlines()[0].startswith("channel,key,event,status,metric_id,total,unique")


def test_compare_email_shows_an_absent_email_metric_as_such(httpx_mock, tmp_path) -> None:
    # Clicked Email never happened; an "Opened Email" under API (not Klaviyo's own) does not count.
    from tests.support.report_fakes import API, metric_resource

    fake = metric_resource("Opened Email", API) | {"id": "FAKEOE"}
    add_metrics(httpx_mock, ["Sent LINE Message", "Received Email"], extra=[fake])
    add_aggregates(httpx_mock, {("SENT01", "month"): (NOV, [10], [5]), ("RECV01", "month"): (NOV, [20], [20])})
    result = run([*NOVEMBER, "--compare-email", "--json", "--interval", "month"], tmp_path)
    assert result.exit_code == 0, result.stderr
    steps = {s["key"]: s for s in json.loads(result.stdout)["steps"]}
    assert steps["email_received"]["total"] == 20
    assert steps["email_opened"]["status"] == "missing" and steps["email_clicked"]["status"] == "missing"
    assert "Clicked Email: no events yet" in " ".join(result.stderr.split())


def test_chart_draws_counts_per_interval(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, ["Sent LINE Message", "Clicked LINE Message"])
    add_aggregates(httpx_mock, {
        ("SENT01", "day"): (DAYS, [5, 0, 6], [3, 0, 4]),
        ("SENT01", "month"): (NOV, [11], [6]),
        ("CLICK1", "day"): (DAYS, [1, 0, 0], [1, 0, 0]),
    })
    result = run(["--since", "2026-11-01", "--until", "2026-11-04", "--timezone", "Asia/Tokyo", "--chart"], tmp_path)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "LINE: events per day (Asia/Tokyo)" in out
    for label in ("2026-11-01 Sun", "2026-11-02 Mon", "2026-11-03 Tue"):
        assert label in out
    chart_line = next(line for line in out.splitlines() if line.startswith("2026-11-03 Tue"))
    assert "█" in chart_line and chart_line.rstrip().endswith("0")  # 6 sent, 0 clicked that day


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-11-05", "--until", "2026-11-01"], "--since must be before --until"),
    (["--since", "2024-01-01", "--until", "2026-01-01"], "longer than one year"),
    (["--since", "yesterday"], "neither a duration"),
    (["--timezone", "Mars/Olympus"], "not an IANA time zone"),
])
def test_bad_ranges_are_usage_errors_before_any_call(args, message, tmp_path) -> None:
    result = run(args, tmp_path)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_no_key_is_a_config_error(tmp_path) -> None:
    result = run(NOVEMBER, tmp_path, LINESYNC_KLAVIYO_API_KEY="")
    assert result.exit_code == 2 and "no Klaviyo API key" in result.stderr


def test_a_since_duration_counts_back_from_until_and_split_metrics_are_named(httpx_mock, tmp_path) -> None:
    from tests.support.report_fakes import metric_resource

    shopify = {"object": "integration", "id": "x1", "key": "shopify", "name": "Shopify", "category": "Ecommerce"}
    add_metrics(httpx_mock, ["Sent LINE Message"], extra=[metric_resource("Sent LINE Message", shopify) | {"id": "SHOP01"}])
    seen = add_aggregates(httpx_mock, {("SENT01", "month"): (NOV, [7], [7])})
    result = run(["--since", "7d", "--until", "2026-11-08", "--timezone", "Asia/Tokyo"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert seen[0]["data"]["attributes"]["filter"][0] == "greater-or-equal(datetime,2026-11-01T00:00:00+09:00)"
    assert "Sent LINE Message also exists under Shopify (split metric)" in " ".join(result.stderr.split())
