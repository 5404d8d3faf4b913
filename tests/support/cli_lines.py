"""Checking written linesync command lines (help examples, cron, systemd, scripts) against the app.

`parse_command_line(argv)` parses `linesync ARGV` with the real command tree, as the
CLI would, without running anything: an unknown command or option, a bad choice, a
missing value or argument raises `BadCommandLine` with click's own message.
`linesync_invocations(text)` finds the `linesync ...` commands in a line of shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import typer

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", ">", ">>", "<", "2>", "2>&1"}


class BadCommandLine(AssertionError):
    pass


@dataclass(frozen=True)
class Parsed:
    path: tuple[str, ...]  # command names as written (a hidden default command is not in it)
    command: object  # the click command that would run
    params: dict  # the values it would get


def _root():
    from linesync_cli.app import app

    return typer.main.get_command(app)


def parse_command_line(argv: Sequence[str]) -> Parsed:
    """Parse `linesync ARGV` (ARGV without the program name) down to the command that would run."""
    command = _root()
    name: str | None = "linesync"
    args = list(argv)
    ctx = None
    path: list[str] = []
    while True:
        try:
            ctx = command.make_context(name, args, parent=ctx)
        except Exception as exc:  # click's UsageError family; anything else is a bug worth seeing
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            raise BadCommandLine(f"`linesync {shlex.join(argv)}`: {message}") from None
        if not hasattr(command, "list_commands"):
            return Parsed(tuple(path), command, dict(ctx.params))
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return Parsed(tuple(path), command, dict(ctx.params))
        try:
            name, command, args = command.resolve_command(ctx, rest)
        except Exception as exc:
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            raise BadCommandLine(f"`linesync {shlex.join(argv)}`: {message}") from None
        if name is not None:
            path.append(name)
        name = name or command.name


def linesync_invocations(shell_text: str) -> list[list[str]]:
    """The argv (after `linesync`) of each simple command in SHELL_TEXT that runs linesync.

    Pipes, `;`, `&&` and redirections end a command; `VAR=value` prefixes are skipped.
    """
    lexer = shlex.shlex(shell_text, posix=True, punctuation_chars="|&;()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    found: list[list[str]] = []
    current: list[str] | None = None
    at_start = True
    for token in lexer:
        if token in _SEPARATORS or set(token) <= set("|&;()<>"):
            current, at_start = None, token not in {">", ">>", "<"}
            continue
        if current is not None:
            current.append(token)
        elif at_start and _ASSIGNMENT.match(token):
            continue
        elif at_start and token == "linesync":
            current = []
            found.append(current)
        else:
            at_start = False
    return found
