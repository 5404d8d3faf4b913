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
    "reconcile",
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


# Root options that are not "global": they act at the root only.
_ROOT_ONLY = frozenset({"--help", "-h", "--install-completion", "--show-completion"})


def hoist_global_options(args: list[str], takes_value: dict[str, bool]) -> list[str]:
    """Move global options written after the command (`backfill F --state-dir D`, `links -v sync`)
    to the front, where the root parses them, as gh and kubectl accept them anywhere.

    `takes_value` maps each global option name to whether it takes a value. Scanning stops at
    `--`. `--opt=value` and clusters of global short flags (`-vq`) are recognised; a token
    that is the value of a global option moves with it.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name in takes_value:
            front.append(token)
            if takes_value[name] and "=" not in token and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        elif (len(token) > 2 and token[0] == "-" and token[1] != "-"
              and all(takes_value.get(f"-{c}") is False for c in token[1:])):
            front.append(token)
        else:
            rest.append(token)
        i += 1
    return front + rest


def _is_terminal(stream) -> bool:
    # Rich's own rule (TTY_COMPATIBLE forces either way), without importing Rich here.
    import os

    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    if os.environ.get("FORCE_COLOR"):  # Rich forces a terminal for it too
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _commands_below(command):
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _commands_below(sub)


class LinesyncGroup(TyperGroup):
    """Turns expected failures into one `error:` line, a hint and the exit code."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from linesync_cli.helpfmt import tidy

        for command in _commands_below(self):
            tidy(command)  # placeholders in --help: no `<bool>`, words not types, `FILE...`

    def main(self, *args, **kwargs):
        help_mode = self.rich_markup_mode
        if not _is_terminal(sys.stderr):
            # A usage error in a log: click's plain lines, not a box wrapped at 80 columns.
            # (Typer reads the mode for errors from here; help on a terminal keeps it.)
            self.rich_markup_mode = None
        self._help_markup_mode = help_mode
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        if _is_terminal(sys.stdout):
            self.rich_markup_mode = getattr(self, "_help_markup_mode", self.rich_markup_mode)
        else:
            # Piped help is plain text, one line per paragraph: no boxes, no wrapping at 80
            # columns (the width is inherited by every subcommand's context).
            extra.setdefault("terminal_width", 10_000)
            extra.setdefault("max_content_width", 10_000)
            for command in _commands_below(self):
                command.rich_markup_mode = None
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        takes_value = {
            name: not getattr(param, "is_flag", False)
            for param in self.params if param.param_type_name == "option"
            for name in param.opts if name not in _ROOT_ONLY
        }
        args = hoist_global_options(args, takes_value)
        if not args and not ctx.resilient_parsing:
            # `linesync` alone is a request for help, not a mistake: help on stdout, exit 0.
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    # Typer hands every command a typer.Context; its base class (Typer's vendored click) is
    # private, so the narrower parameter type is ignored rather than imported from `typer._click`.
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        # The order of COMMAND_MODULES (the order of the job), not alphabetical.
        order = {name.removesuffix("_cmd").replace("_", "-"): i for i, name in enumerate(COMMAND_MODULES)}
        return sorted(self.commands, key=lambda name: order.get(name, len(order)))

    def _unexpected(self, ctx: typer.Context, exc: Exception) -> BaseException:
        """A bug, not an expected failure: one line and a pointer to --debug."""
        renderer, debug = _stderr_renderer(ctx)
        if debug:
            return exc
        renderer.error(
            f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint="re-run with --debug for the traceback, and report it",
        )
        return typer.Exit(int(ExitCode.FAILED))

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
        except TyperException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # click's, for a group given no subcommand
                raise
            # `linesync config` alone asks for the group's help: stdout, exit 0, like `linesync`.
            typer.echo(exc.ctx.get_help())  # type: ignore[attr-defined]
            raise typer.Exit(0) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            from linesync_cli.core.events.mirror import out_of_memory

            if (known := out_of_memory(exc)) is not None:  # a report's query over the mirror
                renderer, _ = _stderr_renderer(ctx)
                renderer.error(known.message, known.hint)
                raise typer.Exit(int(known.exit_code)) from None
            raise self._unexpected(ctx, exc) from None
        finally:
            obj = ctx.obj
            if obj is not None and hasattr(obj, "close"):
                obj.close()


app = typer.Typer(
    name="linesync",
    cls=LinesyncGroup,
    no_args_is_help=False,  # LinesyncGroup prints help and exits 0
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
    config: Annotated[Path | None, typer.Option("--config", help="Config file (TOML). Default: linesync.toml in the user config directory (`linesync config path`).", envvar="LINESYNC_CONFIG", show_envvar=True, metavar="FILE")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Named account: an [accounts.NAME] table of the config file, with its own state directory. Overrides LINESYNC_ACCOUNT and default_account.", metavar="NAME")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Local state: link index, backfill ledger, rejects. Overrides LINESYNC_STATE_DIR.", metavar="DIR")] = None,
    link_key: Annotated[str | None, typer.Option("--link-key", help="How profiles are linked: `property:<name>` or `external_id`. Overrides LINESYNC_LINK_KEY.", metavar="KEY")] = None,
    oa: Annotated[int | None, typer.Option("--oa", min=1, help='LINE Official Account N: short for --link-key "property:LINE User ID N" (1 is "LINE User ID").', metavar="N")] = None,
    klaviyo_base_url: Annotated[str | None, typer.Option("--klaviyo-base-url", help="Klaviyo API base URL. Overrides LINESYNC_KLAVIYO_BASE_URL.", metavar="URL")] = None,
    line_base_url: Annotated[str | None, typer.Option("--line-base-url", help="LINE API base URL. Overrides LINESYNC_LINE_BASE_URL.", metavar="URL")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait for each HTTP response before retrying (default 60 for Klaviyo, 30 for LINE).", metavar="SECONDS", min=0.1)] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Retries after a failed HTTP request (network error, 5xx, 429) before giving up with exit 4. Default 5; 0 fails at once.", metavar="N", min=0, max=20)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail: each HTTP request (method, URL, status, time) and retry on stderr, doctor's extra lines; never secrets.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only on stderr: no progress, notes or warnings (data on stdout is unchanged).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (NO_COLOR is honoured too).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Run and repair LINE Event Sync: LINE actions recorded as events on linked Klaviyo profiles.

    Global options work before or after the command: `linesync backfill F --state-dir D` is
    `linesync --state-dir D backfill F`.

    Exit codes: 0 ok, 1 a check/link/record failed, 2 usage or configuration, 3 credentials
    refused, 4 API unavailable, 130 interrupted.

    Examples:

      linesync doctor

      linesync backfill examples/actions.csv --link-map examples/link-map.csv --dry-run -q
    """
    from linesync_cli.context import AppContext

    if verbose and quiet:
        raise typer.BadParameter("--verbose and --quiet contradict each other; give one", param_hint="--quiet")
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
    source = ctx.get_parameter_source("config")
    if config is not None and source is not None and source.name == "ENVIRONMENT":
        config = None  # config.py reads LINESYNC_CONFIG itself, and says that it chose the file
    ctx.obj = AppContext(flags=flags, config_file=config, account=account, verbose=verbose, quiet=quiet, debug=debug,
                         no_color=no_color, timeout=timeout, retries=retries)
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
