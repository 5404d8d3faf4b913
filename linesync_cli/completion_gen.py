"""Static bash, zsh and fish completion scripts generated from the Typer app.

    python -m linesync_cli.completion_gen            # rewrite completions/ (and linesync_cli/root_help.py)
    python -m linesync_cli.completion_gen --check    # exit 1 when completions/ is stale

It also writes `linesync_cli/root_help.py`, the root help as printed off a terminal,
which `linesync --help | ...` serves without loading Typer (`entry.py`): the same
command changes both, so one regeneration follows both.

Static scripts answer a Tab from data written into them, so no Python starts per
Tab (Typer's own `--install-completion` scripts run linesync on every Tab; they
still work). Values come from the command tree: commands, subcommands, options,
choices (`--format table|json|csv`), and paths for FILE/DIR options and arguments.
A parameter with an `autocompletion=` callback contributes what the callback
returns for an empty word, at generation time.

Not imported by the CLI itself; tests/test_completions.py fails when the committed
scripts drift from the app.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROG = "linesync"
REGENERATE = "python -m linesync_cli.completion_gen"
HEADER = f"generated from the linesync command tree by `{REGENERATE}`; do not edit"

# What a value completes to: one of these, a tuple of choices, or a CommaList.
FILE, DIR, ANY = "@file", "@dir", "@any"


@dataclass(frozen=True)
class CommaList:
    """Choices given as one comma-separated value (`--only sent,clicked`)."""

    words: tuple[str, ...]


def hints() -> dict[tuple[tuple[str, ...], str], tuple[str, ...] | CommaList]:
    """Known words for values that the command tree types as free text, by (command path, option or
    argument name). Taken from where the CLI takes them, so they follow the catalogue and the checks."""
    from linesync_cli.catalogue import ACTION_KEYS
    from linesync_cli.commands.backfill import OUTPUT_FORMATS
    from linesync_cli.core.doctor import CHECK_IDS
    from linesync_cli.core.segment_presets import PRESETS

    return {
        (("backfill",), "--format"): OUTPUT_FORMATS,  # csv|jsonl|line-webhook there are deprecated
        (("backfill",), "--only"): CommaList(ACTION_KEYS),
        (("doctor",), "--only"): CommaList(CHECK_IDS),
        (("doctor",), "--skip"): CommaList(CHECK_IDS),
        (("metrics", "show"), "METRIC"): ACTION_KEYS,
        (("segments", "create"), "PRESET"): tuple(p.key for p in PRESETS),
    }


@dataclass(frozen=True)
class Opt:
    names: tuple[str, ...]
    help: str
    value: str | tuple[str, ...] | CommaList | None  # None: a flag, takes no value


@dataclass
class Node:
    path: tuple[str, ...]
    help: str
    options: list[Opt] = field(default_factory=list)
    subcommands: list[Node] = field(default_factory=list)
    argument: str | tuple[str, ...] | CommaList | None = None  # what positional words complete to

    @property
    def key(self) -> str:
        return " ".join(self.path)

    def walk(self):
        yield self
        for sub in self.subcommands:
            yield from sub.walk()


def _one_line(text: str | None) -> str:
    """The first sentence of a help text, on one line, without Rich markup."""
    if not text:
        return ""
    para = re.split(r"\n\s*\n", text.strip())[0]
    para = re.sub(r"\[/?[a-z ]+\]", "", " ".join(para.split()))
    match = re.match(r"(.+?[.!?])(\s|$)", para)
    return (match.group(1) if match else para).rstrip(".")


def _value_kind(param, ctx) -> str | tuple[str, ...] | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    items = param.shell_complete(ctx, "")
    if items:
        kinds = {item.type for item in items}
        if kinds <= {"file"}:
            return FILE
        if kinds <= {"dir"}:
            return DIR
        return tuple(str(item.value) for item in items if item.type == "plain")
    desc = param.type_descriptor
    metavar = (param.metavar or "").upper()
    if desc.is_path:
        return DIR if desc.path_type == "dir" or metavar == "DIR" else FILE
    if metavar in ("FILE", "PATH") or metavar.startswith("FILE"):
        return FILE
    if metavar == "DIR":
        return DIR
    return ANY


def _default_subcommand(group, ctx):
    """A hidden subcommand that the group runs when the first word is no command (backfill FILE...)."""
    try:
        probe = group.make_context(ctx.info_name, ["--", "linesync-completion-probe"], parent=ctx.parent,
                                   resilient_parsing=True)
    except Exception:
        return None
    first = (getattr(probe, "_protected_args", None) or probe.args or [None])[0]
    command = group.commands.get(first) if first else None
    return command if command is not None and command.hidden else None


def _node(command, ctx, path: tuple[str, ...], known: dict) -> Node:
    import typer

    node = Node(path=path, help=_one_line(command.short_help or command.help))
    commands = [command]
    if hasattr(command, "list_commands"):
        default = _default_subcommand(command, ctx)
        if default is not None:
            commands.append(default)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            node.subcommands.append(_node(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name), known))
    seen: set[str] = set()
    for cmd in commands:
        cmd_ctx = ctx if cmd is command else typer.Context(cmd, info_name=ctx.info_name, parent=ctx)
        for param in cmd.params:
            if getattr(param, "hidden", False):
                continue
            value = _value_kind(param, cmd_ctx)
            if param.param_type_name == "argument":
                node.argument = known.pop((path, param.name.upper()), value)
                continue
            if value == ANY:
                value = known.pop((path, param.opts[0]), value)
            names = tuple(n for n in (*param.opts, *param.secondary_opts) if n not in seen)
            seen.update(names)
            if names:
                node.options.append(Opt(names=names, help=_one_line(param.help), value=value))
    help_names = tuple(n for n in ctx.help_option_names if n not in seen)
    if help_names:
        node.options.append(Opt(names=help_names, help="Show this message and exit", value=None))
    return node


def command_tree(app=None) -> Node:
    """The completion model of the whole CLI (the root node)."""
    import typer

    if app is None:
        from linesync_cli.app import app
    root = typer.main.get_command(app)
    known = hints()
    tree = _node(root, typer.Context(root, info_name=PROG), (), known)
    # Global options are accepted after the command too (the root hoists them), so every
    # command completes them.
    root_only = {"--help", "-h", "--install-completion", "--show-completion", "--version"}
    global_options = [o for o in tree.options if not set(o.names) & root_only]
    for node in tree.walk():
        if node is not tree:
            taken = {n for o in node.options for n in o.names}
            node.options.extend(o for o in global_options if not set(o.names) & taken)
    if known:  # an option was renamed or gained choices of its own: the table must follow
        stale = ", ".join(f"`{' '.join((PROG, *path))} {name}`" for path, name in known)
        raise LookupError(f"completion hints for {stale} match no free-text option or argument; "
                          "update hints() in linesync_cli/completion_gen.py")
    return tree


# -- bash ------------------------------------------------------------------------


def _bash_words(words) -> str:
    return " ".join(words)


def _bash_value(value) -> str:
    if isinstance(value, CommaList):
        return "@list:" + _bash_words(value.words)
    return value if isinstance(value, str) else _bash_words(value)


def bash_script(tree: Node) -> str:
    subs, opts, values, args = [], [], [], []
    for node in tree.walk():
        key = node.key
        if node.subcommands:
            subs.append(f'        "{key}") REPLY="{_bash_words(s.path[-1] for s in node.subcommands)}" ;;')
        opts.append(f'        "{key}") REPLY="{_bash_words(n for o in node.options for n in o.names)}" ;;')
        for opt in node.options:
            if opt.value is not None:
                pattern = "|".join(f'"{key}|{n}"' for n in opt.names)
                values.append(f'        {pattern}) REPLY="{_bash_value(opt.value)}" ;;')
        if node.argument is not None:
            args.append(f'        "{key}") REPLY="{_bash_value(node.argument)}" ;;')
    case_end = '        *) return 1 ;;\n    esac\n}'
    return f"""# bash completion for {PROG}; {HEADER}.
