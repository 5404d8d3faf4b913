"""Named accounts: choice by precedence, per-account settings and state, key_command, listings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from linesync_cli.accounts import run_key_command
from linesync_cli.config import list_accounts, load_settings
from linesync_cli.errors import ConfigError, ExitCode
from tests.support.standin_cli import clean_env, run_cli

KEY_A = "pk_shop_a_0123456789"
KEY_B = "pk_shop_b_9876543210"
KEY_TOP = "pk_top_level_5555555555"


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "linesync.toml"
    path.write_text(f"""
default_account = "shop-a"
link_key = "property:LINE User ID"
klaviyo_api_key = "{KEY_TOP}"
klaviyo_revision = "2026-01-15"

[accounts.shop-a]
klaviyo_api_key = "{KEY_A}"

[accounts.shop-b]
klaviyo_api_key = "{KEY_B}"
link_key = "property:LINE User ID 2"
state_dir = "{tmp_path / 'b-own'}"
{extra}
""")
    path.chmod(0o600)
    return path


def _load(tmp_path, config, environ: dict | None = None, account=None, flags=None, dotenv=""):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    (cwd / ".env").write_text(dotenv)
    env = {"LINESYNC_STATE_DIR": str(tmp_path / "state")} | (environ or {})
    env = {k: v for k, v in env.items() if v is not None}
    return load_settings(flags or {}, config, env, cwd, account=account)


def test_default_account_its_settings_and_its_own_state_dir(tmp_path):
    loaded = _load(tmp_path, _config(tmp_path))
    s = loaded.settings
    assert (loaded.account, loaded.account_source) == ("shop-a", "default_account")
    assert s.klaviyo_api_key is not None and s.klaviyo_api_key.get_secret_value() == KEY_A
    assert s.klaviyo_revision == "2026-01-15"  # top level is shared by the accounts
    assert s.state_dir == tmp_path / "state" / "shop-a"
    assert loaded.sources["klaviyo_api_key"].endswith("[accounts.shop-a]")


def test_account_precedence_flag_env_dotenv_default(tmp_path):
    config = _config(tmp_path)
    assert _load(tmp_path, config, dotenv="LINESYNC_ACCOUNT=shop-b\n").account_source == ".env"
    env = {"LINESYNC_ACCOUNT": "shop-b"}
    assert _load(tmp_path, config, env, dotenv="LINESYNC_ACCOUNT=shop-a\n").account == "shop-b"
    flagged = _load(tmp_path, config, env | {"LINESYNC_ACCOUNT": "shop-a", "LINESYNC_STATE_DIR": None},
                    account="shop-b")
    assert (flagged.account, flagged.account_source) == ("shop-b", "flag")
    s = flagged.settings
    assert s.link_key == "property:LINE User ID 2"
    assert s.state_dir == tmp_path / "b-own"  # the account's own state_dir is used as given...
    assert s.klaviyo_api_key is not None and s.klaviyo_api_key.get_secret_value() == KEY_B


def test_within_the_account_flag_and_env_still_win(tmp_path):
    config = _config(tmp_path)
    loaded = _load(tmp_path, config, {"LINESYNC_LINK_KEY": "external_id"}, account="shop-b",
                   flags={"state_dir": tmp_path / "flagged"})
    assert loaded.settings.link_key == "external_id" and loaded.sources["link_key"] == "env"
    assert loaded.settings.state_dir == tmp_path / "flagged" / "shop-b"  # ...a flag is the root of all accounts


def test_an_account_never_inherits_the_top_level_key(tmp_path):
    config = tmp_path / "linesync.toml"
    config.write_text(f'klaviyo_api_key = "{KEY_TOP}"\n[accounts.bare]\nlink_key = "external_id"\n')
    loaded = _load(tmp_path, config, account="bare")
    assert loaded.settings.klaviyo_api_key is None and not loaded.settings.has_klaviyo_key
    # Without an account the top level is the config, as before.
    top = _load(tmp_path, config)
    assert top.account is None and top.settings.klaviyo_api_key is not None
    assert top.settings.state_dir == tmp_path / "state"


def test_unknown_account_is_exit_2_naming_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, _config(tmp_path), {"LINESYNC_ACCOUNT": "shop-z"})
    assert caught.value.exit_code == ExitCode.USAGE
    assert '"shop-z"' in caught.value.message and "shop-a, shop-b" in caught.value.message


@pytest.mark.parametrize("name", ["../etc", "a/b", "-x", ".hidden"])
def test_account_names_that_cannot_name_a_directory_are_refused(tmp_path, name):
    with pytest.raises(ConfigError):
        _load(tmp_path, _config(tmp_path), account=name)


def _key_command(tmp_path: Path, body: str) -> str:
    script = tmp_path / "keycmd.py"
    script.write_text(body)
    return f"{sys.executable} {script}"


def test_key_command_stdout_is_the_key_and_runs_only_when_needed(tmp_path):
    marker = tmp_path / "ran"
    command = _key_command(tmp_path, f"open({str(marker)!r}, 'a').write('x')\nprint('  {KEY_B}  ')\n")
    config = tmp_path / "linesync.toml"
    config.write_text(f'[accounts.shop-c]\nkey_command = "{command}"\n')
    loaded = _load(tmp_path, config, account="shop-c")
    assert not marker.exists() and loaded.settings.has_klaviyo_key
    assert loaded.settings.require_klaviyo_key().get_secret_value() == KEY_B
    assert marker.read_text() == "x"


def test_key_command_failure_is_one_line_exit_2_without_stdout(tmp_path):
    command = _key_command(tmp_path, f"import sys\nprint('{KEY_B}')\nprint('vault is locked', file=sys.stderr)\n"
                                     "sys.exit(3)\n")
    run_key_command.cache_clear()
    with pytest.raises(ConfigError) as caught:
        run_key_command(command)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "exit 3" in caught.value.message and "vault is locked" in caught.value.message
    assert KEY_B not in caught.value.message and "\n" not in caught.value.message


def test_key_command_that_prints_no_key_or_is_missing(tmp_path):
    config = tmp_path / "linesync.toml"
    config.write_text('[accounts.x]\nkey_command = "echo not-a-key"\n')
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, config, account="x").settings.require_klaviyo_key()
    assert "not-a-key" not in caught.value.message
    with pytest.raises(ConfigError) as missing:
        run_key_command("/nonexistent/linesync-key-helper")
    assert "not found" in missing.value.message


def test_key_and_key_command_in_one_table_is_ambiguous(tmp_path):
    config = tmp_path / "linesync.toml"
    config.write_text(f'[accounts.x]\nklaviyo_api_key = "{KEY_A}"\nkey_command = "echo {KEY_B}"\n')
    with pytest.raises(ConfigError, match="both"):
        _load(tmp_path, config, account="x")
    # An env key is a higher layer: it wins over the file's key_command, which is not run.
    config.write_text('[accounts.x]\nkey_command = "false"\n')
    loaded = _load(tmp_path, config, {"LINESYNC_KLAVIYO_API_KEY": KEY_A}, account="x")
    assert loaded.settings.require_klaviyo_key().get_secret_value() == KEY_A


def test_listing_masks_secrets_and_marks_the_default(tmp_path):
    path, rows = list_accounts(_config(tmp_path), environ={})
    assert [(r["account"], r["default"]) for r in rows] == [("shop-a", True), ("shop-b", False)]
    text = json.dumps(rows)
    assert KEY_A not in text and KEY_B not in text and "pk_" not in text


def test_cli_config_accounts_and_show_name_the_account(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path)
    env = clean_env(LINESYNC_CONFIG=str(config), LINESYNC_STATE_DIR=str(tmp_path / "state"))
    listing = run_cli(["config", "accounts", "--json"], env=env)
    assert listing.exit_code == 0, listing.stderr
    assert [a["account"] for a in json.loads(listing.stdout)["accounts"]] == ["shop-a", "shop-b"]
    shown = run_cli(["--account", "shop-b", "config", "show", "--json"], env=env)
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["account"] == "shop-b" and "account: shop-b (from flag)" in shown.stderr
    assert KEY_B not in shown.stdout + shown.stderr and data["warnings"] == []
    config.chmod(0o644)
    warned = run_cli(["config", "show"], env=env)
    assert "readable by group and others" in warned.stderr and f"chmod 600 {config}`\n" in warned.stderr
