"""`linesync config show` (the effective settings and where each came from) and `config accounts`."""

from __future__ import annotations

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

config_app = typer.Typer(help="Show the effective configuration and the named accounts.", no_args_is_help=True)


@config_app.command("show")
def show(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Print every setting, its value (secrets masked) and its source: flag, env, .env, config file or default.

    Examples:

      linesync --account shop-a config show

      LINESYNC_LINK_KEY=external_id linesync config show --json
    """
    from linesync_cli.accounts import exposure_warnings, key_shown
    from linesync_cli.config import SECRET_FIELDS, env_name, masked
    from linesync_cli.render import Column, safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    loaded = app.loaded
    rows = []
    for name, source in loaded.sources.items():
        value = getattr(loaded.settings, name)
        if name == "klaviyo_api_key":
            shown = key_shown(loaded.settings)
        else:
            shown = masked(value) if name in SECRET_FIELDS else "(not set)" if value is None else str(value)
        rows.append({"variable": env_name(name), "value": shown, "source": source})
    cols = [Column("variable", "Variable"), Column("value", "Value"), Column("source", "Source")]
    warnings = exposure_warnings(loaded)
    json_data = {"account": loaded.account, "account_source": loaded.account_source, "settings": rows,
                 "config_file": str(loaded.config_file), "warnings": warnings}
    if loaded.account:
        app.renderer.note(f"account: {safe(loaded.account)} (from {loaded.account_source})")
    for warning in warnings:
        # One unbroken line: the chmod is meant to be copied.
        app.renderer.err.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    app.renderer.emit(output, json_data=json_data, rows=rows, columns=cols)


@config_app.command("accounts")
def accounts_cmd(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the named accounts of the config file ([accounts.NAME] tables) and which is the default.

    Secrets are never shown: the listing says only whether a key is in the file or comes from key_command.
    Pick one with --account NAME or LINESYNC_ACCOUNT.

    Examples:

      linesync config accounts

      linesync --config ./linesync.toml config accounts --json
    """
    from linesync_cli.config import list_accounts
    from linesync_cli.render import Column, safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    path, rows = list_accounts(app.config_file)
    cols = [Column("account", "Account"), Column("default", "Default"), Column("klaviyo_key", "Klaviyo key"),
            Column("link_key", "Link key"), Column("state_dir", "State dir"), Column("line_token", "LINE token")]
    if not rows:
        app.renderer.note(safe(f"no [accounts.NAME] tables in {path}"))
    app.renderer.emit(output, json_data={"config_file": str(path), "accounts": rows}, rows=rows, columns=cols)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
