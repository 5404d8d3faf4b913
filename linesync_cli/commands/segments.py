"""`linesync segments`: Klaviyo Segments from LINE reactions, from presets."""

from __future__ import annotations

from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, TableJsonFormatOpt, app_context, resolve_format

segments_app = typer.Typer(
    short_help="Klaviyo Segments from LINE reactions (not the messaging platform's recipient segments).",
    help="""Klaviyo Segments from LINE reactions (not the messaging platform's recipient segments).

Examples:

  linesync segments presets

  linesync segments create line-clicked-recently --days 30
""",
    no_args_is_help=True,
)


@segments_app.command("presets")
def presets(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the segment presets, what they select and the metrics they need.

    Examples:

      linesync segments presets

      linesync segments presets --json | jq -r '.presets[].preset'
    """
    from linesync_cli.core.segment_presets import DEFAULT_ORDER_METRIC, PRESETS
    from linesync_cli.render import Column, OutputFormat

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    rows = [{
        "preset": p.key,
        "selects": p.summary,
        "metrics": "; ".join(p.metric_names()) or "none (a profile property)",
        "uses_days": p.uses_days,
        "note": p.note,
    } for p in PRESETS]
    cols = [Column("preset", "Preset"), Column("selects", "Selects"), Column("metrics", "Needs metrics"),
            Column("uses_days", "--days")]
    app.renderer.emit(output, json_data={"presets": rows}, rows=rows, columns=cols)
    if output is not OutputFormat.json:
        for p in PRESETS:
            if p.note:
                app.renderer.note(f"{p.key}: {p.note}")
        if any(p.uses_order for p in PRESETS):
            app.renderer.note(f"the order metric is {DEFAULT_ORDER_METRIC!r} unless --order-metric names another")


@segments_app.command("create")
def create(
    ctx: typer.Context,
    preset: Annotated[str, typer.Argument(help="Preset name (see `linesync segments presets`).", metavar="PRESET")],
    days: Annotated[int | None, typer.Option("--days", help="Look-back window in days for presets built on events [default: 30].", min=1)] = None,
    window: Annotated[str | None, typer.Option("--window", metavar="DURATION", help="line-clicked-then-ordered: the longest time from the click to the order, one of 1h, 1d, 3d, 5d, 7d, 30d, 90d, 180d, 365d (Klaviyo's choices) [default: 5d].")] = None,
    order_metric: Annotated[str | None, typer.Option("--order-metric", metavar="NAME", help="Presets with an order: the order metric's name or ID, checked against the account's metrics [default: Placed Order].")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Segment name (default: from the preset, e.g. \"LINE clicked (30d)\").")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the request body as JSON and create nothing. Resolves metric IDs when a Klaviyo key is set, else shows placeholders.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Create even if a segment with this name exists (Klaviyo allows duplicate names).")] = False,
    fmt: TableJsonFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a Klaviyo Segment from a preset (POST /api/segments).

    Refuses when a metric it needs has no events yet, or when a segment with the
    name exists (unless --force). Klaviyo allows 100 segment creates a day. The
    segment fills in the background after it is created.

    line-clicked-then-ordered is an event funnel (the click, then the order within
    --window), which Klaviyo offers only with its Marketing Analytics plan;
    line-clicked-and-ordered asks for both in the last --days, in either order.
    An --order-metric the account does not have is a usage error (exit 2) that
    lists the account's order-like metrics.

    Examples:

      linesync segments create line-opened-not-clicked --days 14 --dry-run

      linesync segments create line-clicked-then-ordered --days 30 --window 5d --order-metric "Placed Order"
    """
    from linesync_cli.core.funnel import known_metrics
    from linesync_cli.core.segment_presets import (
        check_plan,
        create_segment,
        get_preset,
        plan_segment,
        segments_named,
    )
    from linesync_cli.render import OutputFormat

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    if dry_run and fmt is not None and output is not OutputFormat.json:
        raise typer.BadParameter("--dry-run prints the request body, which is JSON; drop --format table",
                                 param_hint="--format")
    r = app.renderer
    chosen = get_preset(preset)
    if days is not None and not chosen.uses_days:
        r.warn(f"{chosen.key} does not look at events; --days is ignored")
    if window is not None and not chosen.uses_window:
        r.warn(f"{chosen.key} has no completion window; --window is ignored")
    if order_metric is not None and not chosen.uses_order:
        r.warn(f"{chosen.key} does not look at orders; --order-metric is ignored")
    has_key = app.settings.has_klaviyo_key
    client = app.klaviyo() if (has_key or not dry_run) else None
    metrics = known_metrics(client) if client is not None and chosen.metrics else None
    plan = plan_segment(chosen, link=app.settings.link, days=days, name=name, metrics=metrics, window=window,
                        order_metric=order_metric)
    if client is not None and (dry_run or not plan.missing):
        plan.existing = segments_named(client, plan.name)

    if dry_run:
        _show_dry_run(r, plan, force)
        return
    check_plan(plan, force=force)
    _show_created(r, plan, create_segment(client or app.klaviyo(), plan), output)  # not a dry run: a client


def _show_dry_run(r, plan, force: bool) -> None:
    from linesync_cli.render import safe

    r.json(plan.body)  # exactly what create would send
    if plan.placeholders:
        r.note("no Klaviyo API key is configured: metric IDs are placeholders (set LINESYNC_KLAVIYO_API_KEY "
               "to resolve them" + (" and check the order metric" if plan.preset.uses_order else "") + ")")
    if plan.preset.note:
        r.note(f"{plan.preset.key}: {plan.preset.note}")
    for metric_name in plan.missing:
        r.warn(f"{safe(metric_name)} has no events yet: create would refuse (a placeholder ID is shown)")
    if plan.existing and not force:
        r.warn(f"a segment named {safe(plan.name)} exists: create would refuse without --force")
    r.note("dry run: nothing was created")


def _show_created(r, plan, created, output) -> None:
    from linesync_cli.render import Column, OutputFormat

    if output is OutputFormat.json:
        r.json({"created": created.to_json(), "preset": plan.preset.key, "days": plan.days,
                "window": plan.window, "order_metric": plan.order_metric.to_json() if plan.order_metric else None,
                "definition": plan.definition})
    else:
        rows = [{"field": k, "value": v} for k, v in (
            ("ID", created.id), ("Name", created.name), ("Preset", plan.preset.key),
            ("Days", plan.days if plan.days is not None else ""),
            *((("Window", plan.window),) if plan.window else ()),
            *((("Order metric", f"{plan.order_metric.name} ({plan.order_metric.id})"),) if plan.order_metric else ()),
            ("Processing", created.is_processing),
        )]
        r.table(rows, [Column("field", "Segment"), Column("value", "")])
    now = " (it is processing now)" if created.is_processing else ""
    r.note(f"Klaviyo fills new segments in the background{now}; members can take minutes or longer to appear. "
           "Check it in Klaviyo under Audience > Lists & segments.")
    r.note("These are Klaviyo Segments, not the messaging platform's recipient segments (those are separate "
           "and unchanged).")


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")
