"""`linesync inspect-profile`: finding the profile, the LINE + email timeline across pages, output."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from linesync_cli.app import app
from tests.support.linkage_helpers import API_KEY, FakeAccount, event, line_id, seed_index
from tests.support.spec import check_contract
from tests.support.standin_cli import clean_env

runner = CliRunner()
LINKED = line_id(0xA1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return clean_env(LINESYNC_KLAVIYO_API_KEY=API_KEY, LINESYNC_STATE_DIR=str(tmp_path / "state"),
                     XDG_CONFIG_HOME=str(tmp_path / "config"))


def when(n: int) -> str:
    return (T0 + timedelta(hours=n)).isoformat()


@pytest.fixture
def account(tmp_path, httpx_mock):
    acct = FakeAccount()
    acct.add_profile("pL", email="taro@example.jp", phone_number="+819012345678", properties={
        "LINE User ID": LINKED, "LINE Display Name": "[red]x[/] \x1b[31mTaro", "LINE Follow Status": "following"})
    acct.add_profile("pE", email="empty@example.jp")
    acct.add_profile("pD1", email="twin@example.jp", external_id="dup")
    acct.add_profile("pD2", email="twin2@example.jp", external_id="dup")
    # 260 events, newest first: LINE and email alternate hour by hour.
    evs = []
    for n in range(260, 0, -1):
        if n % 2:
            evs.append(event(f"e{n}", "mSent" if n % 4 == 1 else "mClick", when(n),
                             **{"Message ID": f"m{n}", "Broadcast ID": "b1", "URL": "https://shop.example/[b]x[/b]"}))
        else:
            evs.append(event(f"e{n}", "mRecv" if n % 4 == 0 else "mOpenE", when(n),
                             Subject=f"Sale {n}", **{"Campaign Name": "Spring"}))
    acct.events["pL"] = evs
    acct.events["pE"] = [event("s2", "mOrder", when(2), **{"$value": 120}), event("s1", "mSms", when(1))]
    seed_index(tmp_path / "state", {"pL": LINKED})
    httpx_mock.add_callback(acct, is_reusable=True)
    return acct


def run(env, *args):
    return runner.invoke(app, ["inspect-profile", *args], env=env)


def test_timeline_interleaves_line_and_email_across_pages(env, account, httpx_mock):
    result = run(env, "--profile-id", "pL", "--limit", "250", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    events = doc["events"]
    assert len(events) == 250 and doc["more"] is True and doc["order"] == "oldest first"
    times = [e["datetime"] for e in events]
    assert times == sorted(times) and times[-1] == when(260)  # the newest 250, oldest first
    channels = [e["channel"] for e in events]
    assert channels[:4] == ["LINE", "Email", "LINE", "Email"]
    line_event = next(e for e in events if e["channel"] == "LINE")
    assert line_event["details"] == {"Message ID": "m11", "Broadcast ID": "b1", "URL": "https://shop.example/[b]x[/b]"}
    email_event = next(e for e in events if e["channel"] == "Email")
    assert email_event["details"] == {"Subject": "Sale 12", "Campaign": "Spring"}
    assert doc["profile"]["line_properties"]["LINE Display Name"] == "[red]x[/] \x1b[31mTaro"  # exact
    ev_requests = [r for r in httpx_mock.get_requests() if r.url.path == "/api/events"]
    assert len(ev_requests) == 2  # 200 + the 50 needed from the second page
    first = dict(ev_requests[0].url.params)
    assert first["filter"] == 'equals(profile_id,"pL"),has(metric)'
    assert first["include"] == "metric" and first["sort"] == "-datetime" and first["page[size]"] == "200"
    check_contract(httpx_mock.get_requests())


def test_line_only_and_reverse(env, account):
    result = run(env, "--email", "taro@example.jp", "--line-only", "--limit", "500", "--reverse", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["events"]) == 130 and doc["more"] is False
    assert {e["channel"] for e in doc["events"]} == {"LINE"}
    assert doc["events"][0]["datetime"] == when(259)  # newest first with --reverse
    assert doc["found_by"] == "email"


def test_small_limit_fetches_one_small_page(env, account, httpx_mock):
    result = run(env, "--profile-id", "pL", "--limit", "3", "--json")
    assert [e["id"] for e in json.loads(result.stdout)["events"]] == ["e258", "e259", "e260"]
    ev_requests = [r for r in httpx_mock.get_requests() if r.url.path == "/api/events"]
    assert len(ev_requests) == 1 and ev_requests[0].url.params["page[size]"] == "3"
    assert "more exist" in " ".join(result.stderr.split())


def test_since_until_filters_and_channels(env, account, httpx_mock):
    result = run(env, "--phone", "+81 90-1234-5678", "--since", "2026-03-11T00:00:00Z", "--until",
                 "2026-03-11T03:00:00Z", "--json")
    assert result.exit_code == 0, result.stderr
    assert [e["datetime"] for e in json.loads(result.stdout)["events"]] == [when(240), when(241), when(242)]
    ev = [r for r in httpx_mock.get_requests() if r.url.path == "/api/events"][0]
    assert ev.url.params["filter"] == ('equals(profile_id,"pL"),has(metric),'
                                       "greater-or-equal(datetime,2026-03-11T00:00:00Z),"
                                       "less-than(datetime,2026-03-11T03:00:00Z)")
    other = json.loads(run(env, "--profile-id", "pE", "--json").stdout)["events"]
    assert [(e["channel"], e["metric"]["name"], e["details"]) for e in other] == [
        ("SMS", "Received SMS", {}), ("other", "Placed Order", {"Value": 120})]
    check_contract(httpx_mock.get_requests())


def test_by_line_user_id_through_the_index(env, account):
    result = run(env, "--line-user-id", LINKED, "--limit", "1", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["profile"]["id"] == "pL" and doc["found_by"].startswith("LINE user ID (link index")
    unlinked = run(env, "--line-user-id", line_id(0xEE))
    assert unlinked.exit_code == 1 and "is not linked to any profile" in unlinked.stderr


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
def test_no_match_several_matches_and_bad_selectors(env, account):
    assert run(env, "--email", "nobody@example.jp").exit_code == 1
    twins = run(env, "--external-id", "dup")
    assert twins.exit_code == 1 and "2 profiles have external_id dup" in twins.stderr
    assert run(env, "--profile-id", "nope").exit_code == 1
    assert run(env).exit_code == 2
    assert run(env, "--email", "a@b.jp", "--profile-id", "pL").exit_code == 2
    assert run(env, "--line-user-id", "@shop123").exit_code == 2
    assert run(env, "--profile-id", "pL", "--since", "yesterday").exit_code == 2


def test_piped_table_and_csv(env, account):
    piped = run(env, "--profile-id", "pL", "--limit", "4")
    assert piped.exit_code == 0
    out = piped.stdout
    assert "\x1b" not in out and "[red]x[/]" in out
    assert "LINE Follow Status" in out and "following" in out
    assert when(257) in out  # ISO times when piped
    assert "Message ID: m257; Broadcast ID: b1; URL: https://shop.example/[b]x[/b]" in out
    rows = list(csv.DictReader(io.StringIO(run(env, "--profile-id", "pL", "--limit", "2", "--format", "csv").stdout)))
    assert [(r["time"], r["channel"], r["event"]) for r in rows] == [
        (when(259), "LINE", "Clicked LINE Message"), (when(260), "Email", "Received Email")]


def test_terminal_output_escapes_and_highlights_line(env, account):
    term = run(dict(env, TTY_COMPATIBLE="1", FORCE_COLOR="1", NO_COLOR=None, COLUMNS="200"),
               "--profile-id", "pL", "--limit", "2", "--timezone", "Asia/Tokyo")
    assert term.exit_code == 0, term.stderr
    out = term.stdout
    assert "[red]x[/]" in out  # markup from the profile is shown, not applied
    assert "\x1b[31mTaro" not in out  # the profile's own escape sequence never reaches the terminal
    assert "[b]x[/b]" in out
    assert "2026-03-12 04:00:00 JST" in out  # when(259) in Tokyo
    assert "\x1b[1;32m" in out  # LINE rows stand out
