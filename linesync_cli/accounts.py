"""Named accounts in one config file (design.md section 9) and the key command.

```toml
default_account = "shop-a"
klaviyo_revision = "2026-07-15"      # top level: shared by every account

[accounts.shop-a]
key_command = "op read op://shops/shop-a/klaviyo"
state_dir = "/var/lib/linesync/shop-a"   # optional; default <state dir>/shop-a

[accounts.shop-b]
klaviyo_api_key = "pk_..."           # allowed; warned when the file is readable by others
link_key = "property:LINE User ID 2"
```

The account is chosen by `--account` > `LINESYNC_ACCOUNT` > `.env` > `default_account`.
Within it the usual precedence holds, the account's table standing for "config file"
ahead of the file's top level. Secrets are never inherited from the top level by an
account: a key written once at the top would otherwise be sent on behalf of every shop.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from linesync_cli.errors import ConfigError

ACCOUNT_ENV = "LINESYNC_ACCOUNT"
# Used as a directory name: no separators, no dot-dot, no leading dash.
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
KEY_COMMAND_FIELD = "klaviyo_key_command"
KEY_COMMAND_ALIASES = ("key_command",)
KEY_COMMAND_TIMEOUT = 30.0
SECRET_NAMES = frozenset({"klaviyo_api_key", "line_channel_access_token"})


@dataclass(frozen=True)
class AccountChoice:
    name: str | None  # None: no account chosen, the file's top level is the config file layer
    source: str  # "flag", "env", ".env", "default_account" or "none"
    table: dict[str, Any] = field(default_factory=dict)  # the account's own settings (raw TOML)


def oa_link_key(n: int) -> str:
    """`--oa N`: the link property of the N-th LINE Official Account (LINE's own numbering)."""
    return "property:LINE User ID" + ("" if n == 1 else f" {n}")


def check_name(name: str, where: str) -> str:
    if not ACCOUNT_NAME.fullmatch(name) or name.endswith("."):
        raise ConfigError(f"account name {name!r} ({where}) is not usable",
                          hint="use letters, digits, '.', '_' and '-' (it names the account's state directory)")
    return name


def account_tables(document: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """The `[accounts.NAME]` tables of a parsed config file, names checked."""
    accounts = document.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ConfigError(f"{path}: `accounts` must be a table of [accounts.NAME] tables",
                          hint='write `[accounts.shop-a]` followed by its settings')
    for name, table in accounts.items():
        check_name(name, f"in {path}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: accounts.{name} must be a table", hint=f"write `[accounts.{name}]`")
    return accounts


def default_account(document: dict[str, Any]) -> str | None:
    value = document.get("default_account")
    return value if isinstance(value, str) and value.strip() else None


def choose(document: dict[str, Any], path: Path, flag: str | None, environ: dict[str, str],
           dotenv: dict[str, str]) -> AccountChoice:
    """Which account is in effect, by precedence; an unknown name stops with the known ones."""
    tables = account_tables(document, path)
    name, source = None, "none"
    for label, value in (("flag", flag), ("env", environ.get(ACCOUNT_ENV)), (".env", dotenv.get(ACCOUNT_ENV)),
                         ("default_account", default_account(document))):
        if value:
            name, source = value.strip(), label
            break
    if name is None:
        return AccountChoice(None, "none")
    check_name(name, f"from {source}")
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ConfigError(f'no account "{name}" in {path} (from {source}; accounts: {known})',
                          hint=f"add an [accounts.{name}] table, or pick one with --account NAME; "
                          "`linesync config accounts` lists them")
    return AccountChoice(name, source, tables[name])


def config_layers(top_level: dict[str, Any], choice: AccountChoice, fields: tuple[str, ...],
                  normalise) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "config file" layer for the chosen account, split: (its own table, what it inherits).

    `top_level` holds the file's top-level settings; `normalise` maps a TOML key to a field name.
    Secrets (and the key command) are never inherited by an account.
    """
    if choice.name is None:
        return {}, dict(top_level)
    own = {normalise(k): v for k, v in choice.table.items()}
    own = {k: v for k, v in own.items() if k in fields}
    inherited = {k: v for k, v in top_level.items()
                 if k not in own and k not in SECRET_NAMES and k != KEY_COMMAND_FIELD}
    return own, inherited


def listing(document: dict[str, Any], path: Path, fields: tuple[str, ...], normalise) -> list[dict[str, Any]]:
    """One row per account for `config accounts`: secrets are only said to be set, never shown."""
    tables = account_tables(document, path)
    default = default_account(document)
    rows = []
    for name in sorted(tables):
        own = {normalise(k): v for k, v in tables[name].items()}
        key = ("key_command" if own.get(KEY_COMMAND_FIELD) else
               "set in the file" if own.get("klaviyo_api_key") else "(not in the file)")
        rows.append({
            "account": name,
            "default": name == default,
            "klaviyo_key": key,
            "link_key": str(own.get("link_key") or document.get("link_key") or "(default)"),
            "state_dir": str(own.get("state_dir") or "<state dir>/" + name),
            "line_token": "set in the file" if own.get("line_channel_access_token") else "(not in the file)",
        })
    return rows


def file_holds_secret(document: dict[str, Any]) -> bool:
    """Whether the parsed config file has an API key or a token in it (top level or any account)."""
    def has(table: dict[str, Any]) -> bool:
        return any(str(k).lower().removeprefix("linesync_") in SECRET_NAMES and v for k, v in table.items())

    accounts = document.get("accounts")
    tables = list(accounts.values()) if isinstance(accounts, dict) else []
    linesync = document.get("linesync")
    return has(document) or (isinstance(linesync, dict) and has(linesync)) or any(
        has(t) for t in tables if isinstance(t, dict))


@lru_cache(maxsize=8)
def run_key_command(command: str) -> str:
    """The key printed by `command` (run without a shell, with a timeout). Failures are one line, exit 2.

    The key never appears in an error: only the exit status and the command's first stderr line.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"key_command cannot be parsed: {exc}", hint="quote it as a shell would") from None
    if not argv:
        raise ConfigError("key_command is empty", hint="set it to a command that prints the key, or remove it")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=KEY_COMMAND_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ConfigError(f"key_command: {argv[0]} not found", hint="install it or give its full path") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"key_command `{argv[0]}` did not finish in {KEY_COMMAND_TIMEOUT:.0f}s",
                          hint="unlock the password manager first, or run the command by hand to see why") from None
    except OSError as exc:
        raise ConfigError(f"key_command `{argv[0]}` cannot run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        first = next((line.strip() for line in done.stderr.splitlines() if line.strip()), "")
        raise ConfigError(f"key_command `{argv[0]}` failed (exit {done.returncode})" + (f": {first[:200]}" if first else ""),
                          hint="run it by hand to see why; linesync uses its standard output as the key")
    key = done.stdout.strip()
    if not key:
        raise ConfigError(f"key_command `{argv[0]}` printed nothing", hint="it must print the key on stdout")
    return key


def key_shown(settings: Any) -> str:
    """The key as `config show` and `doctor` say it: masked, or that a command provides it."""
    from linesync_cli.config import masked

    if settings.klaviyo_api_key is None and settings.klaviyo_key_command:
        return "(from key_command, not run)"
    return masked(settings.klaviyo_api_key)


def exposure_warnings(state_dir: Path, config_file: Path, config_holds_secret: bool) -> list[str]:
    """State dir or a secret-holding config file open to group/others: one line each, with the chmod."""
    from linesync_cli.state import permission_warning

    warnings = []
    state = Path(state_dir)
    if state.is_dir():
        warning = permission_warning(state, "the state directory")
        if warning:
            warnings.append(warning)
    if config_holds_secret and config_file.is_file():
        warning = permission_warning(config_file, "the config file (it holds a secret)")
        if warning:
            warnings.append(warning)
    return warnings
