"""Help that operators can rely on: every command and option says what it does, every
command ends with one or two examples that are valid command lines, and the README
names every command and shows only command lines the CLI accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from linesync_cli.app import app
from tests.support.cli_lines import BadCommandLine, linesync_invocations, parse_command_line
from tests.support.standin_cli import clean_env, run_cli

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"


def _commands():
    """(full name, click command, whether it is a hidden default) for every command, hidden ones too."""
    root = typer.main.get_command(app)
    found = []

    def walk(command, ctx, path):
        found.append((path, command))
        if hasattr(command, "list_commands"):
            for name in sorted(command.commands):
                sub = command.commands[name]
                walk(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name))

    walk(root, typer.Context(root, info_name="linesync"), ())
    return found


COMMANDS = _commands()


def _name(path) -> str:
    return " ".join(("linesync", *path))


def _runs_something(command) -> bool:
    """A leaf, or a group that runs on its own (`linesync metrics`); not a mere list of subcommands."""
    return not hasattr(command, "list_commands") or bool(getattr(command, "invoke_without_command", False))


def _display_path(path, command) -> tuple[str, ...]:
    # `backfill FILE...` runs the hidden `backfill run`: its command line has no `run`.
    return path[:-1] if command.hidden else path


def examples_of(help_text: str) -> list[str]:
    """The lines of the closing `Examples:` paragraph, or [] when the help does not end with one."""
    head, sep, tail = help_text.rpartition("Examples:")
    if not sep or not head.strip():
        return []
    lines = [line.strip() for line in tail.strip().splitlines()]
    if any(line.endswith(":") for line in lines):  # another section after the examples
        return []
    return [line for line in lines if line]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=lambda v: _name(v) if isinstance(v, tuple) else "")
def test_command_and_its_options_have_help(path, command):
    assert (command.help or "").strip(), f"`{_name(path)}` has no help text: give it a docstring"
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        label = "/".join(param.opts) if param.param_type_name == "option" else param.name.upper()
        assert (getattr(param, "help", None) or "").strip(), f"`{_name(path)}` {label} has no help text"


RUNNABLE = [(p, c) for p, c in COMMANDS if p and _runs_something(c)]


@pytest.mark.parametrize(("path", "command"), RUNNABLE, ids=lambda v: _name(v) if isinstance(v, tuple) else "")
def test_help_ends_with_one_or_two_valid_examples(path, command):
    name = _name(_display_path(path, command))
    examples = examples_of(command.help or "")
    assert 1 <= len(examples) <= 2, (
        f"`{name} --help` must end with an `Examples:` paragraph of one or two command lines "
        f"(see linesync_cli/commands/metrics.py); found {len(examples)}")
    for example in examples:
        invocations = linesync_invocations(example)
        assert invocations, f"`{name}` example {example!r} does not run linesync"
        parsed = [parse_command_line(argv) for argv in invocations]  # BadCommandLine names the problem
        runs = {(p.path, p.command.name) for p in parsed}
        assert (_display_path(path, command), command.name) in runs, f"`{name}` example {example!r} runs another command"


def test_the_example_check_can_fail():
    assert examples_of("Does things.\n\nExamples:\n\n  linesync a\n\n  linesync b\n\n  linesync c") != []
    assert examples_of("Does things.\n\nExamples:\n\n  linesync a\n\nNotes:\n\n  more") == []
    assert examples_of("Does things.") == []
    with pytest.raises(BadCommandLine, match="No such option"):
        parse_command_line(["metrics", "--no-such-option"])


def test_root_help_lists_every_command():
    result = run_cli(["--help"], env=clean_env())
    assert result.exit_code == 0, result.stderr
    for path, command in COMMANDS:
        if len(path) == 1 and not command.hidden:
            assert path[0] in result.stdout, f"`linesync --help` does not list {path[0]}"


# -- the README --------------------------------------------------------------------


def _readme() -> str:
    if not README.is_file():
        pytest.fail("README.md is missing")
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted({_name(_display_path(p, c)) for p, c in COMMANDS
                                         if p and not (c.hidden and not _runs_something(c))}))
def test_readme_names_every_command(name):
    assert re.search(re.escape(name) + r"(?![\w-])", _readme()), (
        f"README.md never mentions `{name}`: add it to the command table (and its section)")


def readme_command_lines(text: str) -> list[str]:
    """Shell lines from the README's fenced code blocks: `$ ...` lines in blocks that show output,
    every line (joined across trailing backslashes) in blocks that do not."""
    lines: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        block = block.replace("\\\n", " ")
        prompted = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
        lines.extend(prompted if prompted else block.splitlines())
    return lines


def test_readme_command_lines_are_valid():
    bad = []
    for line in readme_command_lines(_readme()):
        for argv in linesync_invocations(line):
            try:
                parse_command_line(argv)
            except BadCommandLine as exc:
                bad.append(str(exc))
    assert not bad, "README.md shows command lines linesync rejects:\n" + "\n".join(bad)
    assert readme_command_lines("```sh\n$ linesync x\nout\n```\n```\nlinesync a \\\n  --b\n```\n") == [
        "linesync x", "linesync a    --b"]
