"""End to end over HTTP against the stand-in Klaviyo and LINE: sync, check, inspect, resolve."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from linesync_cli.api.klaviyo import KlaviyoClient
from linesync_cli.core.linkage import LinkStatus, open_resolver
from tests.support.linkage_helpers import line_id
from tests.support.standin_cli import line_env, run_cli


def test_sync_then_check_then_inspect(klaviyo_standin, line_standin, cli_env):
    s = klaviyo_standin
    taro = s.add_profile(email="taro@example.jp", properties={"LINE User ID": line_id(1), "LINE Follow Status": "following"})
    s.add_profile(email="a@example.jp", properties={"LINE User ID": line_id(2)})
    s.add_profile(email="b@example.jp", properties={"LINE User ID": line_id(2)})
    s.add_profile(email="bad@example.jp", properties={"LINE User ID": "@taro"})
    for n in range(120):  # enough for two pages of 100
        s.add_profile(email=f"nobody{n}@example.jp")
    linked = s.add_metric("Linked LINE Identity")
    clicked = s.add_metric("Clicked LINE Message")
    opened = s.add_metric("Opened Email", integration_name="Klaviyo", integration_category="Internal")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    s.add_event(linked, taro, t0)
    s.add_event(opened, taro, t0 + timedelta(hours=1), {"Subject": "Sale"})
    s.add_event(clicked, taro, t0 + timedelta(hours=2), {"URL": "https://shop.example/a"})
    line_standin.add_user(line_id(1), display_name="Taro")
    env = cli_env | line_env(line_standin)

    sync = run_cli(["links", "sync", "--json"], env=env)
    assert sync.exit_code == 0, sync.stderr
    report = json.loads(sync.stdout)
    assert (report["profiles_read"], report["linked_ids"], report["ambiguous_ids"], report["malformed_values"]) == (
        124, 1, 1, 1)
    again = run_cli(["links", "sync", "--json"], env=env)
    assert json.loads(again.stdout)["run"] == "incremental"

    check = run_cli(["check-link", line_id(1), line_id(2), line_id(3), "--json"], env=env)
    assert check.exit_code == 1
    results = {r["line_user_id"]: r for r in json.loads(check.stdout)["results"]}
    assert results[line_id(1)]["status"] == "linked" and results[line_id(1)]["line"]["status"] == "reachable"
    assert results[line_id(2)]["status"] == "ambiguous"
    assert results[line_id(3)]["line"]["status"] == "not-reachable"

    one = run_cli(["check-link", line_id(1), "--json"], env=env)
    r = json.loads(one.stdout)["results"][0]
    assert r["last_linked_event"]["datetime"] == t0.isoformat()
    assert r["last_line_event"]["metric"]["name"] == "Clicked LINE Message"

    inspect = run_cli(["inspect-profile", "--line-user-id", line_id(1), "--json"], env=env)
    assert inspect.exit_code == 0, inspect.stderr
    assert [(e["channel"], e["metric"]["name"]) for e in json.loads(inspect.stdout)["events"]] == [
        ("LINE", "Linked LINE Identity"), ("Email", "Opened Email"), ("LINE", "Clicked LINE Message")]


def test_external_id_resolver_against_the_standin(klaviyo_standin, tmp_path):
    from tests.support.linkage_helpers import settings
    from tests.support.standin_cli import KLAVIYO_TEST_KEY

    s = klaviyo_standin
    pid = s.add_profile(external_id=line_id(1))
    s.add_profile(external_id=line_id(2))
    s.add_profile(external_id=line_id(2))
    client = KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), s.base_url)
    got = open_resolver(settings(tmp_path, "external_id"), lambda: client).resolve([line_id(n) for n in range(1, 4)])
    assert got[line_id(1)].profile_ids == (pid,)
    assert got[line_id(2)].status is LinkStatus.AMBIGUOUS
    assert got[line_id(3)].status is LinkStatus.UNLINKED
