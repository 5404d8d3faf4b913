"""The entry point answers `--version` and piped `--help` without Typer, and the same text as the app.

Speed itself is a benchmark (benchmarks/startup.py); these check what makes it fast
stays true and changes no byte of output.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from linesync_cli import completion_gen, root_help
from linesync_cli.entry import _RENDERING_VARIABLES

# Runs the entry point, then says which heavy modules it loaded (the app exits through SystemExit).
PROBE = """
import sys
sys.argv = ['linesync', *sys.argv[1:]]
from linesync_cli.entry import main
try:
    main()
finally:
    print(sorted(m for m in ('typer', 'click', 'rich', 'linesync_cli.app') if m in sys.modules), file=sys.stderr)
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LINESYNC_", *_RENDERING_VARIABLES)) and k != "COLUMNS"}
    return env | extra


def probe(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=clean_env(**env), timeout=60)


def test_committed_root_help_is_what_the_app_prints():
    assert (completion_gen.render_root_help_module()
            == (completion_gen.Path(root_help.__file__).read_text(encoding="utf-8"))), (
        f"linesync_cli/root_help.py differs from `linesync --help`; regenerate with `{completion_gen.REGENERATE}`")


def test_piped_help_and_version_load_no_framework():
    result = probe("--help")
    assert result.returncode == 0
    assert result.stdout == root_help.ROOT_HELP
    assert "Usage: linesync [OPTIONS] COMMAND" in result.stdout
    assert result.stderr.strip() == "[]", result.stderr
    result = probe("--version")
    assert result.stdout == f"linesync {__import__('linesync_cli').__version__}\n"
    assert result.stderr.strip() == "[]", result.stderr


def test_forced_colour_is_rendered_by_the_app_and_a_width_changes_nothing_piped():
    # Piped help is unwrapped whatever COLUMNS says, so the fixed text still answers.
    wide = probe("--help", COLUMNS="120")
    assert wide.returncode == 0 and wide.stdout == root_help.ROOT_HELP and "linesync_cli.app" not in wide.stderr
    assert max(len(line) for line in wide.stdout.splitlines()) > 120  # not wrapped at the width
    coloured = probe("-h", FORCE_COLOR="1")
    assert "\x1b[" in coloured.stdout and "linesync_cli.app" in coloured.stderr
    # Anything but the bare option is the app's, as before.
    assert "linesync_cli.app" in probe("backfill", "--help").stderr


def test_a_terminal_still_gets_the_rich_help():
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "linesync_cli", "--help"], stdin=follower, stdout=follower,
                            stderr=follower, env=clean_env(TERM="xterm-256color"), close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode()
    assert "Usage:" in out and "\x1b[" in out, "on a terminal the help is Rich's, with colour"


def test_piped_help_survives_a_closed_pipe():
    proc = subprocess.Popen([sys.executable, "-m", "linesync_cli", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env())
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
