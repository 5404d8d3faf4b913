"""Backfill input gaps: standard input is sniffed like a file, and a CSV may start with blank lines.

- Binary or UTF-16 data on standard input stops with one line and exit 2 before any
  request is made or any state is written, as the same bytes in a file do.
- An empty pipe (also an empty gzip stream) is known before the run starts, from a
  bounded peek: no Klaviyo request, no run in the ledger.
- Blank lines before a CSV header are skipped like blank lines between records, and
  rejected records keep the file's own line numbers.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import pytest

from linesync_cli.core.backfill import options as backfill_options
from linesync_cli.errors import InputFileError
from tests.support.standin_cli import run_cli

PROJECT = Path(__file__).resolve().parents[1]
LINK_MAP = PROJECT / "examples" / "link-map.csv"
ACTIONS = PROJECT / "examples" / "actions.csv"
PIPED = {"TTY_COMPATIBLE": "0"}


def _runs(env) -> list:
    result = run_cli(["backfill", "runs", "--json"], env=env | PIPED)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["runs"]


def _state_files(env) -> list[Path]:
    state = Path(env["LINESYNC_STATE_DIR"])
    return sorted(p for p in state.rglob("*") if p.is_file()) if state.exists() else []


BINARY_STDIN = {
    "binary": (bytes(range(256)) * 16, "is not text (binary data)"),
    "program": (Path("/bin/ls").read_bytes()[:8192], "is not text (an executable)"),
    "gzipped-binary": (gzip.compress(bytes(range(256)) * 16), "is not text (binary data)"),
    "utf16": (ACTIONS.read_text(encoding="utf-8").encode("utf-16"), "is UTF-16"),
}


@pytest.mark.parametrize("kind", sorted(BINARY_STDIN))
def test_binary_standard_input_stops_with_one_line_before_any_state(kind, cli_env, klaviyo_standin):
    data, words = BINARY_STDIN[kind]
    before = _state_files(cli_env)
    result = run_cli(["backfill", "-", "--yes", "--link-map", str(LINK_MAP)], env=cli_env | PIPED, input=data)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""  # no summary of a run that did not happen
    err = result.stderr.strip().splitlines()
    assert err[0] == err[0].strip() and err[0].startswith(f"error: standard input {words}"), err
    assert len(err) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in err), err
    assert klaviyo_standin.requests == [], "a request was made before standard input was checked"
    assert _state_files(cli_env) == before, "state was written before standard input was checked"
    assert _runs(cli_env) == []


def test_utf16_on_standard_input_gets_a_pipe_hint(cli_env):
    data, _ = BINARY_STDIN["utf16"]
    result = run_cli(["backfill", "-", "--dry-run", "--link-map", str(LINK_MAP)], env=cli_env | PIPED, input=data)
    assert result.exit_code == 2
    assert "hint: convert it in the pipe: ... | iconv -f UTF-16 -t UTF-8 | linesync backfill -" in result.stderr


@pytest.mark.parametrize("data", [b"", b"\n \r\n", gzip.compress(b""), gzip.compress(b"\n\n")],
                         ids=["empty", "white-space", "empty-gzip", "white-space-gzip"])
def test_an_empty_pipe_is_known_before_the_run_starts(data, cli_env, klaviyo_standin):
    klaviyo_standin.add_metric("Followed LINE Account")  # the flow check would read it if the run started
    result = run_cli(["backfill", "-", "--yes", "--link-map", str(LINK_MAP)], env=cli_env | PIPED, input=data)
    assert result.exit_code == 1, result.stderr
    assert "no records in standard input" in result.stderr
    assert result.stdout == ""  # no run, so no summary
    assert klaviyo_standin.requests == [], "the run started (and asked Klaviyo) before the pipe was found empty"
    assert _runs(cli_env) == []
    allowed = run_cli(["backfill", "-", "--yes", "--link-map", str(LINK_MAP), "--allow-empty"],
                      env=cli_env | PIPED, input=data)
    assert allowed.exit_code == 0, allowed.stderr


class _Pipe(io.RawIOBase):
    """A pipe: no seek, no peek, and each read returns at most 4 KiB (as a pipe does)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.data[self.pos:self.pos + min(len(buffer), 4096)]
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def isatty(self) -> bool:
        return False


class _Stdin:
    def __init__(self, raw) -> None:
        self.buffer = raw

    def isatty(self) -> bool:
        return self.buffer.isatty()


def test_sniffing_standard_input_peeks_a_bounded_head_and_the_reader_still_gets_every_byte(monkeypatch):
    from linesync_cli.core.backfill.readers import open_source

    text = ACTIONS.read_bytes()
    big = text + text.split(b"\n", 1)[1] * 4000  # about 1 MB, far more than the sniff
    pipe = _Pipe(big)
    monkeypatch.setattr("sys.stdin", _Stdin(pipe))
    checked = backfill_options.check_input("-")
    assert not checked.empty
    assert pipe.pos <= 64 * 1024 + 1, "checking standard input read more than its head"
    source = open_source("-", "utf-8")
    assert source.text.read().encode() == big  # the peeked head is read again, then the rest, once


def test_a_terminal_on_standard_input_is_a_usage_error(monkeypatch):
    class Terminal(_Pipe):
        def isatty(self) -> bool:
            return True

    pipe = Terminal(b"")
    monkeypatch.setattr("sys.stdin", _Stdin(pipe))
    with pytest.raises(InputFileError) as raised:
        backfill_options.check_input("-")
    assert "standard input is a terminal" in raised.value.message and int(raised.value.exit_code) == 2
    assert pipe.pos == 0


# -- a CSV with blank lines before its header -------------------------------------------------

LEADING = "\n\r\n   \n,,,\n"  # what spreadsheets leave above a table: empty rows, some with commas


def _dry_run(args: list[str], env, **kw):
    result = run_cli(["backfill", *args, "--dry-run", "--json", "--link-map", str(LINK_MAP)], env=env | PIPED, **kw)
    assert result.exit_code == 1, result.stderr  # the example's one invalid row
    return json.loads(result.stdout)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_blank_lines_before_the_csv_header_are_skipped_and_lines_keep_their_numbers(via, tmp_path, cli_env):
    plain = _dry_run([str(ACTIONS), "--rejects", str(tmp_path / "plain.jsonl")], cli_env)
    padded = tmp_path / "padded.csv"
    padded.write_text(LEADING + ACTIONS.read_text(encoding="utf-8"), encoding="utf-8")
    rejects = tmp_path / "padded.jsonl"
    if via == "file":
        result = _dry_run([str(padded), "--rejects", str(rejects)], cli_env)
    else:
        result = _dry_run(["-", "--rejects", str(rejects)], cli_env, input=padded.read_bytes())
    assert result["counts"] == plain["counts"]  # the same records, nothing more rejected
    lines = [json.loads(line)["line"] for line in (tmp_path / "plain.jsonl").read_text().splitlines()]
    moved = [json.loads(line)["line"] for line in rejects.read_text().splitlines()]
    assert moved == [n + len(re.findall("\n", LEADING)) for n in lines]  # the padded file's own line numbers
