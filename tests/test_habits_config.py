"""Issue 15, item 2: `config show` diagnoses instead of failing; unknown names are warned about;
`config path` and `config init`.

CLI tests keep stdout and stderr apart, on a (faked) terminal and piped.
"""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from linesync_cli.config import diagnose, load_settings
from tests.support.standin_cli import clean_env, run_cli

TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "200"}
PIPED = {"TTY_COMPATIBLE": "0"}
MODES = pytest.mark.parametrize("mode", [TERMINAL, PIPED], ids=["terminal", "piped"])
SECRET = "pk_live_SECRET_3b9d1f7a2c"


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture
def env(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    config = tmp_path / "linesync.toml"
    config.write_text("")
    return clean_env(LINESYNC_CONFIG=str(config), LINESYNC_STATE_DIR=str(tmp_path / "state"))


def _rows(stdout: str) -> dict[str, dict]:
    return {row["variable"]: row for row in json.loads(stdout)["settings"]}


@MODES
def test_show_prints_every_setting_and_marks_the_invalid_one_then_exits_2(mode, env):
    result = run_cli(["config", "show"], env=env | mode | {"LINESYNC_KLAVIYO_BASE_URL": "garbage",
                                                           "LINESYNC_KLAVIYO_API_KEY": "sk_" + SECRET})
    assert result.exit_code == 2
    out = plain(result.stdout)
    for variable in ("LINESYNC_KLAVIYO_REVISION", "LINESYNC_LINK_KEY", "LINESYNC_STATE_DIR"):
        assert variable in out  # the valid settings are printed too
    line = next(line for line in out.splitlines() if "LINESYNC_KLAVIYO_BASE_URL" in line)
    assert "garbage" in line and "env" in line and "https://" in line  # value, source, what is wrong
    assert SECRET not in result.stdout + result.stderr  # an invalid key is still masked
    err = plain(result.stderr)
    assert "error: 2 invalid setting(s): LINESYNC_KLAVIYO_API_KEY, LINESYNC_KLAVIYO_BASE_URL" in err
    assert "config show" not in err  # the hint does not send the user back here


def test_show_json_marks_problems_and_uses_null_for_unset(env):
    result = run_cli(["config", "show", "--json"], env=env | {"LINESYNC_KLAVIYO_BASE_URL": "garbage"})
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    rows = _rows(result.stdout)
    assert rows["LINESYNC_KLAVIYO_API_KEY"]["value"] is None
    assert rows["LINESYNC_LINE_CHANNEL_ACCESS_TOKEN"]["value"] is None
    assert rows["LINESYNC_KLAVIYO_BASE_URL"] == {"variable": "LINESYNC_KLAVIYO_BASE_URL", "value": "garbage",
                                                 "source": "env", "problem": rows["LINESYNC_KLAVIYO_BASE_URL"]["problem"]}
    assert "https://" in rows["LINESYNC_KLAVIYO_BASE_URL"]["problem"]
    assert rows["LINESYNC_LINK_KEY"]["problem"] is None
    assert doc["ok"] is False


def test_show_with_a_valid_configuration_exits_0_without_problem_column(env):
    result = run_cli(["config", "show"], env=env | PIPED | {"LINESYNC_KLAVIYO_API_KEY": SECRET})
    assert result.exit_code == 0, result.stderr
    assert "Problem" not in result.stdout and result.stderr == ""
    assert SECRET not in result.stdout and "pk_…(25 chars)" in result.stdout


@MODES
def test_show_still_prints_with_a_malformed_dotenv(mode, env, tmp_path):
    (tmp_path / "cwd" / ".env").write_text("LINESYNC_LINK_KEY=external_id\nthis is not an assignment\n")
    result = run_cli(["config", "show"], env=env | mode)
    assert result.exit_code == 2
    line = next(line for line in plain(result.stdout).splitlines() if "LINESYNC_LINK_KEY" in line)
    assert "external_id" in line and ".env" in line  # the good lines still count and are shown
    assert "line 2 is not NAME=value" in plain(result.stderr)
    other = run_cli(["links", "status"], env=env | mode)  # any other command stops on it
    assert other.exit_code == 2 and "line 2" in plain(other.stderr) and other.stdout == ""


@pytest.mark.parametrize(("where", "name", "suggestion"), [
    ("environment", "LINESYNC_KLAVIYO_APIKEY", "LINESYNC_KLAVIYO_API_KEY"),
    (".env", "LINESYNC_KLAVIYO_APIKEY", "LINESYNC_KLAVIYO_API_KEY"),
    ("toml", "klaviyo_apikey", "klaviyo_api_key"),
    ("toml", "LINESYNC_STATEDIR", "state_dir"),
])
@MODES
def test_an_unknown_name_is_warned_about_with_did_you_mean(mode, where, name, suggestion, env, tmp_path):
    extra = {}
    if where == "environment":
        extra[name] = SECRET
    elif where == ".env":
        (tmp_path / "cwd" / ".env").write_text(f"{name}={SECRET}\n")
    else:
        (tmp_path / "linesync.toml").write_text(f'{name} = "{SECRET}"\n')
    for argv in (["config", "show"], ["metrics"]):
        result = run_cli(argv, env=env | mode | extra)
        err = plain(result.stderr)
        assert f"warning: unknown setting {name} in " in err, err
        assert f"did you mean {suggestion}?" in err
        assert SECRET not in result.stdout + result.stderr
    # ... and the next line says what that means: no key is configured.
    assert "no Klaviyo API key is configured" in err


def test_a_known_table_or_config_variable_is_not_unknown(env, tmp_path):
    (tmp_path / "linesync.toml").write_text('[linesync]\nlink_key = "external_id"\n')
    result = run_cli(["config", "show", "--json"], env=env | PIPED)
    assert result.exit_code == 0 and result.stderr == ""  # LINESYNC_CONFIG itself is known
    assert json.loads(result.stdout)["problems"] == []


def test_diagnose_reports_each_layer_source(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('link_key = "external_id"\nklaviyo_revision = "not-a-date"\n')
    report = diagnose(config_file=config, environ={"LINESYNC_LINE_BASE_URL": "http://example.com"}, cwd=tmp_path)
    by = {s.name: s for s in report.settings}
    assert by["link_key"].source == f"config file {config}" and by["link_key"].problem is None
    assert by["klaviyo_revision"].value == "not-a-date" and "YYYY-MM-DD" in by["klaviyo_revision"].problem
    assert by["line_base_url"].source == "env" and "loopback" in by["line_base_url"].problem
    assert not report.ok
    loaded_warnings = load_settings(environ={"LINESYNC_LINK_KY": "x"}, cwd=tmp_path, config_file=None).warnings
    assert [w.message for w in loaded_warnings] == [
        "unknown setting LINESYNC_LINK_KY in the environment; did you mean LINESYNC_LINK_KEY?"]


@MODES
def test_config_path_lists_the_files_in_order(mode, env, tmp_path):
    result = run_cli(["config", "path"], env=env | mode)
    assert result.exit_code == 0 and result.stderr == ""
    lines = [line for line in plain(result.stdout).splitlines() if "/" in line]
    assert str(tmp_path / "cwd" / ".env") in lines[0] and "no" in lines[0]
    assert str(tmp_path / "linesync.toml") in lines[1] and "LINESYNC_CONFIG" in lines[1]
    doc = json.loads(run_cli(["config", "path", "--json"], env=env | mode).stdout)
    assert [f["role"] for f in doc["files"]] == [".env", "config file"]
    assert doc["files"][1] == {"role": "config file", "path": str(tmp_path / "linesync.toml"), "exists": True,
                               "chosen_by": "LINESYNC_CONFIG"}


@MODES
def test_config_init_writes_a_commented_file_without_secrets(mode, env, tmp_path):
    target = tmp_path / "new" / "linesync.toml"
    result = run_cli(["config", "init", "--config", str(target)], env=env | mode | {"LINESYNC_KLAVIYO_API_KEY": SECRET})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert "wrote" in plain(result.stderr)
    text = target.read_text()
    assert SECRET not in text  # the environment's key is not copied into the file
    assert all(line == "" or line.startswith("#") for line in text.splitlines())  # every setting commented
    assert "# link_key = \"property:LINE User ID\"" in text
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    # It parses, and changes nothing until a line is uncommented.
    shown = run_cli(["config", "show", "--json", "--config", str(target)], env=env | PIPED)
    assert shown.exit_code == 0 and all(r["source"] in ("default", "env") for r in _rows(shown.stdout).values())
    again = run_cli(["config", "init", "--config", str(target)], env=env | mode)
    assert again.exit_code == 2 and "already exists" in plain(again.stderr) and again.stdout == ""


def test_config_init_takes_the_key_only_from_stdin(env, tmp_path):
    target = tmp_path / "linesync-with-key.toml"
    result = run_cli(["config", "init", "--key-from-stdin", "--config", str(target), "--json"],
                     env=env | PIPED, input=SECRET + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"path": str(target), "with_key": True}
    assert SECRET not in result.stdout + result.stderr
    shown = _rows(run_cli(["config", "show", "--json", "--config", str(target)], env=env | PIPED).stdout)
    assert shown["LINESYNC_KLAVIYO_API_KEY"]["source"] == f"config file {target}"
    bad = run_cli(["config", "init", "--key-from-stdin", "--config", str(tmp_path / "b.toml")],
                  env=env | PIPED, input="not-a-key\n")
    assert bad.exit_code == 2 and "does not look like a Klaviyo private API key" in bad.stderr
    assert not (tmp_path / "b.toml").exists()
