"""`linesync links sync|status`: the local link index (LINE user ID -> profile)."""

from __future__ import annotations

from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

links_app = typer.Typer(
    short_help="The local link index that finds the Klaviyo profile for a LINE user ID (property link keys).",
    help="""The local link index that finds the Klaviyo profile for a LINE user ID (property link keys).

Examples:

  linesync links sync

  linesync links status --json
""",
    no_args_is_help=True,
)

# Plain progress lines (not on a terminal): one at most this often (tests set 0).
PLAIN_PROGRESS_SECONDS = 10.0


def _no_index_needed(r, output, link_key: str) -> None:
    from linesync_cli.render import OutputFormat

    if output is OutputFormat.json:
        r.json({"link_key": link_key, "index_needed": False})
    r.note("the link key is external_id: profiles are looked up in Klaviyo directly, no link index is needed")


def _summary_rows(status, profiles_read: int | None = None) -> list[dict]:
    rows = []
    if profiles_read is not None:
        rows.append({"what": "profiles read", "count": profiles_read})
    rows += [
        {"what": "profiles with a value in the property", "count": status.profiles_with_value},
        {"what": "LINE IDs linked (on one profile)", "count": status.linked_ids},
        {"what": "LINE IDs on several profiles (ambiguous)", "count": status.ambiguous_ids},
        {"what": "malformed values in the property", "count": status.malformed_values},
    ]
    return rows


@links_app.command("sync")
def sync(
    ctx: typer.Context,
    segment: Annotated[str | None, typer.Option("--segment", help="Read only the members of this segment (ID). Every segment run is a full pass.", metavar="ID")] = None,
    full: Annotated[bool, typer.Option("--full", help="Read every profile again instead of only those updated since the last sync.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build or refresh the link index from the profiles that carry the link property.

    The first run reads every profile (100 per page); later runs read only the
    profiles updated since the previous run. Interrupted (Ctrl-C, network)? Run it
    again: it continues where it stopped. Reports malformed values and LINE IDs
    found on several profiles.

    Examples:

      linesync links sync

      linesync --link-key "property:LINE User ID 2" links sync --segment XyZ123 --json
    """
    from linesync_cli.core.link_sync import SyncOptions, SyncProgress, sync_links
    from linesync_cli.progress import ProgressLine
    from linesync_cli.render import Column, OutputFormat, safe

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    settings = app.settings
    r = app.renderer
    link = settings.link
    if link.kind != "property":
        _no_index_needed(r, output, str(link))
        return
    client = app.klaviyo()
    app.guard_state("links.sqlite")  # an index of another account's profiles: exit 2 before any page
    r.note(f'syncing the link index for property "{safe(link.property_name)}"'
           + (f" from segment {safe(segment)}" if segment else "") + " …")

    options = SyncOptions(segment_id=segment, full=full)
    with ProgressLine(r.err, "links sync", plain_every=PLAIN_PROGRESS_SECONDS) as line:
        def on_progress(p: SyncProgress) -> None:
            pages = f"{p.pages:,} page{'' if p.pages == 1 else 's'}"
            line.update(f"{p.kind} run{' (resumed)' if p.resumed else ''}: {p.profiles_read:,} profiles read, {pages}")

        report = sync_links(client, settings.state_dir, link.property_name, options, progress=on_progress)

    for note in report.notes:
        r.note(safe(note))
    if output is OutputFormat.json:
        r.json(report.to_json())
    else:
        cols = [Column("what", "What"), Column("count", "Count", justify="right", fmt=lambda v: f"{v:,}")]
        rows = _summary_rows(report.status, report.profiles_read)
        if output is OutputFormat.csv:
            r.csv(rows, cols)
        else:
            since = f" (profiles updated since {report.since.isoformat()})" if report.since else ""
            r.table(rows, cols, title=f"links sync: {report.kind} run{since}, {report.scope}")
        if report.malformed_examples:
            r.warn(f"{report.status.malformed_values:,} profile(s) carry a value that is not a LINE user ID "
                   "(U + 32 lowercase hex), e.g.:")
            for ex in report.malformed_examples:
                r.note(f"  {safe(ex['profile_id'])}: {safe(ex['value'])}")
        if report.ambiguous_examples:
            r.warn(f"{report.status.ambiguous_ids:,} LINE ID(s) are on several profiles; their actions are "
                   "not sent until one profile carries them, e.g.:")
            for ex in report.ambiguous_examples:
                r.note(f"  {safe(ex['line_user_id'])}: {safe(', '.join(ex['profile_ids']))}")
        r.note(f"done in {report.elapsed_seconds:.1f}s; index: {safe(str(report.status.path))}")


@links_app.command("status")
def status(
    ctx: typer.Context,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the link index's age and counts for the configured link key, then every link index in the state dir.

    One index per link key: several LINE Official Accounts link through `LINE User ID`,
    `LINE User ID 2`, ... (`--oa 2` is short for `--link-key "property:LINE User ID 2"`).

    Examples:

      linesync --oa 2 links status

      linesync links status --json | jq .synced_at
    """
    from linesync_cli.core.link_index import all_link_index_statuses, link_index_status
    from linesync_cli.render import Column, OutputFormat, safe
    from linesync_cli.timeutil import humanize_age, local_text

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    r = app.renderer
    link = app.settings.link
    if link.kind != "property":
        _no_index_needed(r, output, str(link))
        return
    st = link_index_status(app.settings)
    every = all_link_index_statuses(app.settings.state_dir)
    if output is OutputFormat.json:
        r.json(st.to_json() | {"indexes": [
            {"link_key": i.link_key, "linked_ids": i.linked_ids, "ambiguous_ids": i.ambiguous_ids,
             "synced_at": i.to_json()["synced_at"], "scope": i.scope} for i in every]})
    else:
        term = r.is_terminal
        rows = [
            {"what": "link key", "value": st.link_key},
            {"what": "index file", "value": str(st.path)},
            {"what": "built from", "value": st.scope if st.exists else ""},
            {"what": "last full build", "value": local_text(st.built_at, None, term)},
            {"what": "last sync", "value": (f"{local_text(st.synced_at, None, term)} ({humanize_age(st.synced_at)})"
                                            if st.synced_at and term else local_text(st.synced_at, None, term))},
            {"what": "profiles read by the last sync", "value": st.profiles_read},
        ] + [{"what": row["what"], "value": row["count"]} for row in _summary_rows(st)]
        cols = [Column("what", "What"), Column("value", "Value")]
        if output is OutputFormat.csv:
            r.csv(rows, cols)
        else:
            r.table(rows, cols)
            if every:
                listing = [{"link_key": i.link_key, "linked": i.linked_ids, "ambiguous": i.ambiguous_ids,
                            "synced": local_text(i.synced_at, None, term),
                            "current": "*" if i.link_key == st.link_key else ""} for i in every]
                r.data("")
                r.table(listing, [Column("current", ""), Column("link_key", "Link index (key)"),
                                  Column("linked", "Linked", "right"), Column("ambiguous", "Ambiguous", "right"),
                                  Column("synced", "Last sync")], title=f"link indexes in {st.path}")
    if st.run_in_progress:
        r.warn(f"a {st.run_in_progress} sync was interrupted after {st.run_profiles_read:,} profiles; "
               "`linesync links sync` continues it")
    if not st.exists:
        r.note(f'no link index for property "{safe(st.property_name)}" yet; run `linesync links sync`')


def register(app: typer.Typer) -> None:
    app.add_typer(links_app, name="links")
