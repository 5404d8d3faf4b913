"""Configuration (design.md section 2), read with pydantic-settings.

Precedence: flag > environment > `.env` in the working directory > config file
(`--config FILE`, default `linesync.toml` in the user config directory) > default.
Each layer is read on its own so that `linesync config show` can say where every
value came from.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from linesync_cli import accounts
from linesync_cli.accounts import AccountChoice
from linesync_cli.errors import ConfigError

ENV_PREFIX = "LINESYNC_"
DEFAULT_REVISION = "2026-07-15"
APP_NAME = "linesync"


def default_state_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "linesync.toml"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme == "https" and parts.hostname:
        return value.strip().rstrip("/")
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value.strip().rstrip("/")
    raise ValueError("must be an https:// URL (http:// is allowed only for loopback hosts)")


@dataclass(frozen=True)
class LinkKey:
    """How a LINE user ID finds its profile: a custom property, or `external_id`."""

    kind: str  # "property" | "external_id"
    property_name: str | None = None

    @classmethod
    def parse(cls, text: str) -> LinkKey:
        text = text.strip()
        if text == "external_id":
            return cls("external_id")
        if text.startswith("property:") and text[len("property:"):].strip():
            return cls("property", text[len("property:"):].strip())
        raise ValueError('must be "property:<name>" (e.g. "property:LINE User ID") or "external_id"')

    def __str__(self) -> str:
        return "external_id" if self.kind == "external_id" else f"property:{self.property_name}"


class Settings(BaseSettings):
    """Validated settings. Built by `load_settings`, never read from the env directly."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    klaviyo_api_key: SecretStr | None = None
    klaviyo_base_url: str = "https://a.klaviyo.com"
    klaviyo_revision: str = DEFAULT_REVISION
    line_channel_access_token: SecretStr | None = None
    line_base_url: str = "https://api.line.me"
    link_key: str = "property:LINE User ID"
    state_dir: Path = Field(default_factory=default_state_dir)
    # A command whose stdout is the key (a password manager's CLI): keeps the key out of files.
    klaviyo_key_command: str | None = None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *args, **kwargs):
        # Layers are merged by load_settings; the model only validates.
        return (init_settings,)

    @field_validator("klaviyo_api_key")
    @classmethod
    def _key_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = v.get_secret_value().strip()
        if not raw:
            return None
        if not raw.startswith("pk_") or len(raw) < 10 or any(c.isspace() for c in raw):
            # Never echo the value: it may be a real secret pasted in the wrong place.
            raise ValueError(
                "does not look like a Klaviyo private API key (they start with pk_; "
                "the 6-character public key does not work with /api)"
            )
        return SecretStr(raw)

    @field_validator("line_channel_access_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        raw = v.get_secret_value().strip()
        if any(c.isspace() for c in raw):
            raise ValueError("contains spaces; paste the channel access token alone")
        return SecretStr(raw)

    @field_validator("klaviyo_base_url", "line_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_base_url(v)

    @field_validator("klaviyo_revision")
    @classmethod
    def _revision(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", v.strip()):
            raise ValueError("must look like YYYY-MM-DD (optionally .pre)")
        return v.strip()

    @field_validator("link_key")
    @classmethod
    def _link_key(cls, v: str) -> str:
        return str(LinkKey.parse(v))

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir(cls, v: Any) -> Any:
        return Path(os.path.expanduser(str(v))) if v not in (None, "") else default_state_dir()

    @property
    def link(self) -> LinkKey:
        return LinkKey.parse(self.link_key)

    @property
    def has_klaviyo_key(self) -> bool:
        """A key is configured (directly or by key_command), without running the command."""
        return self.klaviyo_api_key is not None or bool(self.klaviyo_key_command)

    def require_klaviyo_key(self) -> SecretStr:
        if self.klaviyo_api_key is None and self.klaviyo_key_command:
            from linesync_cli.accounts import run_key_command

            try:
                key = self._key_shape(SecretStr(run_key_command(self.klaviyo_key_command)))
            except ValueError as exc:
                raise ConfigError(f"key_command printed something that {exc}",
                                  hint="it must print the Klaviyo private key (pk_...) and nothing else") from None
            if key is not None:
                return key
        if self.klaviyo_api_key is None:
            raise ConfigError(
                "no Klaviyo API key is configured",
                hint="set LINESYNC_KLAVIYO_API_KEY=pk_... (environment, .env, or klaviyo_api_key in the "
                "config file); `linesync config show` shows what is in effect",
            )
        return self.klaviyo_api_key


FIELDS: tuple[str, ...] = tuple(Settings.model_fields)
SECRET_FIELDS = frozenset({"klaviyo_api_key", "line_channel_access_token"})
# LINESYNC_* variables that are not settings but are known (not warned about as unknown).
OTHER_ENV_NAMES = {ENV_PREFIX + "CONFIG", ENV_PREFIX + "ACCOUNT"}
# Tables and keys of the config file that are not settings of the top level ([accounts.NAME], the default).
OTHER_TOML_TABLES: set[str] = {"accounts"}
OTHER_TOML_KEYS = {"default_account"}
# Short names accepted in the config file.
TOML_ALIASES = {"key_command": "klaviyo_key_command"}


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


@dataclass(frozen=True)
class Problem:
    """Something wrong with the configuration, found while reading it.

    `fatal` problems stop every command but `config show` (a malformed .env line, an
    unreadable config file); the others are warnings (an unknown setting name).
    """

    where: str  # the layer: "env", ".env (path)", "config file (path)"
    message: str
    hint: str | None = None
    fatal: bool = False


@dataclass
class Layer:
    """One source of settings, in precedence order. `label` is what `config show` names as the source."""

    label: str
    values: dict[str, Any]


@dataclass
class ConfigLayers:
    layers: list[Layer]  # highest precedence first
    problems: list[Problem]
    config_file: Path
    config_file_chosen_by: str  # "--config", "LINESYNC_CONFIG" or "default"
    dotenv_file: Path
    choice: AccountChoice  # the named account in effect ([accounts.NAME]), or none
    holds_secret: bool = False  # the config file has a key or token written in it

    def merged(self) -> tuple[dict[str, Any], dict[str, str]]:
        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name in FIELDS:
            for layer in self.layers:
                if name in layer.values:
                    merged[name] = layer.values[name]
                    sources[name] = layer.label
                    break
            else:
                sources[name] = "default"
        account = self.choice.name
        if account is not None and not sources["state_dir"].endswith(f"[accounts.{account}]"):
            # Each account its own state: ledgers, link indexes and mirrors never mix.
            root = merged.get("state_dir")
            base = Path(os.path.expanduser(str(root))) if root not in (None, "") else default_state_dir()
            merged["state_dir"] = base / account
            sources["state_dir"] = f"{sources['state_dir']}, /{account} for the account"
        return merged, sources


@dataclass
class LoadedSettings:
    settings: Settings
    # field -> "flag", "env", ".env", "config file (path)" or "default"
    sources: dict[str, str]
    config_file: Path
    warnings: list[Problem] = field(default_factory=list)
    account: str | None = None  # the named account in effect ([accounts.NAME]), if any
    account_source: str = "none"  # flag, env, .env, default_account or none
    config_holds_secret: bool = False  # the config file has a key or token written in it


def _did_you_mean(name: str, spell: Callable[[str], str]) -> str:
    import difflib

    bare = name.lower().removeprefix(ENV_PREFIX.lower())
    close = difflib.get_close_matches(bare, FIELDS, n=1, cutoff=0.6)
    return f"; did you mean {spell(close[0])}?" if close else ""


def _unknown(name: str, where: str, spell: Callable[[str], str]) -> Problem:
    """`spell` writes a setting's name the way this layer does (LINESYNC_X or x)."""
    return Problem(where, f"unknown setting {name} in {where}{_did_you_mean(name, spell)}",
                   hint="it is ignored; `linesync config show` lists the settings")


def _read_dotenv(path: Path, problems: list[Problem]) -> dict[str, str]:
    """LINESYNC_* values of `.env`; a line that cannot be parsed is a fatal problem, with its number.

    python-dotenv would skip such a line with a logged warning, leaving the user to
    wonder why their key is "(not set)".
    """
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv comes with pydantic-settings
    from dotenv.parser import parse_stream

    try:
        with path.open(encoding="utf-8") as fh:
            bad = [b.original.line for b in parse_stream(fh) if b.error]
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(".env", f"cannot read {path}: {exc}", hint="fix or remove the .env file", fatal=True))
        return {}
    if bad:
        problems.append(Problem(
            ".env", f"{path}: line {bad[0]} is not NAME=value" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
            hint="fix the line or remove it; `linesync config show` shows the rest", fatal=True))
    values = dotenv_values(path)
    return {k: v for k, v in values.items() if k.startswith(ENV_PREFIX) and v is not None}


def _field_name(key: str) -> str:
    name = key.lower().removeprefix(ENV_PREFIX.lower())
    return TOML_ALIASES.get(name, name)


def _toml_fields(data: dict[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    """The top-level settings of a parsed config file; unknown names become warnings."""
    # Accept both `klaviyo_api_key = ...` and `LINESYNC_KLAVIYO_API_KEY = ...`, top level
    # or under a [linesync] table.
    table = data["linesync"] if isinstance(data.get("linesync"), dict) else data
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = _field_name(key)
        if name in FIELDS:
            out[name] = value
        elif key in OTHER_TOML_KEYS:
            continue
        elif not (isinstance(value, dict) and (key == "linesync" or key in OTHER_TOML_TABLES)):
            problems.append(_unknown(key, where, lambda f: f))
    return out


def _read_toml_document(path: Path, explicit: bool, problems: list[Problem]) -> dict[str, Any]:
    where = f"config file {path}"
    if not path.is_file():
        if explicit:
            problems.append(Problem(where, f"config file {path} does not exist", hint="check the --config path "
                                    "(or LINESYNC_CONFIG); `linesync config init` writes one", fatal=True))
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(Problem(where, f"cannot read config file {path}: {exc}", hint="fix the TOML syntax", fatal=True))
        return {}
    return data


def read_layers(
    flags: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    account: str | None = None,
) -> ConfigLayers:
    """Every layer with its values, and every problem found, without raising."""

    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    chosen_by = "--config" if config_file is not None else "default"
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file, chosen_by = Path(environ[ENV_PREFIX + "CONFIG"]), "LINESYNC_CONFIG"
    config_path = config_file or default_config_file()
    problems: list[Problem] = []
    known_env = {env_name(f) for f in FIELDS} | OTHER_ENV_NAMES

    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known_env:
            problems.append(_unknown(name, "the environment", env_name))
    dotenv_path = cwd / ".env"
    dotenv = _read_dotenv(dotenv_path, problems)
    for name in sorted(dotenv):
        if name not in known_env:
            problems.append(_unknown(name, str(dotenv_path), env_name))
    layers = [
        Layer("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
        Layer("env", {f: environ[env_name(f)] for f in FIELDS if env_name(f) in environ}),
        Layer(".env", {f: dotenv[env_name(f)] for f in FIELDS if env_name(f) in dotenv}),
    ]
    file_label = f"config file {config_path}"
    document = _read_toml_document(config_path, chosen_by != "default", problems)
    top_level = _toml_fields(document, file_label, problems)
    try:
        choice = accounts.choose(document, config_path, account, environ, dotenv)
    except ConfigError as exc:
        problems.append(Problem(file_label, exc.message, hint=exc.hint, fatal=True))
        choice = AccountChoice(None, "none")
    own, inherited = accounts.config_layers(top_level, choice, FIELDS, _field_name)
    if choice.name is not None:
        layers.append(Layer(f"{file_label} [accounts.{choice.name}]", own))
    layers.append(Layer(file_label, inherited))
    return ConfigLayers(layers, problems, config_path, chosen_by, dotenv_path, choice,
                        accounts.file_holds_secret(document))


def _field_errors(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else "?"
        found.setdefault(name, str(err.get("msg", "invalid")).removeprefix("Value error, "))
    return found


def load_settings(
    flags: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    account: str | None = None,
) -> LoadedSettings:
    """Merge the layers by precedence and validate; raise ConfigError naming the variable."""
    layers = read_layers(flags, config_file, environ, cwd, account)
    fatal = [p for p in layers.problems if p.fatal]
    if fatal:
        raise ConfigError(fatal[0].message, hint=fatal[0].hint)
    merged, sources = layers.merged()
    clash = _key_or_key_command(merged, sources, [layer.label for layer in layers.layers])
    if clash is not None:
        raise ConfigError(clash.message, hint=clash.hint)
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        name, reason = next(iter(_field_errors(exc).items()))
        raise ConfigError(
            f"{env_name(name)} {reason} (from {sources.get(name, 'default')})",
            hint="fix the value; `linesync config show` lists every setting and what is wrong with it",
        ) from None
    return LoadedSettings(settings=settings, sources=sources, config_file=layers.config_file,
                          warnings=[p for p in layers.problems if not p.fatal], account=layers.choice.name,
                          account_source=layers.choice.source, config_holds_secret=layers.holds_secret)


@dataclass(frozen=True)
class SettingReport:
    name: str
    variable: str
    value: str | None  # shown value (secrets masked); None when unset
    source: str
    problem: str | None  # what is wrong with the value, None when valid


@dataclass
class ConfigDiagnosis:
    """What `config show` prints: every setting, valid or not, and every problem."""

    settings: list[SettingReport]
    problems: list[Problem]
    config_file: Path
    config_file_chosen_by: str
    dotenv_file: Path
    account: str | None = None  # the named account in effect, if any
    account_source: str = "none"
    state_dir: Path | None = None  # in effect (None when its own value is invalid)
    config_holds_secret: bool = False

    @property
    def ok(self) -> bool:
        return not any(s.problem for s in self.settings) and not any(p.fatal for p in self.problems)


def diagnose(
    flags: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    account: str | None = None,
) -> ConfigDiagnosis:
    """Every setting with its value, source and problem; never raises for a bad value."""
    layers = read_layers(flags, config_file, environ, cwd, account)
    merged, sources = layers.merged()
    clash = _key_or_key_command(merged, sources, [layer.label for layer in layers.layers])
    problems = [*layers.problems, *([clash] if clash else [])]
    try:
        valid = Settings(**merged)
        errors: dict[str, str] = {}
    except ValidationError as exc:
        errors = _field_errors(exc)
        valid = Settings(**{k: v for k, v in merged.items() if k not in errors})
    reports = []
    for name in FIELDS:
        raw = merged.get(name) if name in errors else getattr(valid, name)
        shown: str | None
        if name == "klaviyo_api_key" and raw is None and merged.get("klaviyo_key_command"):
            shown = "(from key_command, not run)"
        elif name in SECRET_FIELDS:
            shown = None if raw is None else masked(raw if isinstance(raw, SecretStr) else SecretStr(str(raw)))
        else:
            shown = None if raw is None else str(raw)
        reports.append(SettingReport(name, env_name(name), shown, sources[name], errors.get(name)))
    return ConfigDiagnosis(reports, problems, layers.config_file, layers.config_file_chosen_by,
                           layers.dotenv_file, layers.choice.name, layers.choice.source,
                           None if "state_dir" in errors else valid.state_dir, layers.holds_secret)


def _key_or_key_command(merged: dict[str, Any], sources: dict[str, str], order: list[str]) -> Problem | None:
    """A key and a key_command: the one from the higher layer wins; both in one layer is ambiguous."""
    key, command = "klaviyo_api_key", "klaviyo_key_command"
    if not merged.get(key) or not merged.get(command):
        return None
    rank_key, rank_command = order.index(sources[key]), order.index(sources[command])
    if rank_key == rank_command:
        return Problem(sources[key], f"both klaviyo_api_key and key_command are set (from {sources[key]})",
                       hint="keep one of them", fatal=True)
    loser = command if rank_key < rank_command else key
    merged.pop(loser)
    sources[loser] = f"overridden by {'the key' if loser == command else 'key_command'} from {sources[key if loser == command else command]}"
    return None


def resolve_config_path(config_file: Path | None = None, environ: dict[str, str] | None = None) -> tuple[Path, bool]:
    """The config file in effect (--config, LINESYNC_CONFIG, or the default) and whether it was named."""
    environ = dict(os.environ) if environ is None else environ
    if config_file is not None:
        return config_file, True
    if environ.get(ENV_PREFIX + "CONFIG"):
        return Path(environ[ENV_PREFIX + "CONFIG"]), True
    return default_config_file(), False


def list_accounts(config_file: Path | None = None, environ: dict[str, str] | None = None
                  ) -> tuple[Path, list[dict[str, Any]]]:
    """The config file and one row per [accounts.NAME] table (secrets never included)."""
    from linesync_cli import accounts

    path, explicit = resolve_config_path(config_file, environ)
    problems: list[Problem] = []
    document = _read_toml_document(path, explicit, problems)
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise ConfigError(fatal[0].message, hint=fatal[0].hint)
    return path, accounts.listing(document, path, FIELDS, _field_name)


def masked(value: SecretStr | None) -> str:
    """Show that a secret is set without showing it (not even a prefix of the key body)."""
    if value is None:
        return "(not set)"
    if not value.get_secret_value():
        return "(empty)"
    raw = value.get_secret_value()
    return f"{raw[:3]}…({len(raw)} chars)" if raw.startswith("pk_") else f"…({len(raw)} chars)"


# What `config init` writes about each setting (design.md section 2).
_TEMPLATE_NOTES = {
    "klaviyo_api_key": "Klaviyo private API key (pk_...); better in the environment or a secret store",
    "klaviyo_base_url": "API base URL; http:// only for loopback hosts",
    "klaviyo_revision": "the revision header sent with every request",
    "line_channel_access_token": "LINE channel access token (optional: LINE checks are skipped without it)",
    "line_base_url": "LINE API base URL; http:// only for loopback hosts",
    "link_key": 'how profiles are linked: "property:<name>" or "external_id"',
    "state_dir": "local state: link index, backfill ledger, rejects (default: the user state directory)",
}


def config_template(key: str | None = None) -> str:
    """A commented linesync.toml: every setting at its default, commented out; the key only if given."""
    import json

    lines = ["# linesync configuration (written by `linesync config init`).",
             "# Precedence: flag > environment (LINESYNC_*) > .env > this file > default.",
             "# `linesync config show` shows what is in effect and where each value came from.", ""]
    defaults = Settings()
    for name in FIELDS:
        lines.append(f"# {_TEMPLATE_NOTES.get(name, name)}")
        if name == "klaviyo_api_key" and key:
            lines.append(f"{name} = {json.dumps(key)}")
        else:
            default = getattr(defaults, name)
            example = "" if default is None or name in SECRET_FIELDS else str(default)
            lines.append(f"# {name} = {json.dumps(example)}")
        lines.append("")
    return "\n".join(lines)


def write_config_template(path: Path, *, key: str | None = None, force: bool = False) -> None:
    """Write `config_template` to PATH with mode 0600 (a new directory 0700); never over a file unless FORCE."""
    if key is not None:
        try:
            Settings(klaviyo_api_key=SecretStr(key))
        except ValidationError as exc:
            reason = next(iter(_field_errors(exc).values()))
            raise ConfigError(f"the key on standard input {reason}", hint="pipe the private key alone (pk_...)") from None
        if not key:
            raise ConfigError("--key-from-stdin: standard input was empty", hint="pipe the private key (pk_...)")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="edit it, or give --force to replace it")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(config_template(key))
        os.chmod(path, 0o600)  # an existing file replaced with --force keeps no wider mode
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", hint="give another path with --config") from None