# Install: copy to ~/.local/share/bash-completion/completions/{PROG}, or `source` it from ~/.bashrc.

# Subcommands of a command path ("" is the root).
_{PROG}_subcommands() {{
    case "$1" in
{chr(10).join(subs)}
{case_end}

# Options of a command path.
_{PROG}_options() {{
    case "$1" in
{chr(10).join(opts)}
{case_end}

# What the value of "PATH|OPTION" completes to: @file, @dir, @any, words, or @list:words
# (comma-separated); fails for a flag.
_{PROG}_option_value() {{
    case "$1|$2" in
{chr(10).join(values)}
{case_end}

# What positional arguments of a command path complete to.
_{PROG}_arguments() {{
    case "$1" in
{chr(10).join(args) if args else '        "-") REPLY="" ;;'}
{case_end}

_{PROG}_complete_value() {{
    case "$1" in
        @file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        @dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        @any) COMPREPLY=() ;;
        @list:*)
            # The word after the last comma; the ones before it stay as typed.
            local done=""
            [[ $cur == *,* ]] && done="${{cur%,*}},"
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "${{1#@list:}}" -P "$done" -- "${{cur##*,}}")) ;;
        *) COMPREPLY=($(compgen -W "$1" -- "$cur")) ;;
    esac
}}

_{PROG}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" cmdpath="" word REPLY i=1
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    # Walk the words before the cursor: descend into subcommands, skip option values.
    while (( i < COMP_CWORD )); do
        word="${{COMP_WORDS[i]}}"
        if [[ $word == -* ]]; then
            if _{PROG}_option_value "$cmdpath" "$word"; then
                # --opt=value arrives as three words: --opt, =, value.
                if [[ ${{COMP_WORDS[i+1]}} == "=" ]]; then (( i += 2 )); else (( i += 1 )); fi
            fi
        elif _{PROG}_subcommands "$cmdpath" && [[ " $REPLY " == *" $word "* ]]; then
            cmdpath="${{cmdpath:+$cmdpath }}$word"
        fi
        (( i += 1 ))
    done
    # The value of an option: after "--opt ", "--opt=" or "--opt=partial".
    local option=""
    if [[ $cur == "=" ]]; then
        option="$prev"; cur=""
    elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
        option="${{COMP_WORDS[COMP_CWORD-2]}}"
    elif [[ $prev == -* ]]; then
        option="$prev"
    fi
    if [[ -n $option ]] && _{PROG}_option_value "$cmdpath" "$option"; then
        _{PROG}_complete_value "$REPLY"
        return 0
    fi
    if [[ $cur == -* ]]; then
        _{PROG}_options "$cmdpath"
        COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
        return 0
    fi
    local words=""
    _{PROG}_subcommands "$cmdpath" && words="$REPLY"
    if _{PROG}_arguments "$cmdpath"; then
        if [[ $REPLY == @* ]]; then
            _{PROG}_complete_value "$REPLY"
            COMPREPLY+=($(compgen -W "$words" -- "$cur"))
            return 0
        fi
        words="$words $REPLY"
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}

complete -F _{PROG} {PROG}
"""


# -- zsh -------------------------------------------------------------------------


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_described(name: str, help_text: str) -> str:
    return _zsh_quote(f"{name.replace(':', chr(92) + ':')}:{help_text}" if help_text else name.replace(":", "\\:"))


def _zsh_words(value) -> str:
    if isinstance(value, CommaList):
        return " ".join(_zsh_quote(w) for w in ("@list", *value.words))
    return " ".join(_zsh_quote(w) for w in ((value,) if isinstance(value, str) else value))


def zsh_script(tree: Node) -> str:
    subs, opts, values, args = [], [], [], []
    for node in tree.walk():
        key = _zsh_quote(node.key)
        if node.subcommands:
            items = " ".join(_zsh_described(s.path[-1], s.help) for s in node.subcommands)
            subs.append(f"        {key}) reply=({items}) ;;")
        items = " ".join(_zsh_described(n, o.help) for o in node.options for n in o.names)
        opts.append(f"        {key}) reply=({items}) ;;")
        for opt in node.options:
            if opt.value is not None:
                pattern = "|".join(_zsh_quote(f"{node.key}|{n}") for n in opt.names)
                values.append(f"        {pattern}) reply=({_zsh_words(opt.value)}) ;;")
        if node.argument is not None:
            args.append(f"        {key}) reply=({_zsh_words(node.argument)}) ;;")
    case_end = "        *) return 1 ;;\n    esac\n}"
    return f"""#compdef {PROG}
# zsh completion for {PROG}; {HEADER}.
# Install: copy to a directory in $fpath as _{PROG} (then `compinit`), or `source` it after compinit.

# Subcommands of a command path ("" is the root), as name:description.
_{PROG}_subcommands() {{
    case $1 in
{chr(10).join(subs)}
{case_end}

# Options of a command path, as name:description.
_{PROG}_options() {{
    case $1 in
{chr(10).join(opts)}
{case_end}

# What the value of "PATH|OPTION" completes to: @file, @dir, @any, words, or @list:words
# (comma-separated); fails for a flag.
_{PROG}_option_value() {{
    case "$1|$2" in
{chr(10).join(values)}
{case_end}

# What positional arguments of a command path complete to.
_{PROG}_arguments() {{
    case $1 in
{chr(10).join(args) if args else "        '-') reply=() ;;"}
{case_end}

_{PROG}_complete_value() {{
    case $1 in
        @file) _files ;;
        @dir) _files -/ ;;
        @any) _message 'value' ;;
        @list) shift; _values -s , 'value' "$@" ;;
        *) compadd -- "$@" ;;
    esac
}}

_{PROG}() {{
    local cmdpath="" word option
    local -a reply subcommands
    local -i i=2
    # Walk the words before the cursor: descend into subcommands, skip option values.
    while (( i < CURRENT )); do
        word=${{words[i]}}
        if [[ $word == -* ]]; then
            [[ $word != *=* ]] && _{PROG}_option_value "$cmdpath" "$word" && (( i += 1 ))
        elif _{PROG}_subcommands "$cmdpath" && (( ${{reply[(I)${{(b)word}}(|:*)]}} )); then
            cmdpath="${{cmdpath:+$cmdpath }}$word"
        fi
        (( i += 1 ))
    done
    word=${{words[CURRENT]}}
    if [[ $word == -*=* ]] && _{PROG}_option_value "$cmdpath" "${{word%%=*}}"; then
        compset -P '*='
        _{PROG}_complete_value "${{reply[@]}}"
        return
    fi
    option=${{words[CURRENT-1]}}
    if (( CURRENT > 2 )) && [[ $option == -* && $option != *=* ]] && _{PROG}_option_value "$cmdpath" "$option"; then
        _{PROG}_complete_value "${{reply[@]}}"
        return
    fi
    if [[ $word == -* ]]; then
        _{PROG}_options "$cmdpath" && _describe -t options 'option' reply
        return
    fi
    if _{PROG}_subcommands "$cmdpath"; then
        subcommands=("${{reply[@]}}")
        _describe -t commands 'command' subcommands
    fi
    _{PROG}_arguments "$cmdpath" && _{PROG}_complete_value "${{reply[@]}}"
}}

if [[ ${{zsh_eval_context[-1]}} == loadautofunc ]]; then
    _{PROG} "$@"
else
    compdef _{PROG} {PROG}
fi
"""


# -- fish ------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_names(names) -> str:
    parts = []
    for name in names:
        if name.startswith("--"):
            parts.append(f"-l {name[2:]}")
        elif len(name) == 2:
            parts.append(f"-s {name[1]}")
        else:
            parts.append(f"-o {name[1:]}")
    return " ".join(parts)


def _fish_value(value) -> str:
    if value is None:
        return ""
    if value == FILE:
        return " -r -F"
    if value == DIR:
        return " -x -a '(__fish_complete_directories)'"
    if value == ANY:
        return " -x"
    if isinstance(value, CommaList):
        return f" -x -a {_fish_quote(f'(__{PROG}_comma_list {chr(32).join(value.words)})')}"
    return f" -x -a {_fish_quote(' '.join(value))}"


def fish_script(tree: Node) -> str:
    subs, takes, lines = [], [], []
    for node in tree.walk():
        key = _fish_quote(node.key)
        cond = f"-n \"__{PROG}_at '{node.key}'\""
        if node.subcommands:
            subs.append(f"        case {key}\n            echo {' '.join(s.path[-1] for s in node.subcommands)}")
        valued = [n for o in node.options if o.value is not None for n in o.names]
        if valued:
            takes.append(f"        case {key}\n            contains -- $argv[2] {' '.join(valued)}")
        for sub in node.subcommands:
            lines.append(f"complete -c {PROG} {cond} -a {sub.path[-1]} -d {_fish_quote(sub.help)}")
        for opt in node.options:
            lines.append(f"complete -c {PROG} {cond} {_fish_names(opt.names)}{_fish_value(opt.value)}"
                         f" -d {_fish_quote(opt.help)}")
        if node.argument == FILE or node.argument == DIR:
            lines.append(f"complete -c {PROG} {cond} -F")
        elif node.argument not in (None, ANY):
            lines.append(f"complete -c {PROG} {cond}{_fish_value(node.argument).replace(' -x', '', 1)}")
    return f"""# fish completion for {PROG}; {HEADER}.
# Install: copy to ~/.config/fish/completions/{PROG}.fish

# Subcommands of a command path ("" is the root).
function __{PROG}_subcommands
    switch $argv[1]
{chr(10).join(subs)}
    end
end

# Succeeds when option $argv[2] of command path $argv[1] takes a value.
function __{PROG}_takes_value
    switch $argv[1]
{chr(10).join(takes)}
        case '*'
            return 1
    end
end

# The command path of the command line before the cursor, e.g. "links sync".
function __{PROG}_path
    set -l cmdpath ''
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip -eq 1
            set skip 0
        else if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and __{PROG}_takes_value "$cmdpath" $word
                set skip 1
            end
        else if contains -- $word (string split ' ' -- (__{PROG}_subcommands "$cmdpath"))
            set cmdpath (string trim -- "$cmdpath $word")
        end
    end
    echo $cmdpath
end

function __{PROG}_at
    set -l cmdpath (__{PROG}_path)
    test "$cmdpath" = "$argv[1]"
end

# Candidates for the word after the last comma of a comma-separated value.
function __{PROG}_comma_list
    set -l done (string replace -r '[^,]*$' '' -- (commandline -ct | string replace -r '^--[^=]*=' ''))
    printf '%s\n' $done$argv
end

complete -c {PROG} -f
{chr(10).join(lines)}
"""


SCRIPTS = {
    "linesync.bash": bash_script,
    "_linesync": zsh_script,
    "linesync.fish": fish_script,
}


def render_all(app=None) -> dict[str, str]:
    """File name under completions/ -> its content."""
    tree = command_tree(app)
    return {name: render(tree) for name, render in SCRIPTS.items()}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=REGENERATE, description="Write completions/ from the linesync command tree.")
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed script differs")
    source_tree = Path(__file__).resolve().parents[1]
    default_dir = source_tree / "completions" if (source_tree / "pyproject.toml").is_file() else Path("completions")
    parser.add_argument("--dir", type=Path, default=default_dir,
                        help="output directory (default: completions/ of the source tree)")
    args = parser.parse_args(argv)
    stale = []
    for name, content in render_all().items():
        path = args.dir / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == content:
            continue
        stale.append(name)
        if not args.check:
            args.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    help_path = Path(__file__).with_name("root_help.py")
    help_module = render_root_help_module()
    if (help_path.read_text(encoding="utf-8") if help_path.is_file() else None) != help_module:
        stale.append("linesync_cli/root_help.py")
        if not args.check:
            help_path.write_text(help_module, encoding="utf-8")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run `{REGENERATE}`", file=sys.stderr)
        return 1
    return 0


def render_root_help_module() -> str:
    from linesync_cli.entry import render_root_help

    lines = "".join(f"    {line!r},\n" for line in render_root_help().splitlines(keepends=True))
    return f'"""`linesync --help` off a terminal, {HEADER}."""\n\nROOT_HELP = "".join((\n{lines}))\n'


if __name__ == "__main__":
    sys.exit(main())
