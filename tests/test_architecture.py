"""The dependency rule of docs/ARCHITECTURE.md, enforced over the source with `ast`.

Rules (each one has a probe below that breaks it, so each can fail):
- direction: `commands` -> `core` -> `api`, never back up (api imports neither core nor commands;
  core does not import commands);
- core/ and api/ import none of `linesync_cli.render`, `linesync_cli.commands`, `linesync_cli.context`,
  `linesync_cli.app`, typer, click, rich, tabulate;
- core/ and api/ never write to the terminal: no `print(`, no `sys.stdout`/`sys.stderr`, no `echo`;
- only api/ imports httpx (and sandbox/, the stand-in server behind `linesync sandbox`).
Imports are matched by full module name (`rich.console` is `rich`; `richer` is not), relative
imports are resolved against the module's package, and `from linesync_cli import render` counts as
importing `linesync_cli.render`. Imports inside functions and under TYPE_CHECKING count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "linesync_cli"
PACKAGE = "linesync_cli"

# A layer may import layers to its right, never to its left.
LAYERS = ("commands", "core", "api")
TERMINAL_FREE = ("core", "api")
TERMINAL_MODULES = (
    f"{PACKAGE}.render",
    f"{PACKAGE}.commands",
    f"{PACKAGE}.context",
    f"{PACKAGE}.app",
    "typer",
    "click",
    "rich",
    "tabulate",
)
HTTP_MODULES = ("httpx",)
# sandbox/ is the server side of the stand-ins (httpx.Headers for case-insensitive headers).
HTTP_AREAS = ("api", "sandbox")
STREAMS = ("stdout", "stderr", "__stdout__", "__stderr__")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. linesync_cli.core.linkage
    is_package: bool  # an __init__.py: relative imports resolve against itself
    source: str

    @property
    def area(self) -> str | None:
        """The subpackage or top-level module under the package: `core`, `api`, `render`..."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else None

    @property
    def layer(self) -> str | None:
        return self.area if self.area in LAYERS else None


def load_package(root: Path = PACKAGE_DIR, package: str = PACKAGE) -> list[Module]:
    modules = []
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules.append(Module(".".join(parts), is_package, path.read_text(encoding="utf-8")))
    return modules


def imported_names(module: Module) -> set[str]:
    """Every module name `module` imports, relative imports resolved, `from a import b` as a and a.b."""
    names: set[str] = set()
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _matches(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


def _banned_imports(module: Module, banned: tuple[str, ...]) -> list[str]:
    hits = {b for name in imported_names(module) for b in banned if _matches(name, b)}
    return sorted(hits)


def terminal_writes(module: Module) -> list[str]:
    """`print(...)`, `sys.stdout`/`sys.stderr` (also imported by name) and `echo(...)` of click/typer."""
    found = []
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "echo"):
            found.append(f"line {node.lineno}: {node.func.id}(")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in STREAMS:
                found.append(f"line {node.lineno}: sys.{node.attr}")
            elif node.value.id in ("click", "typer") and node.attr in ("echo", "secho"):
                found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            found += [f"line {node.lineno}: from sys import {a.name}" for a in node.names if a.name in STREAMS]
    return found


def violations(modules: list[Module]) -> list[str]:
    """Every broken rule in `modules`, one line each (empty when the layering holds)."""
    out = []
    for module in modules:
        layer = module.layer
        upward: list[str] = []
        if layer is not None:
            above = LAYERS[: LAYERS.index(layer)]
            upward = _banned_imports(module, tuple(f"{PACKAGE}.{a}" for a in above))
            out += [f"{module.name} imports {u}: {layer}/ must not import the layer above it" for u in upward]
        if layer in TERMINAL_FREE:
            # An upward import of commands is said once, by the rule above.
            terminal = [t for t in _banned_imports(module, TERMINAL_MODULES) if t not in upward]
            out += [f"{module.name} imports {t}: {layer}/ knows nothing of the terminal" for t in terminal]
            out += [f"{module.name} writes to the terminal ({w}): return data, the command renders it"
                    for w in terminal_writes(module)]
        if module.area not in HTTP_AREAS:
            out += [f"{module.name} imports {h}: HTTP belongs to {PACKAGE}/api/"
                    for h in _banned_imports(module, HTTP_MODULES)]
    return out


