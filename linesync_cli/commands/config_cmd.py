"""`linesync config show|path|init|accounts`: what is in effect and why, which files are read, a starting file, the named accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, TableJsonFormatOpt, app_context, resolve_format

config_app = typer.Typer(no_args_is_help=True, short_help="The configuration: what is in effect, which files are read, a starting file, the named accounts.", help="""The configuration: what is in effect and where it came from, which files are read, a commented starting file.

Precedence: flag > environment > .env in the working directory > config file > default.

Examples:

  linesync config show

  linesync config init

  linesync config accounts
""")


@config_app.command("show")
def show(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Print every setting, its value (secrets masked), its source (flag, env, .env, config file or default)
    and what is wrong with it.

    Invalid values are shown and marked, not refused: the command exits 2 after printing them.
    Unknown LINESYNC_* names (environment, .env, config file) are warned about with the closest
    known name. With --json, unset values are null.

    Examples:

      linesync --account shop-a config show

      LINESYNC_LINK_KEY=external_id linesync config show --json
    """
    from linesync_cli.accounts import exposure_warnings
    from linesync_cli.config import diagnose
    from linesync_cli.errors import ConfigError, ExitCode
    from linesync_cli.render import Column, safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    report = diagnose(app.flags, app.config_file, account=app.account)
    rows = [{"variable": s.variable, "value": s.value, "source": s.source, "problem": s.problem}
            for s in report.settings]
    shown_rows = [dict(row, value="(not set)" if row["value"] is None else row["value"]) for row in rows]
    cols = [Column("variable", "Variable", no_wrap=True), Column("value", "Value"), Column("source", "Source")]
    if any(row["problem"] for row in rows):
        cols.append(Column("problem", "Problem", style="red"))
    problems = [{"where": p.where, "message": p.message, "fatal": p.fatal} for p in report.problems]
    warnings = exposure_warnings(report.state_dir, report.config_file, report.config_holds_secret) \
        if report.state_dir is not None else []
    if report.account:
        app.renderer.note(f"account: {safe(report.account)} (from {report.account_source})")
    for warning in warnings:
        # One unbroken line: the chmod is meant to be copied.
        app.renderer.err.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    app.renderer.emit(output, json_data={"account": report.account, "account_source": report.account_source,
                                         "settings": rows, "config_file": str(report.config_file),
                                         "problems": problems, "warnings": warnings, "ok": report.ok},
                      rows=shown_rows, columns=cols)
    for problem in report.problems:
        if problem.fatal:
            app.renderer.error(problem.message, problem.hint)
        else:
            app.renderer.warn(safe(problem.message))
    invalid = [s.variable for s in report.settings if s.problem]
    if invalid:
        raise ConfigError(f"{len(invalid)} invalid setting(s): {', '.join(invalid)}",
                          hint="fix the values marked above; until then commands that need them stop")
    if not report.ok:
        raise typer.Exit(int(ExitCode.USAGE))  # the unreadable file was said above


@config_app.command("path")
def path(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the files settings are read from, highest precedence first, and whether each exists.

    The environment comes before both; flags before everything.

    Examples:

      linesync config path

      linesync config path --json | jq -r '.files[] | select(.exists) | .path'
    """
    from linesync_cli.config import read_layers
    from linesync_cli.render import Column

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    layers = read_layers(app.flags, app.config_file)
    files = [
        {"role": ".env", "path": str(layers.dotenv_file), "exists": layers.dotenv_file.is_file(),
         "chosen_by": "working directory"},
        {"role": "config file", "path": str(layers.config_file), "exists": layers.config_file.is_file(),
         "chosen_by": layers.config_file_chosen_by},
    ]
    cols = [Column("role", "Read as", no_wrap=True), Column("path", "Path"), Column("exists", "Exists"),
            Column("chosen_by", "Chosen by")]
    app.renderer.emit(output, json_data={"files": files}, rows=files, columns=cols)


@config_app.command("init")
def init(
    ctx: typer.Context,
    key_from_stdin: Annotated[bool, typer.Option("--key-from-stdin", help="Read the Klaviyo private API key (pk_...) from standard input and write it into the file; without this the key line stays commented out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    fmt: TableJsonFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a commented linesync.toml (every setting with its default) where the config file is read from.

    The file is written with mode 0600 (its directory 0700). It never holds a secret unless one is
    given on standard input. The path is printed on stdout.

    Examples:

      linesync config init

      pass show klaviyo/pk | linesync config init --key-from-stdin --config ./linesync.toml
    """
    import sys

    from linesync_cli.config import read_layers, write_config_template
    from linesync_cli.render import safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    target = read_layers(app.flags, app.config_file).config_file
    key = sys.stdin.readline().strip() if key_from_stdin else None
    write_config_template(target, key=key, force=force)
    r = app.renderer
    if output.value == "json":
        r.json({"path": str(target), "with_key": key is not None})
    else:
        r.data(str(target))
    r.note(f"wrote {safe(str(target))} (mode 0600)" + ("" if key else "; the key is not in it: set "
           "LINESYNC_KLAVIYO_API_KEY, or uncomment klaviyo_api_key"))


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
