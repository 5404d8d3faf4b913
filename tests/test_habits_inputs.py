"""Issue 15, item 3: bad input is caught before the network and before a run exists.

A binary, UTF-16 or directory input stops with exit 2 and one line naming it, sends no
request and records no run; an empty input warns and exits 1 unless --allow-empty;
"progress is saved" only when a run sent something; dry-run rejects files are pruned.
Each CLI test keeps stdout and stderr apart, on a (faked) terminal and piped.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from tests.support.standin_cli import run_cli

PROJECT = Path(__file__).resolve().parents[1]
LINK_MAP = PROJECT / "examples" / "link-map.csv"
ACTIONS = PROJECT / "examples" / "actions.csv"
TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "200"}
PIPED = {"TTY_COMPATIBLE": "0"}
MODES = pytest.mark.parametrize("mode", [TERMINAL, PIPED], ids=["terminal", "piped"])


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _offline(cli_env) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return cli_env | {"LINESYNC_KLAVIYO_BASE_URL": f"http://127.0.0.1:{port}"}


def _runs(env) -> list:
    result = run_cli(["backfill", "runs", "--json"], env=env | PIPED)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["runs"]


def _inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a word the one error line must contain)."""
    binary = tmp_path / "garbage.bin"
    binary.write_bytes(bytes(range(256)) * 16)
    utf16 = tmp_path / "export-utf16.csv"
    utf16.write_text(ACTIONS.read_text(encoding="utf-8"), encoding="utf-16")
    utf16_nobom = tmp_path / "export-utf16le.csv"
    utf16_nobom.write_bytes(ACTIONS.read_text(encoding="utf-8").encode("utf-16-le"))
    program = tmp_path / "ls"
    shutil.copy("/bin/ls", program)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text(ACTIONS.read_text(encoding="utf-8"))
    return {
        "binary": (binary, "not text"),
        "utf16": (utf16, "UTF-16"),
        "utf16-no-bom": (utf16_nobom, "UTF-16"),
        "program": (program, "not text"),
        "directory": (folder, "directory"),
    }


@MODES
@pytest.mark.parametrize("kind", ["binary", "utf16", "utf16-no-bom", "program", "directory"])
def test_bad_input_stops_before_the_network_with_one_line_and_no_run(kind, mode, tmp_path, cli_env, klaviyo_standin):
    path, word = _inputs(tmp_path)[kind]
    result = run_cli(["backfill", str(path), "--yes", "--link-map", str(LINK_MAP)], env=cli_env | mode)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    err = plain(result.stderr).strip().splitlines()
    assert err[0].startswith("error: ") and str(path) in err[0] and word in err[0], err
    assert len(err) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in err), err  # one line + hint
    assert "progress is saved" not in result.stderr
    assert klaviyo_standin.requests == [], "an API call was made before the input was checked"
    assert _runs(cli_env) == []


@pytest.mark.parametrize("with_map", [True, False], ids=["link-map", "no-link-index"])
def test_garbage_bin_offline_exits_2_with_one_clear_line_and_creates_no_run(with_map, tmp_path, cli_env):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 16)
    env = _offline(cli_env)
    args = ["backfill", str(garbage), "--yes"] + (["--link-map", str(LINK_MAP)] if with_map else [])
    result = run_cli(args, env=env | PIPED)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {garbage} is not text"), lines
    assert [line for line in lines if line.startswith("error:")] == [lines[0]]
    assert "unreachable" not in result.stderr and "retry" not in result.stderr
    assert _runs(env) == []