def test_the_package_and_every_layer_have_modules() -> None:
    # A renamed folder must fail here, not make the rules pass over nothing.
    layers = {m.layer for m in load_package()}
    assert set(LAYERS) <= layers, f"no modules found for {sorted(set(LAYERS) - layers)} under {PACKAGE_DIR}"


def test_the_package_keeps_the_dependency_rule() -> None:
    modules = load_package()
    assert len(modules) > 20, f"only {len(modules)} modules found under {PACKAGE_DIR}"
    assert violations(modules) == []


# -- every rule can fail: one probe per rule, through the same checker -------------------

PROBES = {
    "api imports core": ("api.probe", "from linesync_cli.core.linkage import LinkStatus\n"),
    "api imports commands, relatively": ("api.probe", "from ..commands import options\n"),
    "core imports commands by full name": ("core.probe", "import linesync_cli.commands.options\n"),
    "core imports commands, relatively from a subpackage": ("core.backfill.probe", "from ...commands.options import x\n"),
    "core imports render": ("core.probe", "from linesync_cli import render\n"),
    "core imports render, relatively": ("core.probe", "from .. import render\n"),
    "core imports context": ("core.probe", "from linesync_cli.context import AppContext\n"),
    "core imports typer inside a function": ("core.probe", "def f():\n    import typer\n"),
    "api imports rich.console": ("api.probe", "from rich.console import Console\n"),
    "core imports tabulate": ("core.probe", "import tabulate\n"),
    "core imports click": ("core.probe", "import click\n"),
    "core prints": ("core.probe", "print('x')\n"),
    "api writes sys.stdout": ("api.probe", "import sys\nsys.stdout.write('x')\n"),
    "core writes sys.stderr": ("core.probe", "import sys\nout = sys.stderr\n"),
    "core imports stderr by name": ("core.probe", "from sys import stderr\n"),
    "core calls click.echo": ("core.probe", "click.echo('x')\n"),
    "core imports httpx": ("core.probe", "import httpx\n"),
    "commands imports httpx": ("commands.probe", "import httpx._client\n"),
    "render imports httpx": ("render_probe", "from httpx import Client\n"),
}


@pytest.mark.parametrize("rule", PROBES)
def test_a_probe_breaking_each_rule_is_caught(rule: str) -> None:
    where, source = PROBES[rule]
    probe = Module(f"{PACKAGE}.{where}", False, source)
    found = violations([probe])
    assert len(found) == 1, f"{rule}: {found}"


def test_probes_are_found_on_disk_too(tmp_path: Path) -> None:
    # The same checker over files: a renamed or mis-globbed tree cannot hide a probe.
    (tmp_path / "core" / "backfill").mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("from .. import render\n")
    (tmp_path / "core" / "backfill" / "probe.py").write_text("from ..linkage import x\nfrom ...commands import y\n")
    found = violations(load_package(tmp_path))
    assert found == [
        "linesync_cli.core imports linesync_cli.render: core/ knows nothing of the terminal",
        "linesync_cli.core.backfill.probe imports linesync_cli.commands: core/ must not import the layer above it",
    ]


def test_lawful_imports_pass() -> None:
    # The checker must not cry wolf: these are the imports the rule allows.
    lawful = [
        Module(f"{PACKAGE}.commands.probe", False, "from linesync_cli.core import linkage\nimport typer\nprint(1)\n"),
        Module(f"{PACKAGE}.core.probe", False, "from linesync_cli.api.klaviyo import KlaviyoClient\nimport richer\n"),
        Module(f"{PACKAGE}.core.probe", False, "from ..errors import UsageError\nfrom . import metrics\n"),
        Module(f"{PACKAGE}.api.probe", False, "import httpx\nfrom linesync_cli.errors import BadRequest\n"),
        Module(f"{PACKAGE}.sandbox.probe", False, "import httpx\n"),
        Module(f"{PACKAGE}.core.probe", False, "import os\nos.sys = 1\nlog = logger.echo\n"),
    ]
    assert violations(lawful) == []
