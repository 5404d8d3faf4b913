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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
# Short names accepted in the config file.
TOML_ALIASES = {"key_command": "klaviyo_key_command"}


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


@dataclass
class LoadedSettings:
    settings: Settings
    # field -> "flag", "env", ".env (path)", "config file (path)" or "default"
    sources: dict[str, str]
    config_file: Path
    account: str | None = None  # the named account in effect ([accounts.NAME]), if any
    account_source: str = "none"  # flag, env, .env, default_account or none
    config_holds_secret: bool = False  # the config file has a key or token written in it


def _read_dotenv(path: Path) -> dict[str, str]:
    """LINESYNC_* values of `.env`; a line that cannot be parsed stops with its number.

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
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix or remove the .env file") from None
    if bad:
        raise ConfigError(
            f"{path}: line {bad[0]} is not NAME=value" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
            hint="fix the line or remove it; `linesync config show` shows what is in effect",
        )
    values = dotenv_values(path)
    return {k: v for k, v in values.items() if k.startswith(ENV_PREFIX) and v is not None}


def _field_name(key: str) -> str:
    name = key.lower().removeprefix(ENV_PREFIX.lower())
    return TOML_ALIASES.get(name, name)


def _toml_fields(data: dict[str, Any]) -> dict[str, Any]:
    # Accept both `klaviyo_api_key = ...` and `LINESYNC_KLAVIYO_API_KEY = ...`, top level
    # or under a [linesync] table.
    table = data.get("linesync", data) if isinstance(data.get("linesync"), dict) else data
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = _field_name(key)
        if name in FIELDS:
            out[name] = value
    return out


def _read_toml_document(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.is_file():
        if explicit:
            raise ConfigError(f"config file {path} does not exist", hint="check the --config path")
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", hint="fix the TOML syntax") from None
    return data


def load_settings(
    flags: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    account: str | None = None,
) -> LoadedSettings:
    """Merge the layers by precedence and validate; raise ConfigError naming the variable."""
    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    config_path, explicit = resolve_config_path(config_file, environ)

    from linesync_cli import accounts

    dotenv = _read_dotenv(cwd / ".env")
    document = _read_toml_document(config_path, explicit)
    choice = accounts.choose(document, config_path, account, environ, dotenv)
    file_label = f"config file {config_path}"
    account_label = f"{file_label} [accounts.{choice.name}]"
    own, inherited = accounts.config_layers(_toml_fields(document), choice, FIELDS, _field_name)
    layers: list[tuple[str, dict[str, Any]]] = [
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
        ("env", {f: environ[env_name(f)] for f in FIELDS if env_name(f) in environ}),
        (".env", {f: dotenv[env_name(f)] for f in FIELDS if env_name(f) in dotenv}),
        (account_label, own),
        (file_label, inherited),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        for label, values in layers:
            if name in values:
                merged[name] = values[name]
                sources[name] = label
                break
        else:
            sources[name] = "default"
    _key_or_key_command(merged, sources, [label for label, _ in layers])
    if choice.name is not None and sources["state_dir"] != account_label:
        # Each account its own state: ledgers, link indexes and mirrors never mix.
        root = merged.get("state_dir")
        base = Path(os.path.expanduser(str(root))) if root not in (None, "") else default_state_dir()
        merged["state_dir"] = base / choice.name
        sources["state_dir"] = f"{sources['state_dir']}, /{choice.name} for the account"
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        where = sources.get(name, "default")
        raise ConfigError(
            f"{env_name(name)} {reason} (from {where})",
            hint="fix the value, then check with `linesync config show`",
        ) from None
    return LoadedSettings(settings=settings, sources=sources, config_file=config_path, account=choice.name,
                          account_source=choice.source, config_holds_secret=accounts.file_holds_secret(document))


def _key_or_key_command(merged: dict[str, Any], sources: dict[str, str], order: list[str]) -> None:
    """A key and a key_command: the one from the higher layer wins; both in one layer is ambiguous."""
    key, command = "klaviyo_api_key", "klaviyo_key_command"
    if not merged.get(key) or not merged.get(command):
        return
    rank_key, rank_command = order.index(sources[key]), order.index(sources[command])
    if rank_key == rank_command:
        raise ConfigError(f"both klaviyo_api_key and key_command are set (from {sources[key]})",
                          hint="keep one of them")
    loser = command if rank_key < rank_command else key
    merged.pop(loser)
    sources[loser] = f"overridden by {'the key' if loser == command else 'key_command'} from {sources[key if loser == command else command]}"


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
    return path, accounts.listing(_read_toml_document(path, explicit), path, FIELDS, _field_name)


def masked(value: SecretStr | None) -> str:
    """Show that a secret is set without showing it (not even a prefix of the key body)."""
    if value is None:
        return "(not set)"
    raw = value.get_secret_value()
    return f"{raw[:3]}…({len(raw)} chars)" if raw.startswith("pk_") else f"…({len(raw)} chars)"
