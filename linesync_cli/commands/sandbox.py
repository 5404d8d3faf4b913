"""`linesync sandbox start|stop|env|status`: a local Klaviyo and LINE to try every command on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

sandbox_app = typer.Typer(
    short_help="A local Klaviyo and LINE on loopback, seeded with a demo account: try every command offline.",
    help="""A local Klaviyo and LINE on loopback, seeded with a demo account: try every command offline.

Examples:

  linesync sandbox start --detach

  linesync sandbox stop
""",
    no_args_is_help=True,
)

DEFAULT_PORT = 8765  # linesync_cli.sandbox.service.DEFAULT_PORT (not imported: --help stays light)


def _state_dir(ctx: typer.Context) -> Path:
    return Path(app_context(ctx).state_dir)


@sandbox_app.command("start")
def start(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Klaviyo's port; LINE gets the next one. 0 picks free ports.", metavar="N")] = DEFAULT_PORT,
    seed: Annotated[str, typer.Option("--seed", help="demo (a shop with 300 profiles and four weeks of LINE and email events), empty, or a JSON Lines FILE.", metavar="demo|empty|FILE")] = "demo",
    faults: Annotated[float, typer.Option("--faults", help="Probability (0-1) that a request gets a 5xx, a 429 or a dropped connection.", metavar="P")] = 0.0,
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Delay every answer by N milliseconds.", metavar="N")] = 0,
    host: Annotated[str, typer.Option("--host", help="Loopback address to listen on (127.x.x.x or localhost only).", metavar="ADDR")] = "127.0.0.1",
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background; `linesync sandbox stop` stops it.")] = False,
) -> None:
    """Serve a local Klaviyo and LINE on loopback, and print the exports that point linesync at them.

    The sandbox enforces what Klaviyo does: both rate-limit windows, request shapes and
    filters, unique_id de-duplication, and no profile created from an unknown profile id.
    Its key starts with pk_sandbox_, and every command says when it talks to a sandbox.
    It runs in the foreground until Ctrl-C (exit 0), or in the background with --detach.
    A seed FILE has one JSON object a line: {"profile": {...}}, {"line_user": {...}},
    {"metric": {...}}, {"event": {...}}, {"flow": {...}} or {"segment": {...}}.

    Examples:

      linesync sandbox start --detach

      linesync sandbox start --port 0 --faults 0.05 --latency-ms 200
    """
    from linesync_cli.sandbox import service
    from linesync_cli.sandbox.seed import resolve_seed

    app = app_context(ctx)
    host = "127.0.0.1" if host == "localhost" else host
    options = service.SandboxOptions(host=host, port=port, seed_name=seed, faults=faults, latency_ms=latency_ms)
    seed_fn = resolve_seed(seed)  # a bad seed file stops here, before anything listens
    state_dir = _state_dir(ctx)
    if detach:
        argv = ["--port", str(port), "--seed", str(Path(seed).resolve()) if seed not in ("demo", "empty") else seed,
                "--faults", repr(faults), "--latency-ms", str(latency_ms), "--host", host]
        info = service.detach(argv, state_dir)
        _print_started(app, info, detached=True)
        return
    sandbox = service.Sandbox(options, seed_fn, state_dir)
    try:
        info = sandbox.start()
        _print_started(app, info, detached=False)
        sandbox.serve_forever()
    except KeyboardInterrupt:
        # Ctrl-C is how a foreground server is meant to end, as for `python -m http.server`
        # or a cloud emulator: a normal stop (exit 0), not an interrupted job (130).
        pass
    finally:
        sandbox.close()
    app.renderer.note("sandbox stopped")


def _print_started(app, info, *, detached: bool) -> None:
    from linesync_cli import render

    summary = info.summary or {}
    for line in info.exports():
        app.renderer.data(line)
    note = app.renderer.note
    note(f"sandbox: Klaviyo at {info.klaviyo_url}, LINE at {info.line_url}")
    note(f"seed {render.safe(info.seed)}: {summary.get('profiles', 0):,} profiles, "
         f"{summary.get('events', 0):,} events, {summary.get('line_users', 0):,} LINE friends"
         + (f"; faults {info.faults:g}" if info.faults else "")
         + (f"; latency {info.latency_ms} ms" if info.latency_ms else ""))
    for kind, user_id in (summary.get("samples") or {}).items():
        note(f"  {kind} LINE user: {render.safe(user_id)}")
    if summary.get("processing_segment"):
        note(f"  segment still processing: {render.safe(summary['processing_segment'])}")
    if summary.get("request_id"):
        # What `reconcile --request-id` takes; the demo's events carry it as "LINE Request ID".
        note(f"  LINE request ID of a broadcast: {render.safe(summary['request_id'])} "
             "(reconcile --request-id ID --match-property 'LINE Request ID')")
    if info.actions_file:
        note(f"  actions to backfill, dated to this demo: {render.safe(info.actions_file)}")
    if detached:
        app.renderer.note(f"running in the background (pid {info.pid}); `linesync sandbox stop` stops it")
    else:
        app.renderer.note("paste the export lines above in another shell; Ctrl-C stops the sandbox")


@sandbox_app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the sandbox started with --detach (or in another terminal). Stopping none is not an error.

    Examples:

      linesync sandbox stop
    """
    from linesync_cli.sandbox import service

    app = app_context(ctx)
    info = service.stop(_state_dir(ctx))
    app.renderer.note(f"sandbox stopped (pid {info.pid})" if info else "no sandbox was running")


@sandbox_app.command("env")
def env(ctx: typer.Context) -> None:
    """Print the export lines of the running sandbox (for eval, or to paste). Exit 1 when none runs.

    Examples:

      linesync sandbox env

      linesync sandbox env > sandbox.sh && . ./sandbox.sh
    """
    from linesync_cli.sandbox import service

    app = app_context(ctx)
    info = service.require_running(_state_dir(ctx))
    for line in info.exports():
        app.renderer.data(line)


@sandbox_app.command("status")
def status(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Is a sandbox running: its pid, URLs, seed, faults and whether both ports answer. Exit 1 when none runs.

    Examples:

      linesync sandbox status

      linesync sandbox status --json | jq .klaviyo_url
    """
    from linesync_cli.errors import CheckFailed
    from linesync_cli.render import Column
    from linesync_cli.sandbox import service

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    info = service.require_running(_state_dir(ctx))
    answering = {"klaviyo": service.answering(info.klaviyo_url), "line": service.answering(info.line_url)}
    data = info.to_json() | {"running": True, "answering": answering}
    rows = [
        {"field": "pid", "value": info.pid},
        {"field": "Klaviyo", "value": info.klaviyo_url + ("" if answering["klaviyo"] else " (not answering)")},
        {"field": "LINE", "value": info.line_url + ("" if answering["line"] else " (not answering)")},
        {"field": "seed", "value": info.seed},
        {"field": "started", "value": info.started_at},
        {"field": "faults", "value": f"{info.faults:g}"},
        {"field": "latency", "value": f"{info.latency_ms} ms"},
        {"field": "state dir", "value": info.state_dir},
    ]
    if info.log_file:
        rows.append({"field": "log", "value": info.log_file})
    app.renderer.emit(output, json_data=data, rows=rows, columns=[Column("field", "Sandbox"), Column("value", "")])
    if not all(answering.values()):
        raise CheckFailed("the sandbox process runs but does not answer on every port",
                          hint="`linesync sandbox stop` then start it again")


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
