"""The application context passed to every command (no module-level state).

Holds the global options, the consoles and renderer, and builds the settings and
API clients lazily, so `--help` and offline commands never need a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.render import Renderer, make_consoles, safe

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.line import LineClient
    from linesync_cli.config import LoadedSettings, Settings
    from linesync_cli.core.account_guard import AccountRef


@dataclass
class AppContext:
    flags: dict[str, Any] = field(default_factory=dict)  # global flags that override settings
    config_file: Path | None = None
    account: str | None = None  # --account NAME (LINESYNC_ACCOUNT and default_account are read by config)
    verbose: bool = False
    quiet: bool = False  # errors only on stderr
    debug: bool = False
    no_color: bool = False
    timeout: float | None = None  # --timeout: seconds per HTTP response; None keeps each client's default
    retries: int | None = None  # --retries: retries after the first attempt; None keeps the policy's default
    renderer: Renderer = field(default=None)  # type: ignore[assignment]
    _loaded: LoadedSettings | None = None
    _klaviyo: KlaviyoClient | None = None
    _line: LineClient | None = None
    _sandbox_noted: bool = False
    _account_ref: AccountRef | None = None

    def __post_init__(self) -> None:
        if self.renderer is None:
            self.renderer = Renderer(*make_consoles(self.no_color, quiet=self.quiet))

    @property
    def loaded(self) -> LoadedSettings:
        if self._loaded is None:
            from linesync_cli.config import load_settings

            self._loaded = load_settings(self.flags, self.config_file, account=self.account)
            for problem in self._loaded.warnings:
                # A mistyped name would otherwise surface later as "no key is configured".
                self.renderer.warn(safe(problem.message))
        return self._loaded

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def klaviyo(self) -> KlaviyoClient:
        """The Klaviyo client; stops with exit 2 and a hint when no key is configured."""
        if self._klaviyo is None:
            from linesync_cli import sandbox
            from linesync_cli.api.klaviyo import KlaviyoClient

            s = self.settings
            key = s.require_klaviyo_key()
            self._klaviyo = KlaviyoClient(key, s.klaviyo_base_url, s.klaviyo_revision, **self._http_options())
            self._klaviyo.on_retry = self._show_retry
            if key.get_secret_value().startswith(sandbox.KEY_PREFIX):
                self._note_sandbox(s.klaviyo_base_url, "Klaviyo")
        return self._klaviyo

    def _note_sandbox(self, url: str, service: str) -> None:
        # One line per run, so nobody mistakes the sandbox's answers for their account's.
        if not self._sandbox_noted:
            self._sandbox_noted = True
            self.renderer.note(f"note: talking to the linesync sandbox at {url}, not {service}")

    def klaviyo_account(self) -> AccountRef:
        """The Klaviyo account of the configured key (`GET /api/accounts`, once per process)."""
        if self._account_ref is None:
            from linesync_cli.core.account_guard import AccountRef

            account = self.klaviyo().get_account()
            if not account.id:
                from linesync_cli.errors import Unavailable

                raise Unavailable("Klaviyo did not say which account the key belongs to (GET /api/accounts)",
                                  hint="try again; `linesync doctor` checks the key")
            self._account_ref = AccountRef(account.id, account.organization_name)
        return self._account_ref

    def guard_state(self, *create: str) -> None:
        """Refuse (exit 2) state built for another Klaviyo account than the key's; bind new state to it."""
        from linesync_cli.core.account_guard import guard_state

        guard_state(self.state_dir, self.klaviyo_account(), create)

    def account_names(self) -> list[str]:
        """--all-accounts: the [accounts.NAME] tables of the config file, in name order."""
        from linesync_cli.config import list_accounts
        from linesync_cli.errors import UsageError

        if self.account:
            raise UsageError("--all-accounts and --account NAME: give one of them")
        path, rows = list_accounts(self.config_file)
        if not rows:
            raise UsageError(f"--all-accounts: no [accounts.NAME] tables in {path}",
                             hint="add them to the config file (see `linesync config accounts`), or use --config FILE")
        return [row["account"] for row in rows]

    def for_account(self, name: str) -> AppContext:
        """The same global options for another account (its own settings, clients and state). Close it."""
        return AppContext(flags=dict(self.flags), config_file=self.config_file, account=name, verbose=self.verbose,
                          debug=self.debug, no_color=self.no_color, renderer=self.renderer)

    def line(self) -> LineClient | None:
        """The LINE client, or None when no channel access token is configured."""
        if self._line is None:
            s = self.settings
            if s.line_channel_access_token is None:
                return None
            from linesync_cli import sandbox
            from linesync_cli.api.line import LineClient

            self._line = LineClient(s.line_channel_access_token, s.line_base_url, **self._http_options())
            self._line.on_retry = self._show_retry
            if s.line_channel_access_token.get_secret_value().startswith(sandbox.TOKEN_PREFIX):
                self._note_sandbox(s.line_base_url, "LINE")
        return self._line

    def _http_options(self) -> dict[str, Any]:
        """--timeout and --retries for a client; unset ones keep the client's defaults."""
        options: dict[str, Any] = {}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        if self.retries is not None:
            from linesync_cli.api.http import RetryPolicy

            options["retry"] = RetryPolicy(max_attempts=self.retries + 1)
        return options

    def _show_retry(self, notice) -> None:
        # Silence while the network is down looks like a hang; say what is happening. With
        # --verbose the request log already has a line per attempt.
        if notice is None:
            self.renderer.status_done()
        elif not self.verbose:
            self.renderer.status(notice.text())

    def close(self) -> None:
        self.renderer.status_done()
        for client in (self._klaviyo, self._line):
            if client is not None:
                client.close()
