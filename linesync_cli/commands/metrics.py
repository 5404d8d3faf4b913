"""`linesync metrics`: are the nine LINE metrics in Klaviyo?"""

from __future__ import annotations

from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

metrics_app = typer.Typer(
    help="LINE metrics in Klaviyo: which of the nine have received events.",
    no_args_is_help=False,
    invoke_without_command=True,
)


@metrics_app.callback()
def metrics(
    ctx: typer.Context,
    allow_missing: Annotated[bool, typer.Option("--allow-missing", help="Exit 0 even when some of the nine metrics are missing.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the nine LINE metrics under integration type API: present or missing, with ID and times.

    A missing metric means no event of that kind has arrived yet. A LINE event name
    that also exists under another integration is flagged as split. Exits 1 when any
    metric is missing (for CI), unless --allow-missing.

    Examples:

      linesync metrics

      linesync metrics --json --allow-missing | jq '.metrics[] | select(.present|not)'
    """
    if ctx.invoked_subcommand is not None:
        return
    from linesync_cli.core.metrics import check_line_metrics
    from linesync_cli.errors import CheckFailed
    from linesync_cli.render import Column, OutputFormat
    from linesync_cli.timeutil import local_text

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    statuses = check_line_metrics(app.klaviyo())
    r = app.renderer
    term = r.is_terminal
    rows = []
    for st in statuses:
        m = st.metric
        rows.append({
            "action": st.action.key,
            "name": st.action.metric_name,
            "status": "present" if st.present else "missing",
            "metric_id": m.id if m else "",
            "integration": m.integration_name if m else "",
            "created": m.created if m else None,
            "updated": m.updated if m else None,
            "split": "; ".join(f"{o.integration_name or o.integration_category} ({o.id})" for o in st.others),
        })
    missing = [st for st in statuses if not st.present]
    split = [st for st in statuses if st.split]
    if output is OutputFormat.json:
        r.json({
            "metrics": [st.to_json() for st in statuses],
            "summary": {"present": len(statuses) - len(missing), "missing": len(missing), "split": len(split)},
        })
    else:
        def when(v):
            return local_text(v, None, term)

        def status_text(v):
            return {"present": "✓ present", "missing": "✗ missing"}[v] if term else v

        cols = [
            Column("name", "Event"),
            Column("status", "Status", fmt=status_text),
            Column("metric_id", "Metric ID"),
            Column("integration", "Integration"),
            Column("created", "Created", fmt=when),
            Column("updated", "Updated", fmt=when),
            Column("split", "Also under"),
        ]
        if output is OutputFormat.csv:
            r.csv(rows, cols)
        else:
            styles = [None if row["status"] == "present" else "red" for row in rows]
            r.table(rows, cols, row_styles=styles if term else None)
        for st in missing:
            r.note(f"[red]✗[/] {st.action.metric_name}: no event of this kind has arrived yet")
        for st in split:
            r.warn(f"{st.action.metric_name} also exists under another integration (split metric): "
                   "reports and segments must pick the API one")
        if missing:
            r.note("[cyan]hint:[/] events go only to linked profiles (`linesync check-link LINE_USER_ID`); opens and "
                   "clicks need a trackable link or image; `linesync doctor` runs the whole checklist")
        else:
            r.note(f"all {len(statuses)} LINE metrics are present")
    if missing and not allow_missing:
        raise CheckFailed(f"{len(missing)} of {len(statuses)} LINE metrics are missing",
                          hint="--allow-missing exits 0 anyway")


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
