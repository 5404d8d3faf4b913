"""What an installed linesync needs: `python -m linesync_cli`, the console script, every
subpackage shipped, and a `--help` that loads none of the heavy modules.

`pip install .` and `pipx install .` from a clean clone are checked by hand (they need
the network); these are the cheap parts that can break without anyone noticing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import linesync_cli

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "linesync_cli"

# Never needed to show help: HTTP, the ledger/index database, the core, config parsing.
HEAVY = ("httpx", "sqlite3", "linesync_cli.core", "linesync_cli.api", "linesync_cli.config", "pydantic_settings",
         "tabulate")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LINESYNC_", "_LINESYNC", "_TYPER"))}


def test_python_m_linesync_cli_prints_the_version():
    result = subprocess.run([sys.executable, "-m", "linesync_cli", "--version"], capture_output=True, text=True,
                            env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"linesync {linesync_cli.__version__}"


def test_console_script_is_the_app_main():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, attr = scripts["linesync"].partition(":")
    from importlib import import_module

    assert callable(getattr(import_module(module), attr))


def test_every_module_directory_is_a_package_pip_installs():
    # setuptools' find (include linesync_cli*) ships only directories with an __init__.py;
    # an editable install would still find the others, so only a real install would fail.
    missing = [str(d.relative_to(PROJECT)) for d in [PACKAGE, *PACKAGE.rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").is_file()]
    assert not missing, f"no __init__.py, so `pip install .` leaves them out: {missing}"


_WALK_HELP = """
import json, sys
import typer
from typer.testing import CliRunner
from linesync_cli.app import app

root = typer.main.get_command(app)
paths = [[]]
def walk(command, ctx, path):
    for name in getattr(command, "commands", {}):
        sub = command.commands[name]
        if not sub.hidden:
            paths.append([*path, name])
            walk(sub, typer.Context(sub, info_name=name, parent=ctx), [*path, name])
walk(root, typer.Context(root, info_name="linesync"), [])
failed = []
for path in paths:
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        failed.append(path)
heavy = sys.argv[1].split(",")
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({"paths": len(paths), "failed": failed, "loaded": loaded}))
"""


def test_help_loads_no_heavy_modules():
    """`linesync [COMMAND] --help` for every command, in one fresh interpreter: nothing heavy imported.

    Command modules import core/httpx/rich helpers inside the command function; a
    top-level import there slows every start-up, completion and `--help`.
    """
    result = subprocess.run([sys.executable, "-c", _WALK_HELP, ",".join(HEAVY)], capture_output=True, text=True,
                            env=_env() | {"COLUMNS": "100"}, timeout=120, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["paths"] > 10 and report["failed"] == []
    assert report["loaded"] == [], (f"`--help` imported {report['loaded']}: move these imports into the "
                                    "command functions (see benchmarks/startup.py for the start-up time)")
