"""Every doctor check in each of its outcomes, through the CLI against the stand-in servers.

The stand-in fixtures validate every request against the official specs (the test
fails at teardown on a violation), so each scenario here is also a contract test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linesync_cli.catalogue import ACTIONS
from linesync_cli.sandbox.line_insight import JST
from tests.support.linkage_helpers import seed_index
from tests.support.standin_cli import KLAVIYO_TEST_KEY, LINE_TEST_TOKEN, line_env, run_cli

UID = "U4af4980629a1b2c3d4e5f60718293a4b"
OTHER_UID = "U0000000000000000000000000000beef"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "messages"
JSONAPI = "application/vnd.api+json"
SCOPE_403 = {"errors": [{"id": "e1", "status": 403, "code": "permission_denied",
                         "title": "You do not have permission to perform this action.",
                         "detail": "This API key is missing required scopes.", "source": {"pointer": "/data/"}}]}


def doctor(env, *args):
    result = run_cli(["doctor", "--json", *args], env=env)
    assert result.stdout, result.stderr
    doc = json.loads(result.stdout)
    return result, {c["id"]: c for c in doc["checks"]}, doc


def check(env, check_id, *args):
    result, checks, _ = doctor(env, "--only", check_id, *args)
    return checks[check_id], result


def state_dir(env) -> Path:
    return Path(env["LINESYNC_STATE_DIR"])


@pytest.fixture
def healthy(klaviyo_standin, cli_env):
    """All nine LINE metrics with a recent event on a linked profile, and a fresh link index."""
    now = datetime.now(UTC)
    pid = klaviyo_standin.add_profile(email="a@example.com", properties={"LINE User ID": UID})
    metrics = {}
    for action in ACTIONS:
        metrics[action.metric_name] = mid = klaviyo_standin.add_metric(action.metric_name)
        klaviyo_standin.add_event(mid, pid, now - timedelta(hours=1))
    seed_index(state_dir(cli_env), {pid: UID})
    return {"env": cli_env, "pid": pid, "metrics": metrics, "standin": klaviyo_standin}


# -- config ----------------------------------------------------------------------

def test_config_pass(cli_env):
    c, result = check(cli_env, "config")
    assert c["status"] == "pass", c
    assert c["detail"] == "Klaviyo key set (from env), link key property:LINE User ID, state directory writable"
    assert result.exit_code == 0


def test_config_fails_without_a_key_and_stops_the_klaviyo_checks(cli_env, klaviyo_standin):
    result, checks, doc = doctor(cli_env | {"LINESYNC_KLAVIYO_API_KEY": None})
    assert checks["config"]["status"] == "fail"
    assert checks["config"]["detail"] == "no Klaviyo API key is configured"
    assert "LINESYNC_KLAVIYO_API_KEY" in checks["config"]["hint"]
    for cid in ("klaviyo-auth", "klaviyo-scopes", "line-metrics", "metric-split", "recent-events"):
        assert checks[cid]["status"] == "skip", cid
        assert checks[cid]["detail"] == "not checked: Configuration failed: no Klaviyo API key is configured"
    assert checks["open-vs-read"]["status"] == "info"
    assert result.exit_code == 2 == doc["summary"]["exit_code"]
    assert klaviyo_standin.requests == []


def test_config_fails_on_a_malformed_key_without_echoing_it(cli_env):
    result, checks, _ = doctor(cli_env | {"LINESYNC_KLAVIYO_API_KEY": "sk_live_SECRETVALUE"})
    assert checks["config"]["status"] == "fail"
    assert "LINESYNC_KLAVIYO_API_KEY does not look like a Klaviyo private API key" in checks["config"]["detail"]
    assert checks["line-token"]["status"] == "skip"
    assert result.exit_code == 2
    assert "SECRETVALUE" not in result.stdout + result.stderr


def test_config_fails_when_the_state_directory_is_a_file(cli_env, tmp_path):
    blocker = tmp_path / "state-file"
    blocker.write_text("x")
    result, checks, _ = doctor(cli_env | {"LINESYNC_STATE_DIR": str(blocker)}, "--only", "config,klaviyo-auth")
    assert checks["config"]["status"] == "fail"
    assert checks["config"]["detail"] == f"the state directory {blocker} is not a directory"
    assert checks["klaviyo-auth"]["status"] == "pass"  # the key still works: say so
    assert result.exit_code == 2


# -- klaviyo-auth ----------------------------------------------------------------

def test_klaviyo_auth_pass_names_the_account(cli_env, klaviyo_standin):
    klaviyo_standin.set_account(test_account=True)
    c, result = check(cli_env, "klaviyo-auth")
    assert c["status"] == "pass"
    assert c["detail"] == f'key accepted for account "Stand-in Shop" ({klaviyo_standin.account["id"]}), a test account'
    assert c["data"]["timezone"] == "Asia/Tokyo"
    assert result.exit_code == 0


def test_klaviyo_auth_401_fails_with_exit_3_and_one_request(cli_env, klaviyo_standin):
    result, checks, _ = doctor(cli_env | {"LINESYNC_KLAVIYO_API_KEY": "pk_wrong_key_000000000"})
    assert checks["klaviyo-auth"]["status"] == "fail"
    assert "Klaviyo refused the API key (401" in checks["klaviyo-auth"]["detail"]
    assert checks["klaviyo-scopes"]["detail"].startswith("not checked: Klaviyo API key failed: Klaviyo refused")
    assert checks["line-metrics"]["status"] == "skip"
    assert result.exit_code == 3
    assert [r.op for r in klaviyo_standin.requests] == ["get_accounts"]


def test_klaviyo_auth_cloudflare_challenge_is_told_apart(cli_env, klaviyo_standin):
    klaviyo_standin.respond_next("/api/accounts", 403, "<html><body>Just a moment...</body></html>",
                                 headers={"cf-mitigated": "challenge"}, content_type="text/html")
    c, result = check(cli_env, "klaviyo-auth")
    assert c["status"] == "fail"
    assert "Cloudflare challenge" in c["detail"] and "not a missing scope" in c["detail"]
    assert result.exit_code == 3


def test_klaviyo_auth_warns_when_only_accounts_read_is_missing(cli_env, klaviyo_standin):
    klaviyo_standin.respond_next("/api/accounts", 403, SCOPE_403, content_type=JSONAPI)
    result, checks, _ = doctor(cli_env, "--only", "klaviyo-auth,klaviyo-scopes")
    assert checks["klaviyo-auth"]["status"] == "warn"
    assert "lacks the accounts:read scope" in checks["klaviyo-auth"]["detail"]
    # The scope check reuses the one accounts answer instead of asking again (1 request/s, 15/min).
    assert checks["klaviyo-scopes"]["data"]["missing"] == ["accounts:read"]
    assert len(klaviyo_standin.requests_for("get_accounts")) == 1
    assert result.exit_code == 1


# -- klaviyo-scopes --------------------------------------------------------------

def test_klaviyo_scopes_pass_probes_each_scope_cheaply(cli_env, klaviyo_standin):
    c, result = check(cli_env, "klaviyo-scopes")
    assert c["status"] == "pass"
    assert c["detail"].startswith("all 6 read scopes granted (accounts, metrics, events, profiles, segments, flows)")
    assert "events:write and segments:write not checked (only a write would tell" in c["detail"]
    assert c["data"]["not_checked"] == ["events:write", "segments:write"]
    for op in ("get_events", "get_profiles", "get_segments", "get_flows"):
        (req,) = klaviyo_standin.requests_for(op)
        assert req.query["page[size]"] == ["1"]
        assert any(k.startswith("fields[") for k in req.query)
    assert all(r.method == "GET" for r in klaviyo_standin.requests)


def test_klaviyo_scopes_missing_scope_fails_and_names_blocked_commands(cli_env, klaviyo_standin):
    klaviyo_standin.respond_next("/api/events", 403, SCOPE_403, content_type=JSONAPI)
    c, result = check(cli_env, "klaviyo-scopes")
    assert c["status"] == "fail"
    assert c["data"]["missing"] == ["events:read"]
    assert c["detail"].startswith("1 of 6 read scopes missing: events:read blocks inspect-profile")
    assert "grant events:read" in c["hint"]
    assert result.exit_code == 1


# -- line-metrics / metric-split ---------------------------------------------------

def test_line_metrics_pass(healthy):
    c, result = check(healthy["env"], "line-metrics")
    assert c["status"] == "pass"
    assert c["detail"] == "all 9 LINE metrics present under integration API"
    assert len(c["data"]["metrics"]) == 9


def test_line_metrics_warn_lists_missing_ones(cli_env, klaviyo_standin):
    for action in ACTIONS[:7]:
        klaviyo_standin.add_metric(action.metric_name)
    c, result = check(cli_env, "line-metrics")
    assert c["status"] == "warn"
    assert c["detail"] == ("7 of 9 LINE metrics present; no event of this kind has arrived yet for "
                           "Scanned LINE QR Code, Linked LINE Identity")
    assert "check-link" in c["hint"]
    assert result.exit_code == 0


def test_line_metrics_fail_when_none_exists(cli_env, klaviyo_standin):
    klaviyo_standin.add_metric("Placed Order", integration_name="Shopify", integration_category="eCommerce")
    result, checks, _ = doctor(cli_env, "--only", "line-metrics,metric-split,recent-events")
    assert checks["line-metrics"]["status"] == "fail"
    assert "none of the 9 LINE metrics exists under integration API" in checks["line-metrics"]["detail"]
    assert checks["metric-split"]["status"] == "pass"  # runs anyway: nothing split
    assert checks["recent-events"]["status"] == "skip"
    assert result.exit_code == 1


def test_metric_split_warns(healthy):
    standin = healthy["standin"]
    other = standin.add_metric("Clicked LINE Message", integration_name="Shopify", integration_category="eCommerce")
    c, _ = check(healthy["env"], "metric-split")
    assert c["status"] == "warn"
    assert c["detail"] == "1 LINE event name under more than one integration (split metric): Clicked LINE Message"
    assert c["details"] == [f"Clicked LINE Message: API metric {healthy['metrics']['Clicked LINE Message']}; "
                            f"also under Shopify ({other})"]


def test_metric_split_with_no_api_metric(cli_env, klaviyo_standin):
    klaviyo_standin.add_metric("Sent LINE Message", integration_name="Zapier", integration_category="Other")
    c, _ = check(cli_env, "metric-split")
    assert c["status"] == "warn"
    assert c["details"][0].startswith("Sent LINE Message: no API metric; also under Zapier")


def test_metric_split_pass(healthy):
    c, _ = check(healthy["env"], "metric-split")
    assert (c["status"], c["detail"]) == ("pass", "each LINE event name exists under one integration only")


# -- recent-events ----------------------------------------------------------------

def test_recent_events_pass_and_requests(healthy):
    c, _ = check(healthy["env"], "recent-events")
    assert c["status"] == "pass"
    assert c["detail"] == "all 9 LINE metrics had events in the last 24h"
    reqs = healthy["standin"].requests_for("get_events")
    assert len(reqs) == 9
    assert reqs[0].query["sort"] == ["-datetime"] and reqs[0].query["page[size]"] == ["1"]
    assert reqs[0].query["fields[event]"] == ["datetime"]
    assert reqs[0].query["filter"][0].startswith("equals(metric_id,\"")


def test_recent_events_warns_for_quiet_metrics_and_since_widens_the_window(cli_env, klaviyo_standin):
    now = datetime.now(UTC)
    pid = klaviyo_standin.add_profile(email="a@example.com")
    sent = klaviyo_standin.add_metric("Sent LINE Message")
    klaviyo_standin.add_event(sent, pid, now - timedelta(days=3, minutes=5))
    klaviyo_standin.add_metric("Followed LINE Account")  # exists, but its events are gone
    klaviyo_standin.rate_limits_enabled = False  # three runs in a row
    c, result = check(cli_env, "recent-events")
    assert c["status"] == "warn"
    assert c["detail"] == ("2 of 2 LINE metrics had no event in the last 24h: Sent LINE Message (last 3d ago), "
                           "Followed LINE Account (none found)")
    assert result.exit_code == 0
    c, _ = check(cli_env, "recent-events", "--since", "7d")
    assert c["detail"].startswith("1 of 2 LINE metrics had no event in the last 7d: Followed LINE Account")
    c, _ = check(cli_env, "recent-events", "--since", (now - timedelta(days=4)).date().isoformat())
    assert "since 20" in c["detail"]


def test_recent_events_reports_a_metric_klaviyo_cannot_filter(healthy):
    healthy["standin"].respond_next("/api/events", 400, {"errors": [{
        "id": "e", "status": 400, "code": "invalid", "title": "Invalid input.",
        "detail": "Metric IDs ['x'] do not exist.", "source": {"parameter": "filter"}}]}, content_type=JSONAPI)
    c, _ = check(healthy["env"], "recent-events")
    assert c["status"] == "warn"
    assert c["detail"].startswith("could not read the latest event of Sent LINE Message")


def test_recent_events_bad_since_is_a_usage_error(cli_env):
    result = run_cli(["doctor", "--since", "yesterday"], env=cli_env)
    assert result.exit_code == 2
    assert "--since 'yesterday'" in result.stderr


# -- link-index ------------------------------------------------------------------

def test_link_index_pass(healthy):
    c, _ = check(healthy["env"], "link-index")
    assert c["status"] == "pass"
    assert c["detail"].startswith("1 linked LINE ID, synced ")


def test_link_index_fails_when_absent(cli_env):
    c, result = check(cli_env, "link-index")
    assert c["status"] == "fail"
    assert c["detail"].startswith('no link index for property "LINE User ID"')
    assert "linesync links sync" in c["hint"]
    assert result.exit_code == 1


def test_link_index_warns_when_stale_or_ambiguous(cli_env):
    seed_index(state_dir(cli_env), {"P1": UID, "P2": UID, "P3": OTHER_UID},
               when=datetime.now(UTC) - timedelta(days=3))
    c, _ = check(cli_env, "link-index")
    assert c["status"] == "warn"
    assert "last synced 3d ago" in c["detail"]
    assert "1 LINE IDs are on several profiles (ambiguous: never sent)" in c["detail"]
    assert c["data"]["index"]["ambiguous_ids"] == 1


def test_link_index_skips_for_external_id(cli_env):
    c, _ = check(cli_env | {"LINESYNC_LINK_KEY": "external_id"}, "link-index")
    assert c["status"] == "skip"
    assert c["detail"].startswith("the link key is external_id")


# -- linkage ---------------------------------------------------------------------

def test_linkage_skips_without_a_user(cli_env):
    c, _ = check(cli_env, "linkage")
    assert c["status"] == "skip"
    assert c["hint"] == "linesync doctor --line-user-id U..."


def test_linkage_pass_through_the_index(healthy):
    c, _ = check(healthy["env"], "linkage", "--line-user-id", UID)
    assert c["status"] == "pass"
    assert c["detail"] == f"{UID} is linked to profile {healthy['pid']}"
    assert c["data"]["resolved_through"].startswith('link index (property "LINE User ID")')


def test_linkage_fails_for_an_unlinked_user(healthy):
    c, result = check(healthy["env"], "linkage", "--line-user-id", OTHER_UID)
    assert c["status"] == "fail"
    assert c["detail"] == f"{OTHER_UID} is not linked: this customer's LINE actions are not recorded in Klaviyo"
    assert f"linesync check-link {OTHER_UID}" in c["hint"]
    assert result.exit_code == 1


def test_linkage_fails_for_an_ambiguous_user(cli_env):
    seed_index(state_dir(cli_env), {"P1": UID, "P2": UID})
    c, _ = check(cli_env, "linkage", "--line-user-id", UID)
    assert c["status"] == "fail"
    assert c["detail"] == f"{UID} is on 2 profiles (ambiguous): its LINE actions are not sent"
    assert c["data"]["link"]["profile_ids"] == ["P1", "P2"]


def test_linkage_skips_when_there_is_no_index(cli_env):
    c, _ = check(cli_env, "linkage", "--line-user-id", UID)
    assert c["status"] == "skip"
    assert c["detail"].startswith('not checked: Link index failed: no link index for property "LINE User ID"')
    assert "links sync" in c["hint"]  # the link-index line is not in the report: its hint is


def test_linkage_through_external_id(cli_env, klaviyo_standin):
    pid = klaviyo_standin.add_profile(external_id=UID)
    c, _ = check(cli_env | {"LINESYNC_LINK_KEY": "external_id"}, "linkage", "--line-user-id", UID)
    assert (c["status"], c["detail"]) == ("pass", f"{UID} is linked to profile {pid}")


def test_linkage_through_a_link_map(cli_env, tmp_path):
    link_map = tmp_path / "map.csv"
    link_map.write_text(f"line_user_id,profile_id\n{UID},01PROFILEFROMMAP\n", encoding="utf-8")
    c, _ = check(cli_env, "linkage", "--line-user-id", UID, "--link-map", str(link_map))
    assert (c["status"], c["detail"]) == ("pass", f"{UID} is linked to profile 01PROFILEFROMMAP")
    assert c["data"]["resolved_through"].startswith("link map")


@pytest.mark.parametrize("args, message", [
    (["--line-user-id", "@shop"], "--line-user-id '@shop' is not a LINE user ID"),
    (["--link-map", "/nonexistent/map.csv"], "cannot read link map /nonexistent/map.csv"),
])
def test_linkage_usage_errors(cli_env, args, message):
    result = run_cli(["doctor", *args], env=cli_env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


# -- trackable-message / open-vs-read ---------------------------------------------

def test_trackable_message_skips_without_a_file(cli_env):
    c, _ = check(cli_env, "trackable-message")
    assert c["status"] == "skip"


def test_trackable_message_pass_lists_paths(cli_env):
    path = EXAMPLES / "flex-sale.json"
    c, result = check(cli_env, "trackable-message", "--message", str(path))
    assert c["status"] == "pass"
    assert c["detail"] == f"2 trackable links and 1 image in {path} (first: $.contents.hero.url)"
    links = [f["path"] for m in c["data"]["messages"] for f in m["links"]]
    assert links == ["$.contents.hero.action.uri", "$.contents.footer.contents[0].action.uri"]
    table = run_cli(["doctor", "--only", "trackable-message", "-d", "--message", str(path)], env=cli_env)
    assert "link $.contents.footer.contents[0].action.uri = https://shop.example.com/sale [trackable]" in table.stdout


def test_trackable_message_warns_when_nothing_is_trackable(cli_env):
    path = EXAMPLES / "push-no-tracking.json"
    c, result = check(cli_env, "trackable-message", "--message", str(path))
    assert c["status"] == "warn"
    assert c["detail"] == (f"no trackable link or image in {path} (1 link found, none http/https): "
                           "opens and clicks cannot be measured for it")
    assert result.exit_code == 0
    strict = run_cli(["doctor", "--only", "trackable-message", "--strict", "--message", str(path)], env=cli_env)
    assert strict.exit_code == 1
    assert "warnings (--strict): trackable-message" in strict.stderr


def test_trackable_message_notes_messages_without_content(cli_env, tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps([{"type": "text", "text": "Hi!"},
                                json.loads((EXAMPLES / "image.json").read_text())]), encoding="utf-8")
    c, _ = check(cli_env, "trackable-message", "--message", str(body))
    assert c["status"] == "pass"
    assert "1 of 2 messages have none ($[0] text)" in c["detail"]


@pytest.mark.parametrize("content, reason", [
    ('{"type": "flex", ', "is not valid JSON"),
    ('{"hello": "world"}', "expected a LINE message object"),
])
def test_trackable_message_bad_file_is_a_usage_error(cli_env, tmp_path, content, reason):
    path = tmp_path / "msg.json"
    path.write_text(content, encoding="utf-8")
    result = run_cli(["doctor", "--message", str(path)], env=cli_env)
    assert result.exit_code == 2
    assert str(path) in result.stderr and reason in result.stderr


def test_trackable_message_from_stdin(cli_env):
    result = run_cli(["doctor", "--json", "--only", "trackable-message", "--message", "-"], env=cli_env,
                     input=(EXAMPLES / "imagemap.json").read_text())
    c = json.loads(result.stdout)["checks"][0]
    assert c["status"] == "pass" and "in standard input" in c["detail"]


def test_open_vs_read_is_information(cli_env, klaviyo_standin):
    c, result = check(cli_env, "open-vs-read")
    assert c["status"] == "info"
    assert 'not LINE\'s "Read"' in c["detail"]
    assert "linesync report" in c["hint"]
    assert result.exit_code == 0
    assert klaviyo_standin.requests == []


# -- segment-processing ------------------------------------------------------------

def test_segment_processing_skips_without_a_segment(cli_env):
    c, _ = check(cli_env, "segment-processing")
    assert c["status"] == "skip"


def test_segment_processing_pass_with_member(healthy):
    sid = healthy["standin"].add_segment("LINE openers", members=[healthy["pid"]])
    c, _ = check(healthy["env"], "segment-processing", "--segment", sid, "--line-user-id", UID)
    assert c["status"] == "pass"
    assert c["detail"] == f'segment "LINE openers" is active and up to date; profile {healthy["pid"]} ({UID}) is a member'
    assert "not the messaging platform's recipient segments" in c["hint"]
    (req,) = healthy["standin"].requests_for("get_profiles_for_segment")
    assert req.query["filter"] == [f'equals(profile_id,"{healthy["pid"]}")']


def test_segment_processing_warns_while_processing(healthy):
    sid = healthy["standin"].add_segment("LINE openers", is_processing=True, members=[healthy["pid"]])
    c, result = check(healthy["env"], "segment-processing", "--segment", sid, "--line-user-id", UID)
    assert c["status"] == "warn"
    assert c["detail"].startswith('Klaviyo is still recalculating segment "LINE openers"')
    assert c["detail"].endswith("is a member")
    assert f"--segment {sid}" in c["hint"]
    assert result.exit_code == 0


def test_segment_processing_warns_when_not_a_member_or_inactive(healthy):
    sid = healthy["standin"].add_segment("LINE clickers", is_active=False, members=[])
    c, _ = check(healthy["env"], "segment-processing", "--segment", sid, "--line-user-id", UID)
    assert c["status"] == "warn"
    assert 'segment "LINE clickers" is inactive' in c["detail"]
    assert f"profile {healthy['pid']} ({UID}) is not a member" in c["detail"]


def test_segment_processing_unlinked_user(healthy):
    sid = healthy["standin"].add_segment("LINE openers")
    c, _ = check(healthy["env"], "segment-processing", "--segment", sid, "--line-user-id", OTHER_UID)
    assert c["status"] == "warn"
    assert c["detail"] == f"{OTHER_UID} is unlinked, so its LINE events cannot make it a member"


def test_segment_processing_unknown_segment_fails(cli_env):
    c, result = check(cli_env, "segment-processing", "--segment", "NoSuch")
    assert c["status"] == "fail"
    assert c["detail"] == "Klaviyo has no segment with ID NoSuch"
    assert result.exit_code == 1


# -- line-token ------------------------------------------------------------------

def test_line_token_skips_without_a_token(cli_env):
    c, result = check(cli_env, "line-token")
    assert c["status"] == "skip"
    assert "LINESYNC_LINE_CHANNEL_ACCESS_TOKEN" in c["hint"]
    assert result.exit_code == 0


def test_line_token_pass_long_lived(cli_env, line_standin):
    c, _ = check(cli_env | line_env(line_standin), "line-token")
    assert c["status"] == "pass"
    assert c["detail"] == ('token works for bot "Stand-in Shop" (@123abcde, U0f1e2d3c4b5a69788796a5b4c3d2e1f0); '
                           "long-lived token (no practical expiry)")
    assert c["data"]["expires_in"] == 3138007490


def test_line_token_pass_with_an_expiry_date(cli_env, line_standin):
    line_standin.add_token(LINE_TEST_TOKEN, kind="v2.1", expires_in=20 * 86400 + 600)
    c, _ = check(cli_env | line_env(line_standin), "line-token")
    assert c["status"] == "pass"
    assert "(in 20 days)" in c["detail"]
    expires = datetime.fromisoformat(c["data"]["expires_at"])
    assert abs((expires - datetime.now(UTC)) - timedelta(days=20, minutes=10)) < timedelta(minutes=5)


def test_line_token_warns_before_expiry(cli_env, line_standin):
    line_standin.add_token(LINE_TEST_TOKEN, expires_in=2 * 86400 + 60)
    c, result = check(cli_env | line_env(line_standin), "line-token")
    assert c["status"] == "warn"
    assert "(in 2 days)" in c["detail"]
    assert "LINE Developers Console" in c["hint"]
    assert result.exit_code == 0


def test_line_token_refused(cli_env, line_standin):
    env = cli_env | line_env(line_standin) | {"LINESYNC_LINE_CHANNEL_ACCESS_TOKEN": "not-the-token"}
    c, result = check(env, "line-token")
    assert c["status"] == "fail"
    assert c["detail"].startswith("LINE refused the channel access token (401")
    assert result.exit_code == 1


# -- the whole run: JSON shape, table, exit codes, secrets ------------------------------

def test_a_healthy_run(healthy, line_standin, tmp_path):
    env = healthy["env"] | line_env(line_standin)
    # LINE's figure for the Delivered event's JST day is under its privacy threshold: not compared.
    line_standin.insight.set_delivery((datetime.now(UTC) - timedelta(hours=1)).astimezone(JST).date(), apiPush=1)
    # The fact sheet's Flex example, its links tagged for web analytics (utm-links passes).
    tagged = (EXAMPLES / "flex-sale.json").read_text().replace(
        "/sale?utm_source=line", "/sale?utm_source=line&utm_medium=social&utm_campaign=spring").replace(
        '/sale"', '/sale?utm_source=line&utm_medium=social&utm_campaign=spring"')
    message = tmp_path / "flex-sale-tagged.json"
    message.write_text(tagged)
    result, checks, doc = doctor(env, "--line-user-id", UID, "--message", str(message))
    assert result.exit_code == 0, result.stderr
    assert list(checks) == ["config", "klaviyo-auth", "klaviyo-scopes", "line-metrics", "metric-split",
                            "recent-events", "link-index", "linkage", "trackable-message", "utm-links",
                            "open-vs-read", "segment-processing", "line-token", "line-vs-klaviyo"]
    for c in doc["checks"]:
        assert {"id", "title", "status", "detail", "hint"} <= set(c)
    assert checks["linkage"]["row"] == "Events are not recorded in Klaviyo"
    assert {cid: c["status"] for cid, c in checks.items()} == {
        "config": "pass", "klaviyo-auth": "pass", "klaviyo-scopes": "pass", "line-metrics": "pass",
        "metric-split": "pass", "recent-events": "pass", "link-index": "pass", "linkage": "pass",
        "trackable-message": "pass", "utm-links": "pass", "open-vs-read": "info", "segment-processing": "skip", "line-token": "pass",
        "line-vs-klaviyo": "pass",
    }
    assert doc["summary"] == {"pass": 12, "warn": 0, "fail": 0, "skip": 1, "error": 0, "info": 1, "total": 14,
                              "strict": False, "exit_code": 0,
                              "text": "No problems found: 12 checks passed, 1 skipped"}
    # GET /api/accounts (1/s, 15/min) once per run, although two checks use it.
    assert len(healthy["standin"].requests_for("get_accounts")) == 1


def test_table_output_marks_hints_details_and_summary(healthy):
    healthy["standin"].respond_next("/api/flows", 403, SCOPE_403, content_type=JSONAPI)
    result = run_cli(["doctor", "--ci", "--skip", "line-token"], env=healthy["env"])
    lines = result.stdout.splitlines()
    assert lines[0] == ("✓ Configuration (config): Klaviyo key set (from env), link key property:LINE User ID, "
                        "state directory writable")
    assert any(line.startswith("✗ Klaviyo API key scopes (klaviyo-scopes): 1 of 6 read scopes missing") for line in lines)
    assert "    hint: edit the key in Klaviyo > Settings > API keys and grant flows:read" in result.stdout
    assert any(line.startswith("- Customer linkage (linkage): no --line-user-id given") for line in lines)
    assert any(line.startswith("i Opens versus LINE's Read (open-vs-read)") for line in lines)
    assert lines[-1] == "1 check failed (6 passed, 5 skipped)"
    assert "·" not in result.stdout  # details only with -d
    assert "\x1b[" not in result.stdout
    assert result.exit_code == 1
    assert result.stderr.startswith("error: failed checks: klaviyo-scopes")
    detailed = run_cli(["doctor", "-d", "--only", "klaviyo-scopes"], env=healthy["env"])
    assert "    · granted: accounts:read" in detailed.stdout


def test_secrets_never_appear(healthy, line_standin):
    healthy["standin"].rate_limits_enabled = False  # four runs in a row: no 1/s wait for accounts
    env = healthy["env"] | line_env(line_standin)
    for args in (["-d"], ["--json"], ["--format", "csv"], ["-d", "--only", "config"]):
        result = run_cli(["doctor", *args], env=env)
        for secret in (KLAVIYO_TEST_KEY, LINE_TEST_TOKEN):
            assert secret not in result.stdout + result.stderr, args


def test_untrusted_account_text_is_cleaned_for_the_terminal_but_exact_in_json(cli_env, klaviyo_standin):
    name = "[red]Evil[/red]\x1b[2J Shop"
    klaviyo_standin.set_account(contact_information={**klaviyo_standin.account["contact_information"],
                                                     "organization_name": name})
    table = run_cli(["doctor", "--only", "klaviyo-auth"], env=cli_env)
    assert "\x1b" not in table.stdout
    assert "[red]Evil[/red]" in table.stdout  # shown literally, not as markup
    c, _ = check(cli_env, "klaviyo-auth")
    assert c["data"]["organization_name"] == name


def test_csv_output(cli_env):
    result = run_cli(["doctor", "--format", "csv", "--only", "config,open-vs-read"], env=cli_env)
    rows = result.stdout.splitlines()
    assert rows[0] == "id,title,status,detail,hint"
    assert rows[1].startswith("config,Configuration,pass,")
    assert rows[2].startswith("open-vs-read,")


def test_unknown_check_ids_are_a_usage_error(cli_env, klaviyo_standin):
    result = run_cli(["doctor", "--only", "config,linkages"], env=cli_env)
    assert result.exit_code == 2
    assert "--only: unknown check ID linkages" in result.stderr
    assert "valid IDs: config, klaviyo-auth" in result.stderr
    assert klaviyo_standin.requests == []


# -- unavailable Klaviyo (core level: a fake clock instead of real retry waits) ---------

class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


def core_report(standin, tmp_path, only, **options):
    from pydantic import SecretStr

    from linesync_cli.api.http import RetryPolicy
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.config import FIELDS, LoadedSettings, Settings
    from linesync_cli.core.doctor import DoctorOptions, run_doctor

    settings = Settings(klaviyo_api_key=SecretStr(KLAVIYO_TEST_KEY), klaviyo_base_url=standin.base_url,
                        state_dir=tmp_path / "state")
    loaded = LoadedSettings(settings, {f: "env" for f in FIELDS}, tmp_path / "linesync.toml")
    clock = FakeClock()
    client = KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), standin.base_url, sleep=clock.sleep, clock=clock.now,
                           retry=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=0.1))
    try:
        return run_doctor(DoctorOptions(since=datetime.now(UTC) - timedelta(hours=24), **options), only=only,
                          load_settings=lambda: loaded, klaviyo=lambda: client, line=lambda: None)
    finally:
        client.close()


def test_klaviyo_unavailable_fails_auth_with_exit_4(klaviyo_standin, tmp_path):
    klaviyo_standin.fail_next(3, 503, "/api/accounts")
    report = core_report(klaviyo_standin, tmp_path, ["klaviyo-auth", "line-metrics"])
    auth, metrics = (o.result for o in report.outcomes)
    assert auth.status.value == "fail"
    assert auth.detail.startswith("Klaviyo is unavailable: HTTP 503 after 3 attempts")
    assert metrics.status.value == "skip"
    assert int(report.exit_code) == 4
    assert len(klaviyo_standin.requests_for("get_accounts")) == 3  # retried, then one shared failure


def test_klaviyo_scopes_warns_when_a_probe_cannot_tell(klaviyo_standin, tmp_path):
    klaviyo_standin.fail_next(3, 503, "/api/flows")
    (outcome,) = core_report(klaviyo_standin, tmp_path, ["klaviyo-scopes"]).outcomes
    assert outcome.result.status.value == "warn"
    assert outcome.result.detail.startswith("could not check flows:read; the other 5 read scopes are granted")
    assert "flows:read" in outcome.result.data["unknown"]


def test_a_check_that_breaks_mid_run_is_an_error_and_the_rest_go_on(klaviyo_standin, tmp_path):
    klaviyo_standin.add_metric("Sent LINE Message")
    klaviyo_standin.fail_next(3, 500, "/api/events")
    report = core_report(klaviyo_standin, tmp_path, ["line-metrics", "recent-events", "open-vs-read"])
    statuses = {o.check.id: o.result.status.value for o in report.outcomes}
    assert statuses == {"line-metrics": "warn", "recent-events": "error", "open-vs-read": "info"}
    assert "Klaviyo is unavailable" in report.outcomes[1].result.detail
    assert int(report.exit_code) == 1


def test_ci_output_has_no_escape_codes_even_when_colour_is_forced(cli_env):
    env = cli_env | {"NO_COLOR": None, "FORCE_COLOR": "1"}
    coloured = run_cli(["doctor", "--only", "config,open-vs-read"], env=env)
    assert "\x1b[" in coloured.stdout
    plain = run_cli(["doctor", "--ci", "--only", "config,open-vs-read"], env=env)
    assert "\x1b[" not in plain.stdout + plain.stderr
    assert plain.stdout.startswith("✓ Configuration (config): ")


@pytest.mark.parametrize("args", [["doctor", "-v"], ["doctor", "--details"], ["doctor", "-d"], ["-v", "doctor"]])
def test_details_flags(cli_env, args):
    result = run_cli([*args, "--only", "open-vs-read"], env=cli_env)
    assert "    · opens are measured by the messaging platform" in result.stdout
