"""The dependency rule of docs/ARCHITECTURE.md, enforced.

core/ and api/ know nothing of the terminal (no typer, no rich, no print), and
only api/ (and the sandbox server) imports httpx. A violation fails here rather than in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "linesync_cli"


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _calls_print(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print" for n in ast.walk(tree)
    )


@pytest.mark.parametrize("path", _modules("core") + _modules("api"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_and_api_know_nothing_of_the_terminal(path: Path) -> None:
    banned = _imports(path) & {"typer", "rich", "click", "tabulate"}
    assert not banned, f"{path.name} imports {sorted(banned)}; rendering belongs in commands/ and render.py"
    assert not _calls_print(path), f"{path.name} calls print(); return data and let the command render it"


@pytest.mark.parametrize(
    "path",
    # sandbox/ is the server side (the local Klaviyo and LINE); it uses httpx only for its Headers.
    [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("api", "sandbox")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_api_clients_do_http(path: Path) -> None:
    assert "httpx" not in _imports(path), f"{path.name} imports httpx; HTTP belongs to linesync_cli/api/"


def test_the_rule_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import rich\nprint('x')\n")
    assert "rich" in _imports(bad)
    assert _calls_print(bad)
