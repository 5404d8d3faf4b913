"""How option and argument placeholders read in `--help` (issue 15: help that reads right).

Applied once to the whole command tree by the root group, so every command, including
ones added later, follows the same rules without repeating metavars:

- a flag takes no value, so it shows none (Typer would print `<bool>`);
- a value gets a word, never a Python type: WHEN for a time, N for a number, FILE for a
  path, else the option's name in capitals (`--encoding ENCODING`); choices keep their list;
- a usage line reads `FILE...` and `[LINE_USER_ID]...`, not Typer's `{FILE}...`.
"""

from __future__ import annotations

from types import MethodType
from typing import Any

# Options whose value is a point in time (a duration back from now or an ISO 8601 time).
TIME_OPTIONS = frozenset({"--since", "--until", "--after", "--before"})


def _option_metavar(param: Any) -> str | None:
    long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
    if long in TIME_OPTIONS:
        return "WHEN"
    desc = getattr(param, "type_descriptor", None)
    if desc is None or desc.is_choice:
        return None  # choices: Typer lists them
    kind = param.bare_type().removeprefix("list[").removesuffix("]")
    if desc.is_path or kind == "Path":
        return "FILE"
    if desc.is_ranged or kind in ("int", "float"):
        return "N"
    return long.lstrip("-").replace("-", "_").upper()


def _usage_name(self: Any) -> str:
    name = self.metavar or self.name.upper()
    name = name.removesuffix("...")
    shown = name if self.required else f"[{name}]"
    return shown + ("..." if self.nargs != 1 else "")


def tidy(command: Any) -> None:
    """Apply the rules to COMMAND's own parameters (the caller walks the tree)."""
    for param in command.params:
        if param.param_type_name == "option":
            if getattr(param, "is_flag", False):
                if param.metavar is None:
                    param.metavar = ""
            elif param.metavar is None:
                param.metavar = _option_metavar(param)
        elif param.param_type_name == "argument" and hasattr(param, "_usage_display_name"):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.metavar = param.metavar.removesuffix("...")
            param._usage_display_name = MethodType(_usage_name, param)
            # The name column already says FILE...; Typer would repeat it as `<list[str]>`.
            param.display_type_rich = MethodType(lambda self, ctx: None, param)
