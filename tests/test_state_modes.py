"""State at rest is the owner's only: the state dir 0700, every file each command leaves 0600, umask 022.

The bug each test catches: a file created with open()/mkdir()/sqlite3.connect() defaults, which
under the usual umask 022 is 0644/0755, so any local user can read which LINE user is which profile.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from linesync_cli.core.backfill.ledger import Ledger
from linesync_cli.core.link_index import LinkIndex
from linesync_cli.state import ensure_dir, open_owner_only, owner_only_file, permission_warning
from tests.support.backfill_data import link_users, write_actions_csv, write_link_map
from tests.support.standin_cli import run_cli


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes_under(root: Path) -> dict[str, int]:
    found = {str(root): _mode(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = _mode(path)
    return found


def _assert_owner_only(root: Path) -> dict[str, int]:
    modes = _modes_under(root)
    wrong = {
        name: oct(mode) for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() or name == str(root) else 0o600)
    }
    assert not wrong, wrong
    return modes


def test_helpers_create_owner_only_whatever_the_umask(tmp_path, umask_022):
    state = ensure_dir(tmp_path / "a" / "b")
    assert _mode(tmp_path / "a") == 0o700 and _mode(state) == 0o700
    assert _mode(owner_only_file(state / "x.sqlite")) == 0o600
    with open_owner_only(state / "y.lock") as fh:
        fh.write("1")
    assert _mode(state / "y.lock") == 0o600
    legacy = state / "old.sqlite"
    legacy.write_text("")
    legacy.chmod(0o644)
    owner_only_file(legacy)  # an older version's 0644 file is tightened on open
    assert _mode(legacy) == 0o600


def test_existing_parent_directory_is_not_changed(tmp_path, umask_022):
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o755)
    ensure_dir(parent / "state")
    assert _mode(parent) == 0o755 and _mode(parent / "state") == 0o700


def test_sqlite_wal_and_shm_inherit_the_owner_only_mode(tmp_path, umask_022):
    """SQLite gives -wal/-shm the database file's mode: checked while they exist (open connection)."""
    index = LinkIndex(tmp_path / "state" / "links.sqlite")
    ledger = Ledger(tmp_path / "state")
    try:
        index.conn.execute("CREATE TABLE IF NOT EXISTS probe(x)")
        index.conn.execute("INSERT INTO probe VALUES (1)")
        index.conn.commit()
        ledger.start_run("fp", ["a.csv"], {})
        family = sorted(p.name for p in (tmp_path / "state").iterdir())
        assert {"links.sqlite-wal", "links.sqlite-shm", "ledger.sqlite-wal", "ledger.sqlite-shm"} <= set(family)
        _assert_owner_only(tmp_path / "state")
    finally:
        index.close()
        ledger.close()


def test_permission_warning_names_the_fix(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    warning = permission_warning(state, "the state directory")
    assert warning is not None and "group and others" in warning and f"chmod 700 {state}" in warning
    state.chmod(0o700)
    assert permission_warning(state, "the state directory") is None
    config = tmp_path / "linesync.toml"
    config.write_text("")
    config.chmod(0o640)
    assert f"chmod 600 {config}" in (permission_warning(config, "config file") or "")


def test_every_command_that_writes_state_leaves_it_owner_only(cli_env, klaviyo_standin, tmp_path, umask_022):
    state = Path(cli_env["LINESYNC_STATE_DIR"] or "")
    mapping = link_users(klaviyo_standin, 5)
    link_map = write_link_map(tmp_path / "map.csv", mapping)
    actions = write_actions_csv(tmp_path / "actions.csv", 60, 8)  # users 5-7 are unlinked
    with (tmp_path / "actions.csv").open("a") as fh:
        fh.write("not,a,valid,row\n")  # one reject, so a rejects file is written
    out = tmp_path / "bodies"
    unlinked = tmp_path / "unlinked" / "unlinked.csv"

    dry = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--dry-run", "--out", str(out),
                   "--json"], env=cli_env)
    assert dry.exit_code == 1, dry.stderr  # the bad row
    assert json.loads(dry.stdout)["rejects_file"]
    modes = _assert_owner_only(state)
    assert any(name.startswith("rejects/") for name in modes), modes
    assert _assert_owner_only(out)  # request bodies: profile IDs and actions

    real = run_cli(["backfill", str(actions), "--link-map", str(link_map), "--unlinked", str(unlinked), "--json"],
                   env=cli_env)
    assert real.exit_code == 1, real.stderr
    assert json.loads(real.stdout)["counts"]["sent"] > 0
    modes = _assert_owner_only(state)
    assert {"ledger.sqlite", "rejects"} <= set(modes) and any(n.endswith(".lock") for n in modes), modes
    assert _mode(unlinked) == 0o600 and _mode(unlinked.parent) == 0o700

    sync = run_cli(["links", "sync", "--json"], env=cli_env)
    assert sync.exit_code == 0, sync.stderr
    modes = _assert_owner_only(state)
    assert "links.sqlite" in modes

    runs = run_cli(["backfill", "runs", "--json"], env=cli_env)
    assert runs.exit_code == 0, runs.stderr
    _assert_owner_only(state)


def test_doctor_warns_when_the_state_dir_is_open_to_others(cli_env, tmp_path):
    state = Path(cli_env["LINESYNC_STATE_DIR"] or "")
    state.mkdir(mode=0o700)
    ok = run_cli(["doctor", "--only", "config", "--json"], env=cli_env)
    check = json.loads(ok.stdout)["checks"][0]
    assert check["status"] == "pass", check
    state.chmod(0o755)
    loose = run_cli(["doctor", "--only", "config", "--json"], env=cli_env)
    check = json.loads(loose.stdout)["checks"][0]
    assert check["status"] == "warn" and f"chmod 700 {state}" in check["detail"]
    assert _mode(state) == 0o755  # said, not silently changed
