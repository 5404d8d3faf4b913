"""`linesync reconcile`: LINE's Insight counts beside Klaviyo's, against both stand-ins.

Every LINE request is validated against insight.yml by the stand-in (the fixture fails
the test on a violation). Days are relative to today in JST, as LINE counts them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from linesync_cli.sandbox.line_insight import JST, jst_today
from tests.support.standin_cli import LINE_TEST_TOKEN, line_env, run_cli

TODAY = jst_today()
FIRST = TODAY - timedelta(days=14)
DELIVERED = [120 + 9 * i for i in range(14)]


def at(day, hour=12, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)


def add_events(klaviyo, name, per_day, first=FIRST, hour=12, properties=None):
    """`per_day[i]` events of metric `name` on JST day first+i (one profile, distinct unique_ids)."""
    metric = klaviyo.metric_by_name(name)
    mid = metric["id"] if metric else klaviyo.add_metric(name)
    profile = klaviyo.add_profile(email=f"{name.split()[0].lower()}@example.com")
    for i, n in enumerate(per_day):
        day = first + timedelta(days=i)
        for j in range(n):
            klaviyo.add_event(mid, profile, at(day, hour) + timedelta(seconds=j), properties,
                              unique_id=f"{name}-{day}-{j}")
    return mid


def seed(klaviyo, line, *, klaviyo_delivered=None, followed=(25,) * 14, blocked=(21,) * 14,
         k_followed=None, k_blocked=None):
    line.seed_insight(FIRST, DELIVERED, list(followed), list(blocked))
    add_events(klaviyo, "Delivered LINE Message", klaviyo_delivered or DELIVERED)
    add_events(klaviyo, "Followed LINE Account", k_followed or list(followed))
    add_events(klaviyo, "Blocked LINE Account", k_blocked or list(blocked))


def reconcile(env, *args):
    return run_cli(["reconcile", *args], env=env)


def as_json(env, *args):
    result = reconcile(env, *args, "--json")
    return result, json.loads(result.stdout)


def by_day(doc):
    return {d["day"]: d for d in doc["days"]}


@pytest.fixture
def env(cli_env, line_standin):
    return cli_env | line_env(line_standin)


def test_an_exact_match_exits_0(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    result, doc = as_json(env)
    assert result.exit_code == 0, result.stderr
    assert doc["range"]["first_day"] == FIRST.isoformat()
    assert doc["range"]["last_day"] == (TODAY - timedelta(days=1)).isoformat()
    assert len(doc["days"]) == 14
    for i, d in enumerate(doc["days"]):
        assert d["delivered"] == {"state": "match", "line": DELIVERED[i], "klaviyo": DELIVERED[i], "ratio": 1.0,
                                  "missing": 0, "note": None}
        assert d["followed"]["line"] == 25 and d["followed"]["state"] == "match"
        assert d["blocked"]["line"] == 21 and d["blocked"]["state"] == "match"
    assert doc["summary"]["short_days"] == []
    assert doc["summary"]["text"].startswith("no short day: Klaviyo holds LINE's counts on all 14 compared days")
    # One request per day and endpoint, followers also for the day before (its change needs it).
    assert len(line_standin.requests_for("getNumberOfMessageDeliveries")) == 14
    followers = line_standin.requests_for("getNumberOfFollowers")
    assert [r.query["date"][0] for r in followers][0] == (FIRST - timedelta(days=1)).strftime("%Y%m%d")
    assert len(followers) == 15


def test_a_two_day_klaviyo_outage_is_named_with_dates_and_size(env, klaviyo_standin, line_standin):
    stored = list(DELIVERED)
    stored[6], stored[7] = 0, 40  # day 7 nothing arrived, day 8 a third
    seed(klaviyo_standin, line_standin, klaviyo_delivered=stored)
    result = reconcile(env)
    assert result.exit_code == 1
    day6, day7 = FIRST + timedelta(days=6), FIRST + timedelta(days=7)
    missing = DELIVERED[6] + DELIVERED[7] - 40
    summary = (f"Klaviyo is short on 2 of 14 days ({day6} to {day7}): first and worst {day6} "
               f"(0 of {DELIVERED[6]} delivered); {missing} Delivered LINE Message events missing in all")
    assert summary in result.stdout.splitlines()
    assert result.stderr.splitlines()[-2] == f"error: 2 short days ({day6} to {day7})"
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line[:4].isdigit()}
    assert rows[str(day7)].split()[1:4] == [str(DELIVERED[7]), "40", f"{40 / DELIVERED[7] * 100:.1f}%"]
    assert rows[str(day7)].endswith("SHORT delivered")
    assert rows[str(FIRST)].endswith("ok")
    doc = json.loads(reconcile(env, "--json").stdout)
    assert doc["summary"]["short_days"] == [str(day6), str(day7)]
    assert doc["summary"]["missing_delivered"] == missing


def test_the_worst_day_is_the_lowest_ratio_not_the_first(env, klaviyo_standin, line_standin):
    stored = list(DELIVERED)
    stored[2], stored[9] = stored[2] // 2, 0
    seed(klaviyo_standin, line_standin, klaviyo_delivered=stored)
    doc = json.loads(reconcile(env, "--json").stdout)
    assert doc["summary"]["first_short_day"] == str(FIRST + timedelta(days=2))
    assert doc["summary"]["worst_short_day"] == str(FIRST + timedelta(days=9))
    assert doc["summary"]["text"].startswith(
        f"Klaviyo is short on 2 of 14 days ({FIRST + timedelta(days=2)}, {FIRST + timedelta(days=9)}): "
        f"first {FIRST + timedelta(days=2)} ({stored[2]} of {DELIVERED[2]} delivered), "
        f"worst {FIRST + timedelta(days=9)} (0 of {DELIVERED[9]} delivered)")


def test_within_tolerance_is_not_short_and_tolerance_is_an_option(env, klaviyo_standin, line_standin):
    stored = list(DELIVERED)
    stored[3] -= 2  # 2 of 147: 1.4 %
    seed(klaviyo_standin, line_standin, klaviyo_delivered=stored)
    result, doc = as_json(env)
    assert result.exit_code == 0
    assert by_day(doc)[str(FIRST + timedelta(days=3))]["delivered"]["state"] == "within"
    strict = reconcile(env, "--tolerance", "1%")
    assert strict.exit_code == 1


def test_an_unready_day_is_shown_as_such_never_as_0_or_a_gap(env, klaviyo_standin, line_standin):
    stored = list(DELIVERED)
    stored[13] = 10  # Klaviyo has little of the last day so far: not a gap while LINE has not counted it
    seed(klaviyo_standin, line_standin, klaviyo_delivered=stored)
    last = FIRST + timedelta(days=13)
    line_standin.insight.unready_days.add(last)
    result, doc = as_json(env)
    assert result.exit_code == 0, result.stdout
    d = by_day(doc)[str(last)]
    assert d["delivered"]["state"] == "unready" and d["delivered"]["line"] is None
    assert d["followed"]["state"] == "unready"
    assert d["short"] is False
    table = reconcile(env).stdout
    row = next(line for line in table.splitlines() if line.startswith(str(last)))
    assert row.split()[1] == "unready" and "LINE not counted yet (unready)" in row


def test_a_privacy_threshold_day_is_withheld_not_0(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    quiet = FIRST + timedelta(days=4)
    line_standin.insight.set_delivery(quiet, apiPush=12)  # fewer than 20: LINE answers nulls
    result, doc = as_json(env)
    d = by_day(doc)[str(quiet)]
    assert d["delivered"]["state"] == "privacy" and d["delivered"]["line"] is None
    assert d["line_delivered_by_type"] == {"apiPush": None}
    assert result.exit_code == 0  # Klaviyo's 156 events there are not compared with a withheld figure
    row = next(line for line in reconcile(env).stdout.splitlines() if line.startswith(str(quiet)))
    assert row.split()[1:3] == ["privacy", "<20"]


def test_days_before_the_account_are_shown_as_such(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    line_standin.insight.account_first_day = FIRST + timedelta(days=3)
    result, doc = as_json(env)
    days = by_day(doc)
    assert [days[str(FIRST + timedelta(days=i))]["delivered"]["state"] for i in range(4)] == \
        ["out_of_service"] * 3 + ["match"]
    # The account's first day: LINE's totals so far are that day's change.
    assert days[str(FIRST + timedelta(days=3))]["followed"]["line"] == 1000 + 4 * 25
    assert doc["summary"]["states"]["out_of_service"] == 3


def test_a_jst_day_across_two_utc_days(env, klaviyo_standin, line_standin):
    day = FIRST + timedelta(days=5)
    line_standin.insight.set_delivery(day, apiPush=40)
    mid = klaviyo_standin.add_metric("Delivered LINE Message")
    profile = klaviyo_standin.add_profile(email="tz@example.com")
    # 00:30 JST is the previous UTC day (15:30Z), 23:30 JST is this UTC day (14:30Z).
    for j in range(20):
        klaviyo_standin.add_event(mid, profile, at(day, 0, 30) + timedelta(seconds=j), unique_id=f"early-{j}")
        klaviyo_standin.add_event(mid, profile, at(day, 23, 30) + timedelta(seconds=j), unique_id=f"late-{j}")
    assert at(day, 0, 30).astimezone(UTC).date() == day - timedelta(days=1)
    assert at(day, 23, 30).astimezone(UTC).date() == day
    result, doc = as_json(env)
    days = by_day(doc)
    assert days[str(day)]["delivered"] == {"state": "match", "line": 40, "klaviyo": 40, "ratio": 1.0, "missing": 0,
                                           "note": None}
    assert days[str(day - timedelta(days=1))]["delivered"]["klaviyo"] == 0
    body = klaviyo_standin.requests_for("query_metric_aggregates")[0].body["data"]["attributes"]
    assert body["timezone"] == "Asia/Tokyo" and body["interval"] == "day"


def test_a_zone_that_is_not_utc_plus_9_is_refused_before_any_call(env, klaviyo_standin, line_standin):
    result = reconcile(env, "--timezone", "Europe/London")
    assert result.exit_code == 2
    assert "LINE counts its days in JST (UTC+9)" in result.stderr
    assert not klaviyo_standin.requests and not line_standin.requests
    seoul = reconcile(env, "--timezone", "Asia/Seoul")
    assert seoul.exit_code == 0, seoul.stderr


def test_a_token_without_insight_access_exits_3_naming_the_permission(env, klaviyo_standin, line_standin):
    line_standin.insight.no_access_tokens.add(LINE_TEST_TOKEN)
    result = reconcile(env)
    assert result.exit_code == 3
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: LINE refused GET /v2/bot/insight/followers (403: Access to this API is not "
                            "available for your account)")
    assert "lacks access to the account's statistics (Messaging API Insight)" in first
    assert LINE_TEST_TOKEN not in result.stderr + result.stdout
    # The first refusal stops the run.
    assert len(line_standin.requests_for("getNumberOfFollowers")) == 1
    assert not line_standin.requests_for("getNumberOfMessageDeliveries")
    assert not klaviyo_standin.requests


def test_no_line_token_exits_2_with_how_to_set_it(cli_env, klaviyo_standin):
    result = reconcile(cli_env)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == ("error: no LINE channel access token is configured: reconcile needs "
                                             "LINE's own counts")
    assert "LINESYNC_LINE_CHANNEL_ACCESS_TOKEN" in result.stderr
    assert not klaviyo_standin.requests


@pytest.mark.parametrize(("args", "said"), [
    (["--since", "400d"], "the range is 400 days; Klaviyo's metric aggregates serve at most 366 days per query"),
    (["--since", "2025-01-01", "--until", "2025-02-01"], "at most 365 days back"),
    (["--tolerance", "abc"], "--tolerance 'abc' is not a percentage"),
    (["--tolerance", "2"], "hint: write --tolerance 2% (or 0.02)"),
    (["--unit", "promo", "--since", "45d"], "LINE serves a custom aggregation unit for at most 31 days"),
    (["--unit", "bad-name!"], "is not a custom aggregation unit name"),
])
def test_ranges_and_options_beyond_what_the_apis_serve_are_refused_before_any_call(
        env, klaviyo_standin, line_standin, args, said):
    result = reconcile(env, *args)
    assert result.exit_code == 2, result.stdout
    assert said in result.stderr
    assert not klaviyo_standin.requests and not line_standin.requests


def test_future_days_are_a_line_each_and_cost_no_line_request(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    until = (TODAY + timedelta(days=3)).isoformat()
    result, doc = as_json(env, "--since", FIRST.isoformat(), "--until", until)
    days = by_day(doc)
    assert [days[str(TODAY + timedelta(days=i))]["delivered"]["state"] for i in range(3)] == ["future"] * 3
    assert result.exit_code == 0
    asked = {r.query["date"][0] for r in line_standin.requests_for("getNumberOfMessageDeliveries")}
    assert TODAY.strftime("%Y%m%d") not in asked and len(asked) == 14


def test_a_day_line_refuses_is_a_row_error_and_the_rest_goes_on(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    line_standin.respond_next("/v2/bot/insight/message/delivery", 400, {"message": "Invalid date"})
    result, doc = as_json(env)
    days = by_day(doc)
    assert days[str(FIRST)]["delivered"]["state"] == "error"
    assert "Invalid date" in days[str(FIRST)]["delivered"]["note"]
    assert all(days[str(FIRST + timedelta(days=i))]["delivered"]["state"] == "match" for i in range(1, 14))
    assert result.exit_code == 0


def test_429_and_5xx_from_line_are_retried(env, klaviyo_standin, line_standin, fast_retries):
    seed(klaviyo_standin, line_standin)
    line_standin.fail_next(2, 503, path_prefix="/v2/bot/insight/followers")
    line_standin.respond_next("/v2/bot/insight/message/delivery", 429,
                              {"message": "The API rate limit has been exceeded. Try again later."})
    result, doc = as_json(env)
    assert result.exit_code == 0, result.stderr
    assert all(d["delivered"]["state"] == "match" for d in doc["days"])


def test_details_split_send_types_and_csv_has_one_row_per_day(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    day = FIRST + timedelta(days=2)
    line_standin.insight.set_delivery(day, apiPush=DELIVERED[2] - 30, broadcast=30)
    result = reconcile(env, "--details", "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0].split(",")[-2:] == ["type_broadcast", "type_apiPush"]
    assert len(lines) == 15
    row = next(line for line in lines if line.startswith(str(day)))
    assert row.endswith(f",30,{DELIVERED[2] - 30}")
    assert row.split(",")[1:4] == ["match", str(DELIVERED[2]), str(DELIVERED[2])]


def test_follows_more_in_klaviyo_is_expected_fewer_is_short(env, klaviyo_standin, line_standin):
    k_followed = [25] * 14
    k_followed[1] = 31  # re-follows after unblocks
    k_followed[8] = 10  # follows lost
    seed(klaviyo_standin, line_standin, k_followed=k_followed)
    result, doc = as_json(env)
    days = by_day(doc)
    assert days[str(FIRST + timedelta(days=1))]["followed"]["state"] == "over"
    assert "re-follow" in days[str(FIRST + timedelta(days=1))]["followed"]["note"]
    assert days[str(FIRST + timedelta(days=8))]["followed"]["state"] == "short"
    assert doc["summary"]["short_days"] == [str(FIRST + timedelta(days=8))]
    assert result.exit_code == 1


def test_finished_days_are_kept_so_a_second_run_asks_line_only_for_the_rest(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    last = FIRST + timedelta(days=13)
    line_standin.insight.unready_days.add(last)
    first_run = json.loads(reconcile(env, "--json").stdout)
    assert first_run["line_calls"] == 29
    line_standin.insight.unready_days.clear()
    line_standin.requests.clear()
    again, doc = as_json(env)
    asked = [(r.op, r.query["date"][0]) for r in line_standin.requests if r.op != "getBotInfo"]
    # Only the day LINE had not finished is asked again; it is ready now.
    assert sorted(asked) == [("getNumberOfFollowers", last.strftime("%Y%m%d")),
                             ("getNumberOfMessageDeliveries", last.strftime("%Y%m%d"))]
    assert by_day(doc)[str(last)]["delivered"]["state"] == "match"
    assert [d["delivered"] for d in doc["days"][:13]] == [d["delivered"] for d in first_run["days"][:13]]
    line_standin.requests.clear()
    refreshed = json.loads(reconcile(env, "--refresh", "--json").stdout)
    assert refreshed["line_calls"] == 29
    # Another LINE channel (another bot) never reads this one's figures.
    line_standin.bot["userId"] = "U" + "9" * 32
    assert json.loads(reconcile(env, "--json").stdout)["line_calls"] == 29


def test_json_is_one_object_with_the_day_basis(env, klaviyo_standin, line_standin):
    seed(klaviyo_standin, line_standin)
    result, doc = as_json(env)
    assert isinstance(doc, dict)
    assert doc["range"]["day_basis"] == "JST (UTC+9) calendar days, as LINE counts"
    assert doc["days"][0]["line_date"] == FIRST.strftime("%Y%m%d")
    assert doc["line_calls"] == 29


# -- per send -------------------------------------------------------------------------

REQUEST_ID = "f70dd685-499a-4231-a441-f24b8d4fba21"


def per_send_events(klaviyo, key, delivered, opened, clicked, sent_at, prop="Broadcast ID"):
    profiles = [klaviyo.add_profile(email=f"p{i}@example.com") for i in range(max(delivered, opened, clicked))]
    for name, n in (("Delivered LINE Message", delivered), ("Opened LINE Message", opened),
                    ("Clicked LINE Message", clicked)):
        metric = klaviyo.metric_by_name(name)
        mid = metric["id"] if metric else klaviyo.add_metric(name)
        for i in range(n):
            klaviyo.add_event(mid, profiles[i], sent_at + timedelta(minutes=5 + i), {prop: key},
                              unique_id=f"{name}-{key}-{i}")
            if name == "Clicked LINE Message":  # a second click by the same person counts once
                klaviyo.add_event(mid, profiles[i], sent_at + timedelta(hours=2, minutes=i), {prop: key},
                                  unique_id=f"{name}-{key}-{i}-again")


def test_request_id_compares_uniques_and_explains_impressions(env, klaviyo_standin, line_standin):
    sent = datetime.now(JST).replace(microsecond=0) - timedelta(days=3)
    line_standin.insight.add_message_event(REQUEST_ID, sent, delivered=60, unique_impression=48, unique_click=22)
    per_send_events(klaviyo_standin, REQUEST_ID, delivered=60, opened=25, clicked=22, sent_at=sent)
    per_send_events(klaviyo_standin, "other-send", delivered=30, opened=0, clicked=0, sent_at=sent)
    result, doc = as_json(env, "--request-id", REQUEST_ID, "--request-id", "0000-unknown")
    assert result.exit_code == 1  # the unknown one could not be checked; the known one still is
    assert "error: 1 of 2 sends could not be checked: 0000-unknown" in result.stderr
    send, unknown = doc["sends"]
    assert send["line"] == {"delivered": 60, "unique_impression": 48, "unique_click": 22, "unique_media_played": None}
    assert send["klaviyo_unique"] == {"delivered": 60, "opened": 25, "clicked": 22}
    assert send["delivered"]["state"] == "match"
    assert unknown["problem"].startswith("LINE has no figures for this request ID")
    assert unknown["klaviyo_unique"] == {}
    assert "LINE's impressions and the platform's Opened are different measurements" in result.stderr
    assert doc["klaviyo_source"] == "Get Events"


def test_a_short_send_exits_1_and_match_property_chooses_the_column(env, klaviyo_standin, line_standin):
    sent = datetime.now(JST).replace(microsecond=0) - timedelta(days=2)
    line_standin.insight.add_message_event(REQUEST_ID, sent, delivered=80, unique_impression=50, unique_click=20)
    per_send_events(klaviyo_standin, REQUEST_ID, delivered=50, opened=10, clicked=20, sent_at=sent,
                    prop="Message ID")
    unmatched = reconcile(env, "--request-id", REQUEST_ID, "--json")
    assert json.loads(unmatched.stdout)["sends"][0]["klaviyo_unique"]["delivered"] == 0
    result = reconcile(env, "--request-id", REQUEST_ID, "--match-property", "Message ID")
    assert result.exit_code == 1
    assert f"error: Klaviyo is short for 1 of 1 sends: {REQUEST_ID} (50 of 80 delivered)" in result.stderr


def test_unit_shows_that_line_serves_no_delivered_count(env, klaviyo_standin, line_standin):
    first = TODAY - timedelta(days=10)
    line_standin.insight.add_unit("Promotion_a", first, first + timedelta(days=2), unique_impression=40,
                                  unique_click=25)
    per_send_events(klaviyo_standin, "Promotion_a", delivered=45, opened=30, clicked=25, sent_at=at(first, 10),
                    prop="Workflow ID")
    result = reconcile(env, "--unit", "Promotion_a", "--since", "10d", "--match-property", "Workflow ID")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("Promotion_a"))
    assert "not served for units" in row and "info only" in row
    asked = line_standin.requests_for("getStatisticsPerUnit")[0].query
    assert asked["from"] == [first.strftime("%Y%m%d")] and asked["customAggregationUnit"] == ["Promotion_a"]


# -- doctor line-vs-klaviyo ------------------------------------------------------------

def doctor_check(env):
    result = run_cli(["doctor", "--only", "line-vs-klaviyo", "--json"], env=env)
    return result, json.loads(result.stdout)["checks"][0]


def seed_week(klaviyo, line, stored):
    first = TODAY - timedelta(days=7)
    line.seed_insight(first, [100] * 7, [0] * 7, [0] * 7)
    add_events(klaviyo, "Delivered LINE Message", stored, first=first)


def test_doctor_passes_when_the_last_7_days_match(env, klaviyo_standin, line_standin):
    seed_week(klaviyo_standin, line_standin, [100] * 7)
    result, c = doctor_check(env)
    assert c["status"] == "pass", c
    assert c["detail"] == "Klaviyo holds LINE's counts on all 7 compared days of the last 7 (JST)"
    assert result.exit_code == 0


def test_doctor_warns_within_the_tolerance_band(env, klaviyo_standin, line_standin):
    seed_week(klaviyo_standin, line_standin, [100, 100, 99, 100, 100, 100, 100])
    _, c = doctor_check(env)
    assert c["status"] == "warn"
    assert c["detail"] == "Klaviyo holds slightly fewer than LINE (within 2%) on 1 of the last 7 days"
    assert f"slightly fewer: {TODAY - timedelta(days=5)}" in c["details"]
    assert c["hint"] == "linesync reconcile --since 7d"


def test_doctor_fails_on_short_days(env, klaviyo_standin, line_standin):
    seed_week(klaviyo_standin, line_standin, [100, 100, 0, 0, 100, 100, 100])
    result, c = doctor_check(env)
    assert c["status"] == "fail"
    assert c["detail"].startswith(f"Klaviyo is short on 2 of 7 days ({TODAY - timedelta(days=5)} to "
                                  f"{TODAY - timedelta(days=4)}): first and worst {TODAY - timedelta(days=5)}")
    assert c["data"]["short_days"] == [str(TODAY - timedelta(days=5)), str(TODAY - timedelta(days=4))]
    assert result.exit_code == 1


def test_doctor_skips_without_a_line_token(cli_env, klaviyo_standin):
    _, c = doctor_check(cli_env)
    assert c["status"] == "skip"
    assert "LINESYNC_LINE_CHANNEL_ACCESS_TOKEN" in c["hint"]


def test_doctor_fails_naming_the_permission_on_403(env, klaviyo_standin, line_standin):
    line_standin.insight.no_access_tokens.add(LINE_TEST_TOKEN)
    _, c = doctor_check(env)
    assert c["status"] == "fail"
    assert "lacks access to the account's statistics (Messaging API Insight)" in c["detail"]


def test_request_id_reads_the_event_mirror_when_it_covers_the_send(env, klaviyo_standin, line_standin):
    sent = datetime.now(JST).replace(microsecond=0) - timedelta(days=20)
    line_standin.insight.add_message_event(REQUEST_ID, sent, delivered=60, unique_impression=48, unique_click=22)
    per_send_events(klaviyo_standin, REQUEST_ID, delivered=60, opened=25, clicked=22, sent_at=sent)
    pulled = run_cli(["events", "pull", "--since", "30d"], env=env)
    assert pulled.exit_code == 0, pulled.stderr
    klaviyo_standin.requests.clear()
    result, doc = as_json(env, "--request-id", REQUEST_ID)
    assert result.exit_code == 0, result.stderr
    assert doc["klaviyo_source"] == "event mirror"
    assert doc["sends"][0]["klaviyo_unique"] == {"delivered": 60, "opened": 25, "clicked": 22}
    assert not klaviyo_standin.requests_for("get_events")


def test_a_mirror_that_has_not_read_the_window_is_not_trusted(env, klaviyo_standin, line_standin):
    sent = datetime.now(JST).replace(microsecond=0) - timedelta(days=5)
    line_standin.insight.add_message_event(REQUEST_ID, sent, delivered=60, unique_impression=48, unique_click=22)
    per_send_events(klaviyo_standin, REQUEST_ID, delivered=60, opened=25, clicked=22, sent_at=sent)
    assert run_cli(["events", "pull", "--since", "1d"], env=env).exit_code == 0
    result, doc = as_json(env, "--request-id", REQUEST_ID)
    assert doc["klaviyo_source"] == "Get Events"
    assert doc["klaviyo_source_note"].startswith("the event mirror has not read Delivered LINE Message for all of")
    assert doc["sends"][0]["klaviyo_unique"] == {"delivered": 60, "opened": 25, "clicked": 22}
    assert "`linesync events pull` fills the mirror" in result.stderr
