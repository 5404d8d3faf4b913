"""The console entry point: `--version` and piped `linesync --help` without loading the CLI framework.

Typer, Click and Rich are most of a start-up, and these two answers are fixed text:
`--version` is one line, and the root help off a terminal is the same plain, unwrapped
rendering every time (piped help ignores the width: one line per paragraph). That rendering is generated from the app into `root_help.py`
(`python -m linesync_cli.completion_gen` writes it with the completions; a test fails
when it drifts). On a terminal, or with anything that changes the rendering (a
width, forced colour, Typer's own variables), the app renders the Rich help live.
"""

from __future__ import annotations

import os
import sys

# Environment that changes how Rich or Typer render help (width, colour, terminal
# detection) or asks for something else (shell completion): the app answers then.
_RENDERING_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TYPER_", "_TYPER", "_LINESYNC_COMPLETE",
                        "JUPYTER_")


def _fixed_help_applies() -> bool:
    try:
        if sys.stdout.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    return not any(name.startswith(_RENDERING_VARIABLES) for name in os.environ)


def render_root_help() -> str:
    """What the app prints for `linesync --help` off a terminal (for root_help.py)."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(_RENDERING_VARIABLES) and k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-c", "from linesync_cli.app import main; main()", "--help"],
                            capture_output=True, text=True, env=env, check=True)
    return result.stdout


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `linesync --help | head -3`: quiet, as the app is.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        from linesync_cli import __version__

        _write(f"linesync {__version__}\n")
        return
    if args in (["--help"], ["-h"]) and _fixed_help_applies():
        from linesync_cli.root_help import ROOT_HELP

        _write(ROOT_HELP)
        return
    from linesync_cli.app import main as run_app

    try:
        run_app()
    finally:
        # The command is over (its files and connections are closed by their owners); what is
        # left is the interpreter's teardown, whose garbage collections walk every object the
        # run made: 0.45-0.6 s after a 300,000-event backfill, between its last answer and
        # the exit. Frozen objects are skipped; everything else about the exit is unchanged.
        import gc

        gc.freeze()
