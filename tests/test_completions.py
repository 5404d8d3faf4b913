"""completions/: the static bash, zsh and fish scripts match the app and complete in their shells.

The shell checks run when the shell is installed and skip otherwise (CI has bash only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from linesync_cli import completion_gen
from linesync_cli.app import app

PROJECT = Path(__file__).resolve().parents[1]
COMPLETIONS = PROJECT / "completions"

# (words on the command line, the last one being completed) -> words offered.
CASES = [
    (["linesync", ""], {"backfill", "links", "check-link", "inspect-profile", "doctor", "metrics", "events", "report",
                          "reconcile", "segments", "config", "sandbox"}),
    (["linesync", "sandbox", ""], {"start", "stop", "env", "status"}),
    (["linesync", "sandbox", "start", "--l"], {"--latency-ms", "--line-base-url", "--link-key"}),
    (["linesync", "li"], {"links"}),
    (["linesync", "links", ""], {"sync", "status"}),
    (["linesync", "links", "sync", "--f"], {"--full", "--format"}),
    (["linesync", "links", "sync", "--format", ""], {"table", "json", "csv"}),
    (["linesync", "--state-dir", "/tmp", "metrics", "show", "--interval", ""], {"hour", "day", "week"}),
    # Global options complete after the command too: the root accepts them anywhere.
    (["linesync", "-v", "doctor", "--s"], {"--since", "--skip", "--segment", "--strict", "--state-dir", "--suggest-utm"}),
    (["linesync", "links", "sync", "--ret"], {"--retries"}),
    (["linesync", "backfill", "--input-format", ""], {"csv", "jsonl", "line-webhook"}),
    (["linesync", "backfill", "--rej"], {"--rejects"}),
    (["linesync", "backfill", "--format", ""], {"table", "json"}),  # input formats: --input-format
    (["linesync", "metrics", "show", "q"], {"qr_scanned"}),
    (["linesync", "segments", "create", "line-l"], {"line-linked"}),
]
# Comma-separated values: the word after the last comma completes (zsh's _values does it there).
LIST_CASES = [
    (["linesync", "backfill", "--only", "sent,cl"], {"sent,clicked"}),
    (["linesync", "doctor", "--skip", "line-metrics,link-"], {"line-metrics,link-index"}),
]
FILE_CASES = [
    (["linesync", "backfill", "examples/actions."], {"examples/actions.csv", "examples/actions.jsonl"}),
    (["linesync", "backfill", "--link-map", "examples/link-"], {"examples/link-map.csv"}),
    (["linesync", "doctor", "--message", "examples/messages/flex-s"], {"examples/messages/flex-sale.json"}),
]


def _case_id(case) -> str:
    return " ".join(case[0][1:]) + "⇥"


def _visible_paths(command, ctx, path=()):
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _visible_paths(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name))


def test_committed_scripts_match_the_app():
    stale = [name for name, content in completion_gen.render_all().items()
             if not (COMPLETIONS / name).is_file() or (COMPLETIONS / name).read_text(encoding="utf-8") != content]
    assert not stale, (f"completions/{', completions/'.join(stale)} differ from the commands and options of the app; "
                       f"regenerate with `{completion_gen.REGENERATE}` and commit them")


def test_the_model_holds_every_command_and_option():
    root = typer.main.get_command(app)
    nodes = {node.path: node for node in completion_gen.command_tree().walk()}
    for path, command in _visible_paths(root, typer.Context(root, info_name="linesync")):
        assert path in nodes, f"`linesync {' '.join(path)}` has no completion"
        names = {n for opt in nodes[path].options for n in opt.names}
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "hidden", False):
                assert set(param.opts) <= names, f"`linesync {' '.join(path)}`: {param.opts} not completed"
    # `backfill FILE...` runs a hidden command: its options complete right after `backfill`.
    backfill = nodes[("backfill",)]
    assert {"--dry-run", "--link-map", "--input-format"} <= {n for o in backfill.options for n in o.names}
    assert backfill.argument == completion_gen.FILE


def test_a_hint_for_an_option_that_is_gone_fails_generation(monkeypatch):
    real = completion_gen.hints()
    monkeypatch.setattr(completion_gen, "hints", lambda: real | {(("doctor",), "--no-such-option"): ("x",)})
    with pytest.raises(LookupError, match="linesync doctor --no-such-option"):
        completion_gen.command_tree()


def test_check_mode_reports_a_stale_directory(tmp_path, capsys):
    assert completion_gen.main(["--check", "--dir", str(tmp_path)]) == 1
    assert completion_gen.REGENERATE in capsys.readouterr().err
    assert completion_gen.main(["--dir", str(tmp_path)]) == 0
    assert completion_gen.main(["--check", "--dir", str(tmp_path)]) == 0


def _needs(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed")
    return path


@pytest.mark.parametrize(("shell", "script", "check"), [
    ("bash", "linesync.bash", ["-n"]),
    ("zsh", "_linesync", ["-n"]),
    ("fish", "linesync.fish", ["--no-execute"]),
])
def test_script_parses(shell, script, check):
    exe = _needs(shell)
    result = subprocess.run([exe, *check, str(COMPLETIONS / script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{script} does not parse in {shell}:\n{result.stderr}"


def _run(exe: str, args: list[str], script: str) -> list[str]:
    result = subprocess.run([exe, *args, "-c", script], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _offered(lines: list[str], cases) -> dict[str, set[str]]:
    assert len(lines) == len(cases), lines
    return {_case_id(case): set(line.split()) for case, line in zip(cases, lines, strict=True)}


def _bash_word(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_bash_completes():
    exe = _needs("bash")
    cases = CASES + FILE_CASES + LIST_CASES
    calls = "\n".join(
        f"COMP_WORDS=({' '.join(_bash_word(w) for w in words)}); COMP_CWORD={len(words) - 1}; COMPREPLY=(); "
        'complete_fn; echo "${COMPREPLY[*]}"'
        for words, _ in cases)
    script = f"source {_bash_word(str(COMPLETIONS / 'linesync.bash'))}\ncomplete_fn() {{ _linesync; }}\n{calls}"
    offered = _offered(_run(exe, ["--norc", "--noprofile"], script), cases)
    for case in cases:
        assert offered[_case_id(case)] == case[1], _case_id(case)


def test_fish_completes():
    exe = _needs("fish")
    cases = CASES + FILE_CASES + LIST_CASES
    calls = "\n".join(
        "echo (complete -C" + _bash_word(" ".join(words)) + " | string replace -r '\\t.*' '')"
        for words, _ in cases)
    script = f"source {_bash_word(str(COMPLETIONS / 'linesync.fish'))}\n{calls}"
    offered = _offered(_run(exe, ["--no-config"], script), cases)
    for case in cases:
        assert offered[_case_id(case)] == case[1], _case_id(case)


def test_zsh_completion_function_offers_the_right_words():
    # A real zsh completion needs a terminal; these stubs stand in for zsh's completion
    # builtins and print what the function would offer (zsh itself filters by prefix).
    exe = _needs("zsh")
    stubs = (
        "compdef() { :; }\n"
        "_describe() { local -a arr; arr=(\"${(@P)${@[-1]}}\"); print -rn -- \"${(j: :)${arr[@]%%:*}} \"; }\n"
        "compadd() { shift; print -rn -- \"$* \"; }\n"
        "_files() { print -rn -- \"@file$* \"; }\n"
        "_message() { :; }\ncompset() { :; }\n"
        "_values() { print -rn -- \"@values$2 \"; }\n"
    )
    kinds = [  # what kind of value completes, as the _files stub reports it
        (["linesync", "backfill", ""], {"runs", "@file"}),
        (["linesync", "--state-dir", ""], {"@file-/"}),
        (["linesync", "backfill", "--out", ""], {"@file-/"}),
        (["linesync", "doctor", "--only", ""], {"@values,"}),
    ]
    calls = "\n".join(f"words=({' '.join(_bash_word(w) for w in words)}); CURRENT={len(words)}; _linesync; print"
                      for words, _ in CASES + kinds)
    script = f"source {_bash_word(str(COMPLETIONS / '_linesync'))}\n{stubs}{calls}"
    offered = _offered(_run(exe, ["-f"], script), CASES + kinds)
    for words, expected in CASES:
        got = {w for w in offered[_case_id((words, expected))] if w.startswith(words[-1])}
        assert got == expected, _case_id((words, expected))
    for case in kinds:
        assert offered[_case_id(case)] == case[1], _case_id(case)


def _linesync_subprocess(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LINESYNC_", "_LINESYNC", "_TYPER"))}
    return subprocess.run([sys.executable, "-m", "linesync_cli", *args], capture_output=True, text=True,
                          env=clean | env, timeout=60)


def test_typer_install_completion_still_works(tmp_path):
    result = _linesync_subprocess(["--install-completion", "bash"],
                                  {"HOME": str(tmp_path), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert result.returncode == 0, result.stderr
    installed = tmp_path / ".bash_completions" / "linesync.sh"
    assert "_LINESYNC_COMPLETE" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()
    # ... and the dynamic script it installs gets answers from the app.
    answer = _linesync_subprocess([], {"_LINESYNC_COMPLETE": "complete_bash", "COMP_WORDS": "linesync links sync --format ",
                                       "COMP_CWORD": "4"})
    assert answer.stdout.split() == ["table", "json", "csv"]


def test_readme_says_how_to_install_each_script():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    for name in completion_gen.SCRIPTS:
        assert f"completions/{name}" in readme, f"README.md does not say how to install completions/{name}"
