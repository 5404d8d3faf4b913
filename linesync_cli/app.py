"""The root command: global options, the context, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from linesync_cli import __version__
from linesync_cli.errors import ExitCode, LinesyncError

# Each module in linesync_cli/commands/ with a `register(app)` function. Order is
# the order of `linesync --help`.
COMMAND_MODULES = (
    "backfill",
    "links",
    "check_link",
    "inspect_profile",
    "doctor",
    "metrics",
    "events",
    "report",
    "segments",
    "config_cmd",
    "sandbox",
)


def _stderr_renderer(ctx: typer.Context | None):
    from linesync_cli.context import AppContext
    from linesync_cli.render import Renderer, make_consoles

    obj = ctx.find_root().obj if ctx is not None else None
    if isinstance(obj, AppContext):
        return obj.renderer, obj.debug
    return Renderer(*make_consoles()), "--debug" in sys.argv


class LinesyncGroup(TyperGroup):
    """Turns expected failures into one `error:` line, a hint and the exit code."""

    # Typer hands every command a typer.Context; its base class (Typer's vendored click) is
    # private, so the narrower parameter type is ignored rather than imported from `typer._click`.
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        # The order of COMMAND_MODULES (the order of the job), not alphabetical.
        order = {name.removesuffix("_cmd").replace("_", "-"): i for i, name in enumerate(COMMAND_MODULES)}
        return sorted(self.commands, key=lambda name: order.get(name, len(order)))

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LinesyncError as exc:
            renderer, debug = _stderr_renderer(ctx)
            if debug:
                import traceback

                renderer.err.print(traceback.format_exc(), markup=False, highlight=False)
            renderer.error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            renderer, _ = _stderr_renderer(ctx)
            renderer.error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # `linesync ... | head`: Typer's main handles EPIPE quietly, as for --help.
            raise
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except Exception as exc:  # a bug, not an expected failure
            renderer, debug = _stderr_renderer(ctx)
            if debug:
                raise
            renderer.error(
                f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                hint="re-run with --debug for the traceback, and report it",
            )
            raise typer.Exit(int(ExitCode.FAILED)) from None
        finally:
            obj = ctx.obj
            if obj is not None and hasattr(obj, "close"):
                obj.close()


app = typer.Typer(
    name="linesync",
    cls=LinesyncGroup,
    help="Run and repair LINE Event Sync: LINE actions recorded as events on linked Klaviyo profiles.",
    epilog="Exit codes: 0 ok, 1 a check/link/record failed, 2 usage or configuration, "
    "3 credentials refused, 4 API unavailable, 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # tracebacks only with --debug, never with locals (keys)
    add_completion=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"linesync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Config file (TOML). Default: linesync.toml in the user config directory.", envvar="LINESYNC_CONFIG", show_envvar=True, metavar="FILE")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Named account: an [accounts.NAME] table of the config file, with its own state directory. Overrides LINESYNC_ACCOUNT and default_account.", metavar="NAME")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Local state: link index, backfill ledger, rejects. Overrides LINESYNC_STATE_DIR.", metavar="DIR")] = None,
    link_key: Annotated[str | None, typer.Option("--link-key", help='How profiles are linked: "property:<name>" or "external_id". Overrides LINESYNC_LINK_KEY.')] = None,
    oa: Annotated[int | None, typer.Option("--oa", min=1, help='LINE Official Account N: short for --link-key "property:LINE User ID N" (1 is "LINE User ID").', metavar="N")] = None,
    klaviyo_base_url: Annotated[str | None, typer.Option("--klaviyo-base-url", help="Klaviyo API base URL. Overrides LINESYNC_KLAVIYO_BASE_URL.", metavar="URL")] = None,
    line_base_url: Annotated[str | None, typer.Option("--line-base-url", help="LINE API base URL. Overrides LINESYNC_LINE_BASE_URL.", metavar="URL")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each HTTP request (method, URL, status, time) to stderr; never secrets.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (NO_COLOR is honoured too).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    from linesync_cli.context import AppContext

    if oa is not None:
        from linesync_cli.accounts import oa_link_key

        if link_key is not None and link_key.strip() != oa_link_key(oa):
            raise typer.BadParameter(f"--oa {oa} means --link-key \"{oa_link_key(oa)}\"; give one of them",
                                     param_hint="--oa")
        link_key = oa_link_key(oa)
    flags = {
        "state_dir": state_dir,
        "link_key": link_key,
        "klaviyo_base_url": klaviyo_base_url,
        "line_base_url": line_base_url,
    }
    ctx.obj = AppContext(flags=flags, config_file=config, account=account, verbose=verbose, debug=debug, no_color=no_color)
    if verbose or debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("linesync")
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = False


for _name in COMMAND_MODULES:
    importlib.import_module(f"linesync_cli.commands.{_name}").register(app)


def main() -> None:
    app(prog_name="linesync")


if __name__ == "__main__":
    main()
