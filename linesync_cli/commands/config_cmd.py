"""`linesync config show`: the effective settings and where each came from."""

from __future__ import annotations

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def show(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Print every setting, its value (secrets masked) and its source: flag, env, .env, config file or default.

    Examples:

      linesync config show

      LINESYNC_LINK_KEY=external_id linesync config show --json
    """
    from linesync_cli.config import SECRET_FIELDS, env_name, masked
    from linesync_cli.render import Column

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    loaded = app.loaded
    rows = []
    for name, source in loaded.sources.items():
        value = getattr(loaded.settings, name)
        shown = masked(value) if name in SECRET_FIELDS else str(value)
        rows.append({"variable": env_name(name), "value": shown, "source": source})
    cols = [Column("variable", "Variable"), Column("value", "Value"), Column("source", "Source")]
    app.renderer.emit(output, json_data={"settings": rows, "config_file": str(loaded.config_file)}, rows=rows, columns=cols)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