def test_a_utf16_input_says_how_to_convert_it(tmp_path, cli_env):
    path, _ = _inputs(tmp_path)["utf16"]
    result = run_cli(["backfill", str(path), "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED)
    assert result.exit_code == 2
    assert f"hint: convert it first: iconv -f UTF-16 -t UTF-8 {path}" in result.stderr
    converted = tmp_path / "converted.csv"
    converted.write_text(path.read_text(encoding="utf-16"), encoding="utf-8")
    fixed = run_cli(["backfill", str(converted), "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED)
    assert fixed.exit_code == 1, fixed.stderr  # read now: the example's one invalid row, as in UTF-8
    assert "dry run:" in fixed.stderr


@MODES
def test_an_empty_input_warns_and_exits_1_unless_allow_empty(mode, tmp_path, cli_env, klaviyo_standin):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = run_cli(["backfill", str(empty), "--yes", "--link-map", str(LINK_MAP)], env=cli_env | mode)
    assert result.exit_code == 1, result.stderr
    err = plain(result.stderr)
    assert "no records" in err and str(empty) in err
    assert "--allow-empty" in err
    assert "progress is saved" not in err
    allowed = run_cli(["backfill", str(empty), "--yes", "--link-map", str(LINK_MAP), "--allow-empty"],
                      env=cli_env | mode)
    assert allowed.exit_code == 0, allowed.stderr
    assert "no records" in plain(allowed.stderr)  # still said, but not a failure


def test_an_empty_pipe_is_an_empty_input(tmp_path, cli_env):
    result = run_cli(["backfill", "-", "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED, input="")
    assert result.exit_code == 1
    assert "no records" in result.stderr and "standard input" in result.stderr


def test_a_directory_gets_a_hint(tmp_path, cli_env):
    path, _ = _inputs(tmp_path)["directory"]
    result = run_cli(["backfill", str(path), "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED)
    assert result.exit_code == 2
    assert "hint:" in result.stderr and "a.csv" not in result.stderr.split("hint:")[0]
    assert f"{path}/*" in result.stderr  # what to give instead


def test_dry_run_rejects_files_are_pruned_to_the_newest_20(tmp_path, cli_env):
    rejects = tmp_path / "state" / "rejects"
    rejects.mkdir(parents=True)
    import os

    for i in range(25):
        old = rejects / f"dry-run-{i:012x}.jsonl"
        old.write_text("{}\n")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    kept_run_file = rejects / "run-1.jsonl"  # a real run's rejects are never pruned
    kept_run_file.write_text("{}\n")
    os.utime(kept_run_file, (1, 1))
    result = run_cli(["backfill", str(ACTIONS), "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED)
    assert result.exit_code == 1, result.stderr
    dry = sorted(p.name for p in rejects.glob("dry-run-*.jsonl"))
    assert len(dry) == 20
    assert "dry-run-000000000000.jsonl" not in dry  # the oldest went
    assert kept_run_file.exists()


@pytest.mark.parametrize(("dry_run", "sent", "said", "not_said"), [
    (True, 0, "a dry run saves no progress", "progress is saved"),
    (False, 0, "before any batch was accepted", "progress is saved"),
    (False, 200, "progress is saved in run #7", "dry run"),
])
def test_an_interruption_says_progress_is_saved_only_when_it_is(dry_run, sent, said, not_said):
    from types import SimpleNamespace

    from linesync_cli.commands.backfill import _said_honestly
    from linesync_cli.errors import ExitCode, Interrupted

    result = SimpleNamespace(dry_run=dry_run, run_id=None if dry_run else 7, counts=SimpleNamespace(sent=sent))
    error = _said_honestly(result, Interrupted("interrupted; progress is saved"))
    assert said in error.message and not_said not in error.message + (error.hint or "")
    assert error.exit_code is ExitCode.INTERRUPTED


# -- item 7 on backfill: --format is the output format; --input-format the input's ------------

@MODES
def test_format_csv_on_backfill_still_works_with_a_deprecation_warning(mode, tmp_path, cli_env):
    as_jsonl = tmp_path / "actions.txt"  # no telling extension: the format decides how it is read
    as_jsonl.write_text((PROJECT / "examples" / "actions.jsonl").read_text(encoding="utf-8"))
    base = ["backfill", str(as_jsonl), "--link-map", str(LINK_MAP), "--dry-run", "--json"]
    old = run_cli([*base, "--format", "jsonl"], env=cli_env | mode)
    new = run_cli([*base, "--input-format", "jsonl"], env=cli_env | mode)
    assert old.exit_code == new.exit_code
    assert json.loads(old.stdout)["counts"] == json.loads(new.stdout)["counts"]  # the same run
    assert "--format jsonl is deprecated for the input format: use --input-format jsonl" in plain(old.stderr)
    assert "deprecated" not in new.stderr


def test_format_on_backfill_offers_only_output_formats(cli_env):
    result = run_cli(["backfill", "--help"], env=cli_env | PIPED)
    line = next(line for line in result.stdout.splitlines() if "--format" in line and "-f" in line)
    assert "table|json" in line and "csv|jsonl" not in line.split("--format")[1].split()[0]
    bad = run_cli(["backfill", str(ACTIONS), "--dry-run", "--format", "xml"], env=cli_env | PIPED)
    assert bad.exit_code == 2 and "--input-format" in bad.stderr


def test_one_stray_nul_in_a_text_export_is_a_bad_record_not_a_binary_file(tmp_path, cli_env):
    text = ACTIONS.read_text(encoding="utf-8").splitlines(keepends=True)
    stray = tmp_path / "stray-nul.csv"
    stray.write_text("".join(text[:3]) + "sent,\x00,1\n" + "".join(text[3:]), encoding="utf-8")
    result = run_cli(["backfill", str(stray), "--dry-run", "--link-map", str(LINK_MAP), "--json"], env=cli_env | PIPED)
    assert result.exit_code == 1, result.stderr  # read, with the bad row among the rejects
    assert "not text" not in result.stderr
    assert json.loads(result.stdout)["counts"]["rejected"] == 2  # the example's own bad row, and this one


def test_emptiness_is_judged_on_the_whole_file(tmp_path, cli_env):
    import gzip

    from linesync_cli.core.backfill.options import check_content

    assert check_content("f", b"\n  \n") is True
    assert check_content("f", b"\xef\xbb\xbf\n") is True  # a BOM alone
    assert check_content("f", b"\n" * (70 << 10) + b"sent,U1,2026") is False  # text after the sniffed part
    assert check_content("f", gzip.compress(b"\n" * (70 << 10) + b"sent")) is False
    assert check_content("f", gzip.compress(b"")) is True
    empty_gz = tmp_path / "empty.csv.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    empty = run_cli(["backfill", str(empty_gz), "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED)
    assert empty.exit_code == 1 and "no records in" in empty.stderr
