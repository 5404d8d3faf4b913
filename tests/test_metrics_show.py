"""`linesync metrics show`: series, totals, feed, paging, errors; terminal and piped output.

Klaviyo is played by tests/support/klaviyo_metrics_model.py behind pytest-httpx:
aggregates are computed from the events the way Klaviyo buckets them (the zone's
calendar, the filter's range), and leave out empty buckets, so zero-filling is
really exercised. Every request is validated against the official spec.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from linesync_cli.app import app
from tests.support.klaviyo_metrics_model import BASE, SHOPIFY, Event, FakeKlaviyo
from tests.support.spec import assert_all_valid, requires_specs

KEY = "pk_test_metricsshow_SECRET_0000"
TOKYO = ZoneInfo("Asia/Tokyo")
NINE = ["Sent LINE Message", "Delivered LINE Message", "Failed LINE Message", "Opened LINE Message",
        "Clicked LINE Message", "Followed LINE Account", "Blocked LINE Account", "Scanned LINE QR Code",
        "Linked LINE Identity"]
U1 = "U" + "1" * 32
U2 = "U" + "2" * 32


@pytest.fixture
def klaviyo(httpx_mock) -> FakeKlaviyo:
    fake = FakeKlaviyo()
    httpx_mock.add_callback(fake, is_reusable=True)
    return fake


# The fake answers whatever is asked; tests that make no request are fine.
pytestmark = pytest.mark.httpx_mock(assert_all_responses_were_requested=False)


def base_env(tmp_path) -> dict:
    config = tmp_path / "linesync.toml"
    config.touch()  # an empty config file: nothing from the developer's own
    return {
        "LINESYNC_KLAVIYO_API_KEY": KEY,
        "LINESYNC_KLAVIYO_BASE_URL": BASE,
        "LINESYNC_STATE_DIR": str(tmp_path),
        "LINESYNC_CONFIG": str(config),
    }


def run(args: list[str], tmp_path, *, terminal: bool = False, columns: int = 110):
    env = {
        **base_env(tmp_path),
        "TZ": "UTC",
        "COLUMNS": str(columns),
        # Rich decides "terminal" from TTY_COMPATIBLE (https://force-color.org/ family).
        "TTY_COMPATIBLE": "1" if terminal else "0",
        "NO_COLOR": None,
        "FORCE_COLOR": None,
    }
    result = CliRunner().invoke(app, ["metrics", "show", *args], env=env)
    assert KEY not in result.stdout + result.stderr
    return result


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def requests_to(httpx_mock, path: str) -> list[httpx.Request]:
    return [r for r in httpx_mock.get_requests() if r.url.path == path]


def clicks_over_four_days(fake: FakeKlaviyo) -> None:
    """Clicks on Nov 1 (two, one person) and Nov 3 (three, two people), Tokyo time; none on Nov 2 and 4."""
    fake.metric("CLK001", "Clicked LINE Message")
    fake.profiles.update({"P1": {"email": "aiko@example.com", "phone_number": None},
                          "P2": {"email": None, "phone_number": "+819012345678"}})
    t = datetime(2026, 11, 1, 9, 0, tzinfo=TOKYO)
    fake.events += [
        Event("E1", "CLK001", t, "P1", {"LINE User ID": U1, "Message ID": "m-1", "URL": "https://shop.example/a"}),
        Event("E2", "CLK001", t + timedelta(hours=5), "P1", {"LINE User ID": U1, "Message ID": "m-1"}),
        Event("E3", "CLK001", t + timedelta(days=2), "P1", {"LINE User ID": U1, "Message ID": "m-2"}),
        Event("E4", "CLK001", t + timedelta(days=2, hours=1), "P2", {"LINE User ID": U2, "Message ID": "m-2"}),
        Event("E5", "CLK001", t + timedelta(days=2, hours=2), "P3", {"LINE User ID": "U" + "3" * 32}),
        # after the range: only in the feed when --until does not limit it
        Event("E6", "CLK001", t + timedelta(days=10), "P1", {"LINE User ID": U1}),
    ]


RANGE = ["--since", "2026-11-01", "--until", "2026-11-05", "--timezone", "Asia/Tokyo"]


# -- series and totals ---------------------------------------------------------

def test_json_series_is_zero_filled_per_day_with_exact_range_unique(klaviyo, httpx_mock, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", *RANGE, "--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["metric"]["id"] == "CLK001" and doc["present"] is True
    assert doc["series"] == [
        {"start": "2026-11-01T00:00:00+09:00", "count": 2, "unique": 1},
        {"start": "2026-11-02T00:00:00+09:00", "count": 0, "unique": 0},
        {"start": "2026-11-03T00:00:00+09:00", "count": 3, "unique": 3},
        {"start": "2026-11-04T00:00:00+09:00", "count": 0, "unique": 0},
    ]
    # Three people, not 1 + 3 = 4: the range fits one calendar month, asked as one bucket.
    assert doc["totals"] == {"count": 5, "unique": 3, "unique_exact": True, "unique_lower_bound": 3}
    bodies = [b["data"]["attributes"] for b in klaviyo.aggregate_bodies]
    assert [(b["interval"], b["measurements"]) for b in bodies] == [("day", ["count", "unique"]), ("month", ["unique"])]
    assert bodies[0]["timezone"] == "Asia/Tokyo"
    assert bodies[0]["filter"] == ["greater-or-equal(datetime,2026-11-01T00:00:00+09:00)",
                                   "less-than(datetime,2026-11-05T00:00:00+09:00)"]
    # --until limits the feed too: E6 (Nov 11) is not in it; newest first
    assert [e["id"] for e in doc["feed"]["events"]] == ["E5", "E4", "E3", "E2", "E1"]
    assert datetime.fromisoformat(doc["feed"]["events"][0]["time"]) == datetime(2026, 11, 3, 2, tzinfo=UTC)
    assert doc["feed"]["events"][-1]["profile"] == {"id": "P1", "email": "aiko@example.com", "phone_number": None}
    assert doc["range"]["timezone"] == "Asia/Tokyo"


def test_range_unique_across_months_is_labelled_not_summed_silently(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    klaviyo.events.append(Event("E0", "CLK001", datetime(2026, 10, 31, 12, tzinfo=TOKYO), "P1", {}))
    result = run(["clicked", "--since", "2026-10-30", "--until", "2026-11-05", "--timezone", "Asia/Tokyo",
                  "--json", "--feed", "0"], tmp_path)
    doc = json.loads(result.stdout)
    assert doc["totals"] == {"count": 6, "unique": 5, "unique_exact": False, "unique_lower_bound": 3}
    assert len(klaviyo.aggregate_bodies) == 1  # no single day or month holds the range
    assert doc["feed"] is None
    piped = run(["clicked", "--since", "2026-10-30", "--until", "2026-11-05", "--timezone", "Asia/Tokyo",
                 "--feed", "0"], tmp_path)
    assert re.search(r"^Unique\s+≥ 3$", piped.stdout, re.M)
    assert re.search(r"^Sum of daily uniques\s+5$", piped.stdout, re.M)


def test_hourly_and_weekly_intervals(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    hourly = json.loads(run(["clicked", "--since", "2026-11-03T08:00:00+09:00", "--until", "2026-11-03T12:00:00+09:00",
                             "--interval", "hour", "--timezone", "Asia/Tokyo", "--json", "--feed", "0"], tmp_path).stdout)
    assert [(s["start"], s["count"]) for s in hourly["series"]] == [
        ("2026-11-03T08:00:00+09:00", 0), ("2026-11-03T09:00:00+09:00", 1),
        ("2026-11-03T10:00:00+09:00", 1), ("2026-11-03T11:00:00+09:00", 1)]
    # one day holds the range: its unique is asked as one daily bucket
    assert hourly["totals"]["unique"] == 3 and hourly["totals"]["unique_exact"] is True
    weekly = json.loads(run(["clicked", *RANGE, "--interval", "week", "--json", "--feed", "0"], tmp_path).stdout)
    assert [(s["start"], s["count"]) for s in weekly["series"]] == [
        ("2026-10-26T00:00:00+09:00", 2), ("2026-11-02T00:00:00+09:00", 3)]


def test_csv_is_the_series_only(klaviyo, httpx_mock, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", *RANGE, "--format", "csv"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "start,count,unique",
        "2026-11-01T00:00:00+09:00,2,1",
        "2026-11-02T00:00:00+09:00,0,0",
        "2026-11-03T00:00:00+09:00,3,3",
        "2026-11-04T00:00:00+09:00,0,0",
    ]
    assert requests_to(httpx_mock, "/api/events") == []  # no feed for csv


# -- terminal and piped --------------------------------------------------------

def test_terminal_draws_a_chart_with_dates_totals_and_the_feed(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", *RANGE], tmp_path, terminal=True, columns=140)
    assert result.exit_code == 0, result.stderr
    assert "\x1b[" in result.stdout  # styled for a terminal
    out = ANSI.sub("", result.stdout)
    rows = [ln for ln in out.splitlines() if "│" in ln and ln[:4] == "2026"]
    assert [r[:14] for r in rows] == ["2026-11-01 Sun", "2026-11-02 Mon", "2026-11-03 Tue", "2026-11-04 Wed"]
    assert rows[1].split("│", 1)[1].split()[:2] == ["0", "0"]  # an empty day is a zero row
    assert "▓" in rows[2] and rows[2].split("│", 1)[1].split()[1:3] == ["3", "3"]
    assert "█ Total" in out and "▓ Unique" in out
    assert re.search(r"Total\s+5\b", out) and re.search(r"Unique\s+3\b", out)
    assert "Busiest  2026-11-03 Tue (3)" in out
    assert "└" in out and "┤" in out  # the count axis
    assert "Clicked LINE Message (CLK001, API): daily from 2026-11-01 00:00:00 JST" in out
    # the feed: a Rich table with local times and profiles
    assert "Recent activity (5 most recent), times in Asia/Tokyo" in out
    assert re.search(r"│ 2026-11-03 11:00:00 │ P3 +│", out)  # E5 at 02:00 UTC
    assert re.search(r"│ +│ U3{32} +│", out)  # the LINE User ID under the profile, unfolded
    assert "aiko@example.com" in out and "+819012345678" in out and "P3" in out
    assert "URL: https://shop.example/a" in out


def test_terminal_output_fits_80_columns_without_breaking_ids(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", *RANGE], tmp_path, terminal=True, columns=80)
    out = ANSI.sub("", result.stdout)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "U" + "1" * 32 in out
    assert re.search(r"^Total +5$", out, re.M)  # totals went under the chart


def test_piped_output_is_plain_tables_with_iso_times(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", *RANGE], tmp_path)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "│" not in out and "█" not in out
    lines = out.splitlines()
    assert lines[0] == ("Clicked LINE Message (CLK001, API): daily from 2026-11-01T00:00:00+09:00 "
                        "to 2026-11-05T00:00:00+09:00")
    assert lines[1].split() == ["Start", "Total", "Unique"]
    assert lines[2].split() == ["2026-11-01T00:00:00+09:00", "2", "1"]
    assert lines[3].split() == ["2026-11-02T00:00:00+09:00", "0", "0"]
    assert re.search(r"^Total\s+5$", out, re.M) and re.search(r"^Unique\s+3$", out, re.M)
    feed = lines[lines.index("Recent activity (5 most recent)") + 1:]
    assert feed[0].split() == ["Time", "Profile", "LINE", "User", "ID", "Properties"]
    assert feed[1].split()[:3] == ["2026-11-03T11:00:00+09:00", "P3", "U" + "3" * 32]


def test_untrusted_event_text_is_escaped_on_a_terminal_and_exact_in_json(klaviyo, tmp_path):
    klaviyo.metric("SNT001", "Sent LINE Message")
    hostile = "[bold red]boom[/] \x1b[2J\x1b]0;pwned\x07"
    klaviyo.profiles["P9"] = {"email": "[link=https://evil.example]x[/link]@example.com", "phone_number": None}
    klaviyo.events.append(Event("E9", "SNT001", datetime(2026, 11, 2, tzinfo=TOKYO), "P9",
                                {"LINE User ID": U1, "Message ID": hostile}))
    term = run(["sent", *RANGE], tmp_path, terminal=True, columns=200)
    assert term.exit_code == 0, term.stderr
    assert "\x1b[2J" not in term.stdout and "\x07" not in term.stdout
    assert "[bold red]boom[/]" in term.stdout  # shown literally, not interpreted
    assert "[link=https://evil.example]x[/link]@example.com" in term.stdout
    doc = json.loads(run(["sent", *RANGE, "--json"], tmp_path).stdout)
    assert doc["feed"]["events"][0]["properties"]["Message ID"] == hostile


# -- resolution ----------------------------------------------------------------

def test_metric_under_two_integrations_uses_the_api_one_and_says_so(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    klaviyo.metric("SHOPCLK", "Clicked LINE Message", integration=SHOPIFY, created="2026-09-01T00:00:00+00:00")
    result = run(["Clicked LINE Message", *RANGE], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "also exists under Shopify (SHOPCLK)" in result.stderr
    assert "showing the API-integration metric CLK001" in result.stderr
    assert {b["data"]["attributes"]["metric_id"] for b in klaviyo.aggregate_bodies} == {"CLK001"}
    doc = json.loads(run(["clicked", *RANGE, "--json"], tmp_path).stdout)
    assert [m["id"] for m in doc["split_with"]] == ["SHOPCLK"]


@pytest.mark.parametrize("name", ["clicked", "CLICKED", "clicked line message", " Clicked  LINE Message "])
def test_short_and_event_names_resolve(klaviyo, tmp_path, name):
    clicks_over_four_days(klaviyo)
    doc = json.loads(run([name, *RANGE, "--json", "--feed", "0"], tmp_path).stdout)
    assert doc["name"] == "Clicked LINE Message"


def test_unknown_metric_is_a_usage_error_listing_valid_names(httpx_mock, tmp_path):
    result = run(["purchased", *RANGE], tmp_path)
    assert result.exit_code == 2
    assert "'purchased' is not a LINE metric" in result.stderr
    assert "sent, delivered, failed, opened, clicked, followed, blocked, qr_scanned, linked" in result.stderr
    assert result.stdout == "" and httpx_mock.get_requests() == []


def test_missing_metric_says_no_event_yet_and_how_to_check(klaviyo, httpx_mock, tmp_path):
    klaviyo.metric("SNT001", "Sent LINE Message")
    result = run(["opened", *RANGE], tmp_path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Opened LINE Message: no event of this kind has arrived yet" in result.stderr
    hint = result.stderr.split("hint:", 1)[1]
    for text in ("linked profiles", "linesync check-link", "trackable link or image", "linesync doctor"):
        assert text in hint
    assert requests_to(httpx_mock, "/api/metric-aggregates") == []
    # a missing non-message metric does not talk about trackable links
    followed = run(["followed", *RANGE], tmp_path)
    assert followed.exit_code == 1 and "trackable" not in followed.stderr
    doc = json.loads(run(["opened", *RANGE, "--json"], tmp_path).stdout)
    assert doc["present"] is False and doc["detail"] == "no event of this kind has arrived yet"
    assert doc["series"] is None and doc["feed"] is None


def test_metric_only_under_another_integration_is_missing_and_named(klaviyo, httpx_mock, tmp_path):
    klaviyo.metric("SHOPCLK", "Clicked LINE Message", integration=SHOPIFY)
    result = run(["clicked", *RANGE], tmp_path)
    assert result.exit_code == 1
    assert ("Clicked LINE Message: no event of this kind has arrived yet under the API integration "
            "(a metric of this name exists under Shopify (SHOPCLK))") in result.stderr
    assert requests_to(httpx_mock, "/api/metric-aggregates") == []


# -- the feed ------------------------------------------------------------------

def test_feed_pages_until_it_has_n_events_newest_first(klaviyo, httpx_mock, tmp_path):
    klaviyo.metric("DLV001", "Delivered LINE Message")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    klaviyo.events += [Event(f"D{i:03}", "DLV001", start + timedelta(minutes=i), f"P{i % 7}", {"LINE User ID": U1})
                       for i in range(450)]
    doc = json.loads(run(["delivered", "--since", "2026-11-01", "--until", "2026-11-02", "--feed", "250", "--json"],
                         tmp_path).stdout)
    feed = doc["feed"]
    assert [e["id"] for e in feed["events"][:2]] == ["D449", "D448"]
    assert len(feed["events"]) == 250 and feed["events"][-1]["id"] == "D200"
    assert feed["more"] is True
    pages = requests_to(httpx_mock, "/api/events")
    assert len(pages) == 2  # 200 + 50 of the second page, then stop
    first = dict(parse_qsl(pages[0].url.query.decode()))
    assert first["page[size]"] == "200" and first["include"] == "profile"
    assert first["fields[profile]"] == "email,phone_number"
    assert first["filter"] == 'equals(metric_id,"DLV001"),less-than(datetime,2026-11-02T00:00:00Z)'
    assert doc["totals"]["count"] == 450


def test_feed_that_takes_every_event_says_there_are_no_more(klaviyo, httpx_mock, tmp_path):
    klaviyo.metric("DLV001", "Delivered LINE Message")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    klaviyo.events += [Event(f"D{i:03}", "DLV001", start + timedelta(minutes=i), "P1") for i in range(200)]
    doc = json.loads(run(["delivered", "--since", "2026-11-01", "--feed", "200", "--json"], tmp_path).stdout)
    assert len(doc["feed"]["events"]) == 200 and doc["feed"]["more"] is False
    assert len(requests_to(httpx_mock, "/api/events")) == 1


def test_small_feed_is_one_small_page_and_default_feed_has_no_date_limit(klaviyo, httpx_mock, tmp_path):
    clicks_over_four_days(klaviyo)
    doc = json.loads(run(["clicked", "--since", "2026-11-01", "--timezone", "Asia/Tokyo", "--feed", "2", "--json"],
                         tmp_path).stdout)
    assert [e["id"] for e in doc["feed"]["events"]] == ["E6", "E5"]
    assert doc["feed"]["more"] is True
    (page,) = requests_to(httpx_mock, "/api/events")
    query = dict(parse_qsl(page.url.query.decode()))
    assert query["page[size]"] == "2" and query["filter"] == 'equals(metric_id,"CLK001")'


def test_no_events_before_until_is_said_not_drawn_as_an_empty_table(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    result = run(["clicked", "--since", "2026-10-01", "--until", "2026-10-05", "--timezone", "Asia/Tokyo"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "no events in this range" in result.stderr and "no recent events before --until" in result.stderr
    assert "Recent activity" not in result.stdout


def test_feed_refused_by_klaviyo_keeps_the_counts(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    klaviyo.events_status = 400
    result = run(["clicked", *RANGE], tmp_path)
    assert result.exit_code == 0
    assert "warning: no activity feed:" in result.stderr and "do not exist" in result.stderr
    assert "2026-11-03T00:00:00+09:00" in result.stdout
    doc = json.loads(run(["clicked", *RANGE, "--json"], tmp_path).stdout)
    assert doc["feed"]["events"] == [] and "do not exist" in doc["feed"]["unavailable"]


# -- options -------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--since", "2026-11-05", "--until", "2026-11-01"], "is not before --until"),
    (["--since", "90d", "--interval", "hour"], "at most 1,000 fit a chart"),
    (["--since", "yesterday"], "--since 'yesterday' is neither a duration"),
    (["--timezone", "Mars/Olympus"], "not an IANA time zone name"),
    (["--feed", "5000"], "--feed"),
    (["--interval", "month"], "--interval"),
])
def test_bad_options_exit_2(httpx_mock, tmp_path, args, message):
    result = run(["clicked", *args], tmp_path)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert httpx_mock.get_requests() == []


def test_kyiv_is_sent_in_klaviyos_spelling_and_durations_start_at_local_midnight(klaviyo, tmp_path):
    clicks_over_four_days(klaviyo)
    doc = json.loads(run(["clicked", "--since", "3d", "--timezone", "Europe/Kyiv", "--json", "--feed", "0"],
                         tmp_path).stdout)
    attrs = klaviyo.aggregate_bodies[0]["data"]["attributes"]
    assert attrs["timezone"] == "Europe/Kiev"
    since = datetime.fromisoformat(doc["range"]["since"])
    assert (since.hour, since.minute, since.second) == (0, 0, 0)
    assert len(doc["series"]) == 4  # three whole days back plus today


def test_metrics_without_subcommand_still_lists_the_nine(klaviyo, tmp_path):
    for i, name in enumerate(NINE):
        klaviyo.metric(f"M{i}", name)
    result = CliRunner().invoke(app, ["metrics", "--json"], env=base_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert [m["name"] for m in json.loads(result.stdout)["metrics"]] == NINE
    assert "show" in CliRunner().invoke(app, ["metrics", "--help"]).stdout


# -- contract ------------------------------------------------------------------

@requires_specs
def test_every_request_validates_against_the_official_spec(klaviyo, httpx_mock, tmp_path):
    clicks_over_four_days(klaviyo)
    for i in range(300):
        klaviyo.events.append(Event(f"X{i}", "CLK001", datetime(2026, 11, 2, tzinfo=UTC) + timedelta(seconds=i), "P1"))
    assert run(["clicked", *RANGE, "--feed", "250"], tmp_path).exit_code == 0
    assert run(["clicked", "--since", "2026-10-30", "--timezone", "Europe/Kyiv", "--interval", "week", "--json"],
               tmp_path).exit_code == 0
    requests = httpx_mock.get_requests()
    assert {r.url.path for r in requests} == {"/api/metrics", "/api/metric-aggregates", "/api/events"}
    assert len(requests_to(httpx_mock, "/api/events")) >= 3  # a followed links.next page included
    assert_all_valid(requests)


def test_an_unknown_metric_name_is_said_before_a_missing_key(tmp_path):
    from tests.support.standin_cli import clean_env, run_cli

    env = clean_env(LINESYNC_STATE_DIR=str(tmp_path), LINESYNC_CONFIG=str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    result = run_cli(["metrics", "show", "foo"], env=env)
    assert result.exit_code == 2
    assert "'foo' is not a LINE metric" in result.stderr
    assert "API key" not in result.stderr
