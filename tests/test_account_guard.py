"""Two accounts in one config never cross: separate ledgers, and state refused with the wrong key.

Two stand-in Klaviyo accounts (their own keys, account IDs and profiles). The bugs caught: both
accounts sharing one state dir (one ledger for two shops), a ledger or link index silently used
with another account's key, and two first runs at once both binding a state file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from linesync_cli.core.account_guard import AccountRef, bound_account, check_binding, guard_state
from linesync_cli.errors import ConfigError, ExitCode
from linesync_cli.sandbox.klaviyo import KlaviyoStandIn
from tests.support.backfill_data import link_users, write_actions_csv, write_link_map
from tests.support.standin_cli import clean_env, run_cli

KEY_A = "pk_test_shop_a_SECRET_11111111"
KEY_B = "pk_test_shop_b_SECRET_22222222"
BULK = "bulk_create_events"


@pytest.fixture
def two_accounts(tmp_path, monkeypatch):
    a = KlaviyoStandIn(api_key=KEY_A).start()
    b = KlaviyoStandIn(api_key=KEY_B).start()
    a.account["id"], b.account["id"] = "ShopA1", "ShopB2"
    a.account["contact_information"]["organization_name"] = "Shop A"
    b.account["contact_information"]["organization_name"] = "Shop B"
    config = tmp_path / "linesync.toml"
    config.write_text(f"""
[accounts.shop-a]
klaviyo_api_key = "{KEY_A}"
klaviyo_base_url = "{a.base_url}"

