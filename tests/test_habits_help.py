"""Issue 15, items 4 and 6: `linesync` alone is help (exit 0), every hint names a command that
runs, and help reads right (no `<bool>` on flags, no `{FILE}...`, examples on root and group
helps, piped help not wrapped at 80 columns).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer

from linesync_cli.app import app
from tests.support.cli_lines import linesync_invocations, parse_command_line
from tests.support.standin_cli import clean_env, run_cli

PACKAGE = Path(__file__).resolve().parents[1] / "linesync_cli"
TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "100"}
PIPED = {"TTY_COMPATIBLE": "0"}
MODES = pytest.mark.parametrize("mode", [TERMINAL, PIPED], ids=["terminal", "piped"])


def _groups() -> list[tuple[str, ...]]:
    # Groups that only list subcommands (`backfill FILE` runs a hidden default command instead).
    root = typer.main.get_command(app)
    return [(name,) for name, cmd in root.commands.items()
            if hasattr(cmd, "list_commands") and not getattr(cmd, "invoke_without_command", False)
            and not any(sub.hidden for sub in cmd.commands.values())]


@MODES
@pytest.mark.parametrize("argv", [[], *[list(g) for g in _groups()]], ids=lambda a: " ".join(a) or "linesync")
def test_a_command_without_its_subcommand_prints_help_and_exits_0(argv, mode):
    result = run_cli(argv, env=clean_env(**mode))
    assert result.exit_code == 0, result.stderr
    assert "Usage: linesync" in re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert result.stderr == ""


# -- every hint names a command that runs ----------------------------------------------------

_PLACEHOLDER = "\x00"
_SAMPLE = {"FILE": "file.csv", "FILE...": "file.csv", "U...": "U" + "0" * 32, "LINE_USER_ID": "U" + "0" * 32,
           "VALUE": "U" + "0" * 32, "ID": "seg1", _PLACEHOLDER: "1"}


def _strings(tree: ast.AST):
    """Every string literal that is not a docstring, f-strings with their holes marked."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else _PLACEHOLDER for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def _hinted_commands() -> list[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "completion_gen.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for text in _strings(tree):
            for command in re.findall(r"`(linesync(?: [^`]*)?)`", text):
                found.add((str(path.relative_to(PACKAGE)), command))
    return sorted(found)


HINTS = _hinted_commands()


def test_hints_were_found():
    # The scan itself can break (a moved string, another quoting): it must find the known ones.
    commands = {c for _, c in HINTS}
    assert "linesync links sync" in commands and "linesync report funnel" in commands
    assert len(HINTS) > 20


@pytest.mark.parametrize(("where", "command"), HINTS, ids=[f"{w}: {c}" for w, c in HINTS])
def test_every_hinted_command_parses_and_runs_something(where, command):
    # `--help` always runs (the parser stops there with exit 0): check the words before it.
    words = [_SAMPLE.get(w, w.replace(_PLACEHOLDER, "1")) for w in command.split()[1:] if w not in ("--help", "-h")]
    parsed = parse_command_line(words)  # raises with click's message when it would not parse
    runs = not hasattr(parsed.command, "list_commands") or getattr(parsed.command, "invoke_without_command", False)
    assert runs or not parsed.path, f"{where}: `{command}` names a group, not a command that runs"


# -- help that reads right ---------------------------------------------------------------------

def _all_commands():
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(root, ())
    return out


ALL = _all_commands()


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "linesync" for p, _ in ALL])
def test_help_has_no_type_placeholders_and_clean_usage(path, command):
    result = run_cli([*path, "--help"], env=clean_env(**TERMINAL))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "<bool>" not in text
    # Typer's type names are not metavars: options say FILE, N, WHEN, ... or list their choices.
    assert not re.search(r"<(str|int|float|list\[str\]|int range|float range|path)>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "...]..." not in usage, usage


@pytest.mark.parametrize("path", [(), *_groups(), ("metrics",)], ids=lambda p: " ".join(p) or "linesync")
def test_root_and_group_helps_end_with_examples(path):
    result = run_cli([*path, "--help"], env=clean_env(**PIPED))
    tail = result.stdout.rstrip().rpartition("Examples:")[2]
    assert "Examples:" in result.stdout
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    # After the examples only the option and command lists follow.
    examples = []
    for line in lines:
        if line.endswith(":"):
            break
        examples.append(line)
    assert examples and all(e.startswith("linesync") for e in examples), lines[:5]
    for example in examples:
        for argv in linesync_invocations(example):
            parse_command_line(argv)


def test_piped_help_is_not_wrapped_at_80_columns():
    result = run_cli(["backfill", "--help"], env=clean_env(**PIPED, COLUMNS="80"))
    long_lines = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert long_lines, "piped help was wrapped at 80 columns"
    assert "╭" not in result.stdout and "│" not in result.stdout  # plain text, no boxes
    # Each example stays on one line, so it can be copied.
    assert any(line.strip().startswith("linesync backfill examples/actions.csv") and "--dry-run" in line
               for line in result.stdout.splitlines())


def test_terminal_help_uses_the_terminal_width():
    result = run_cli(["backfill", "--help"], env=clean_env(**TERMINAL | {"COLUMNS": "100"}))
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in result.stdout.splitlines()) <= 100
    assert "╭" in result.stdout


def test_link_key_help_keeps_its_placeholder():
    result = run_cli(["--help"], env=clean_env(**PIPED))
    assert "property:<name>" in result.stdout
    result = run_cli(["--help"], env=clean_env(**TERMINAL))
    assert "property:<name>" in result.stdout


def test_stderr_notes_are_not_wrapped_when_piped(tmp_path):
    deep = tmp_path / ("a-very-long-directory-name-" * 4) / "missing.csv"
    result = run_cli(["backfill", str(deep), "--dry-run"], env=clean_env(**PIPED, COLUMNS="80"))
    assert result.exit_code == 2
    assert any(str(deep) in line for line in result.stderr.splitlines())  # the path is on one line