[accounts.shop-b]
klaviyo_api_key = "{KEY_B}"
klaviyo_base_url = "{b.base_url}"
""")
    config.chmod(0o600)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    env = clean_env(LINESYNC_CONFIG=str(config), LINESYNC_STATE_DIR=str(tmp_path / "state"))
    try:
        yield a, b, env
    finally:
        a.stop()
        b.stop()


def _backfill_args(tmp_path: Path, standin, tag: str, n: int, start: int = 0) -> list[str]:
    mapping = link_users(standin, 4) if not standin.profiles else {}
    if mapping:
        write_link_map(tmp_path / f"{tag}-map.csv", mapping)
    actions = write_actions_csv(tmp_path / f"{tag}-{start}.csv", n, 4, start=start)
    return ["backfill", str(actions), "--link-map", str(tmp_path / f"{tag}-map.csv"), "--json"]


def _spawn(args: list[str], env: dict) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    full.update({k: v for k, v in env.items() if v is not None})
    return subprocess.Popen([sys.executable, "-m", "linesync_cli", *args], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _events_per_profile_owner(standin) -> set[str]:
    return {e["profile_id"] for e in standin.events}


def test_two_accounts_one_after_the_other_then_at_once_never_cross(two_accounts, tmp_path):
    a, b, env = two_accounts
    state = tmp_path / "state"
    args_a = _backfill_args(tmp_path, a, "a", 40)
    args_b = _backfill_args(tmp_path, b, "b", 24)

    first = run_cli(["--account", "shop-a", *args_a], env=env)
    assert first.exit_code == 0, first.stderr
    second = run_cli(["--account", "shop-b", *args_b], env=env)
    assert second.exit_code == 0, second.stderr
    assert (len(a.events), len(b.events)) == (40, 24)
    assert _events_per_profile_owner(a) <= set(a.profiles) and _events_per_profile_owner(b) <= set(b.profiles)
    assert bound_account(state / "shop-a" / "ledger.sqlite") == AccountRef("ShopA1", "Shop A")
    assert bound_account(state / "shop-b" / "ledger.sqlite") == AccountRef("ShopB2", "Shop B")
    assert not (state / "ledger.sqlite").exists()

    # At once, from two processes: new inputs for each, each process its own account.
    more_a = _backfill_args(tmp_path, a, "a", 60, start=1000)
    more_b = _backfill_args(tmp_path, b, "b", 36, start=1000)
    procs = [_spawn(["--account", "shop-a", *more_a], env), _spawn(["--account", "shop-b", *more_b], env)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    assert (len(a.events), len(b.events)) == (100, 60)
    assert len({e["unique_id"] for e in a.events}) == 100 and len({e["unique_id"] for e in b.events}) == 60
    assert _events_per_profile_owner(a) <= set(a.profiles) and _events_per_profile_owner(b) <= set(b.profiles)
    for account, runs in (("shop-a", 2), ("shop-b", 2)):
        listed = run_cli(["--account", account, "backfill", "runs", "--json"], env=env)
        assert listed.exit_code == 0, listed.stderr
        assert len(json.loads(listed.stdout)["runs"]) == runs


def test_state_used_with_another_accounts_key_is_refused(two_accounts, tmp_path):
    a, b, env = two_accounts
    run = run_cli(["--account", "shop-a", *_backfill_args(tmp_path, a, "a", 8)], env=env)
    assert run.exit_code == 0, run.stderr
    # Shop B's key pointed at shop A's state directory.
    wrong = env | {"LINESYNC_STATE_DIR": str(tmp_path / "state" / "shop-a"),
                   "LINESYNC_CONFIG": str(tmp_path / "empty.toml"),
                   "LINESYNC_KLAVIYO_API_KEY": KEY_B, "LINESYNC_KLAVIYO_BASE_URL": b.base_url}
    (tmp_path / "empty.toml").write_text("")
    refused = run_cli(_backfill_args(tmp_path, b, "b", 8), env=wrong)
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    message = refused.stderr.replace("\n", " ")
    assert "ShopA1" in message and "ShopB2" in message and "Shop A" in message
    assert b.requests_for(BULK) == [] and len(b.events) == 0
    assert KEY_B not in refused.stderr + refused.stdout
    sync = run_cli(["links", "sync"], env=wrong)
    assert sync.exit_code == ExitCode.USAGE and "ShopA1" in sync.stderr.replace("\n", " ")


def test_a_new_link_index_is_bound_before_its_first_page_and_then_refused(two_accounts, tmp_path):
    a, b, env = two_accounts
    link_users(a, 3)
    synced = run_cli(["--account", "shop-a", "links", "sync", "--json"], env=env)
    assert synced.exit_code == 0, synced.stderr
    index = tmp_path / "state" / "shop-a" / "links.sqlite"
    assert bound_account(index) == AccountRef("ShopA1", "Shop A")
    with pytest.raises(ConfigError) as caught:
        guard_state(index.parent, AccountRef("ShopB2", "Shop B"))
    assert "link index" in caught.value.message and "ShopA1" in caught.value.message


def test_check_binding_works_on_any_dbapi_connection_and_binds_once(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    check_binding(conn, AccountRef("A1"), "mirror", tmp_path / "x.db")
    check_binding(conn, AccountRef("A1"), "mirror", tmp_path / "x.db")  # same account: fine, still one row
    assert conn.execute("SELECT COUNT(*) FROM linesync_account").fetchone() == (1,)
    with pytest.raises(ConfigError, match="mirror"):
        check_binding(conn, AccountRef("B2"), "mirror", tmp_path / "x.db")


def test_fleet_views_have_a_row_per_account_from_its_own_state(two_accounts, tmp_path):
    a, b, env = two_accounts
    assert run_cli(["--account", "shop-a", *_backfill_args(tmp_path, a, "a", 12)], env=env).exit_code == 0
    _backfill_args(tmp_path, b, "b", 4)  # shop-b: profiles, but no run yet
    runs = run_cli(["backfill", "runs", "--all-accounts", "--json"], env=env)
    assert runs.exit_code == 0, runs.stderr
    by_account = {row["account"]: row for row in json.loads(runs.stdout)["accounts"]}
    assert [len(by_account[n]["runs"]) for n in ("shop-a", "shop-b")] == [1, 0]
    assert by_account["shop-a"]["runs"][0]["events_sent"] == 12
    assert by_account["shop-b"]["state_dir"] == str(tmp_path / "state" / "shop-b")
    table = run_cli(["backfill", "runs", "--all-accounts"], env=env)
    lines = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert lines["shop-a"][1:3] == ["1", "1"] and lines["shop-b"][1:4] == ["0", "no", "runs"]
    both = run_cli(["--account", "shop-a", "backfill", "runs", "--all-accounts"], env=env)
    assert both.exit_code == 2

    b.api_key = "pk_test_rotated_key_0000000000"  # shop-b's key no longer works: exit 3 for that row
    doctor = run_cli(["doctor", "--all-accounts", "--ci", "--only", "config,klaviyo-auth", "--json"], env=env)
    reports = {r["account"]: r for r in json.loads(doctor.stdout)["accounts"]}
    assert set(reports) == {"shop-a", "shop-b"}
    assert reports["shop-a"]["summary"]["exit_code"] == 0
    assert reports["shop-b"]["summary"]["exit_code"] == ExitCode.AUTH
    assert doctor.exit_code == ExitCode.AUTH and "shop-b" in doctor.stderr
    assert a.requests_for("get_accounts") and b.requests_for("get_accounts")  # each account asked with its own key


def test_the_event_mirror_is_owner_only_and_bound_to_its_account(two_accounts, tmp_path):
    import stat

    a, b, env = two_accounts
    pulled = run_cli(["--account", "shop-a", "events", "pull"], env=env)
    assert pulled.exit_code == 0, pulled.stderr
    mirrors = [p for p in (tmp_path / "state" / "shop-a").iterdir() if p.suffix == ".duckdb"]
    assert mirrors and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in mirrors)
    wrong = env | {"LINESYNC_STATE_DIR": str(tmp_path / "state" / "shop-a"), "LINESYNC_CONFIG": str(tmp_path / "e.toml"),
                   "LINESYNC_KLAVIYO_API_KEY": KEY_B, "LINESYNC_KLAVIYO_BASE_URL": b.base_url}
    (tmp_path / "e.toml").write_text("")
    refused = run_cli(["events", "pull"], env=wrong)
    assert refused.exit_code == ExitCode.USAGE and "event mirror" in refused.stderr
    assert "ShopA1" in refused.stderr.replace("\n", " ")
