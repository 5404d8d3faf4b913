"""`linesync check-link`: is this LINE user linked to a Klaviyo profile?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

LinkMapOpt = Annotated[
    Path | None,
    typer.Option("--link-map", help="Resolve through this CSV (line_user_id + profile_id, email or phone_number) "
                 "instead of the configured link key.", metavar="FILE"),
]


# Short words for the many-IDs table; the full hint is in the single-ID view and JSON.
FORMAT_LABELS = {
    "uppercase-hex": "upper-case hex (IDs are lowercase)",
    "wrong-length": "wrong length",
    "group-or-room-id": "a group/room ID",
    "searchable-line-id": "looks like a searchable LINE ID",
    "display-name": "looks like a display name",
    "malformed": "not U + 32 hex",
}


def _how_linkage_is_made(link) -> str:
    if link.kind == "external_id":
        where = "sets the profile's external_id to the LINE user ID"
    else:
        where = f'writes the LINE user ID into the profile\'s "{link.property_name}" property'
    return (f"linkage is made by the messaging platform: when the customer completes ID linkage (or is matched "
            f"by email or phone), it {where}")


def _when(event, tz, term: bool) -> str:
    from linesync_cli.timeutil import local_text

    return f"{event.metric_name}, {local_text(event.datetime, tz, term)}" if event else ""


def _detail_rows(check, link, tz, term: bool) -> list[dict]:
    """The single-ID view: one field per row."""
    from linesync_cli.core.profiles import line_property_names

    rows = [{"field": "LINE user ID", "value": check.value}]
    if not check.format.ok:
        # What is wrong is said once, in the error line on stderr.
        rows.append({"field": "format", "value": f"malformed ({check.format.kind})"})
        return rows
    rows.append({"field": "link", "value": check.status})
    for p in check.profiles or []:
        rows += [{"field": "profile", "value": p.id}, {"field": "email", "value": p.email or ""},
                 {"field": "phone", "value": p.phone_number or ""}]
        for name in line_property_names(link):
            value = p.properties.get(name)
            rows.append({"field": name, "value": "" if value is None else value})
    missing = [pid for pid in check.link.profile_ids if pid not in {p.id for p in check.profiles}]
    rows += [{"field": "profile", "value": f"{pid} (not found in Klaviyo)"} for pid in missing]
    if check.last is not None:
        none = "none" if check.last.complete else f"none in the last {check.last.scanned:,} events"
        rows.append({"field": "last Linked LINE Identity", "value": _when(check.last.linked, tz, term) or none})
        rows.append({"field": "last LINE event", "value": _when(check.last.latest, tz, term) or none})
    if check.line is not None:
        line = check.line
        shown = line.detail + (f" (display name: {line.display_name})" if line.display_name else "")
        rows.append({"field": "LINE", "value": shown})
    if check.email is not None:
        rows.append({"field": "--email", "value": _email_text(check, link)})
    return rows


def _email_text(check, link) -> str:
    e = check.email
    if not e.profiles:
        return f"no Klaviyo profile has the email {e.email}"
    if e.matches:
        return f"match: the profile with {e.email} carries this LINE user ID"
    carried = ", ".join(f"{p.id} carries {p.linked_value(link)!s}" if p.linked_value(link) else f"{p.id} carries none"
                        for p in e.profiles)
    return f"mismatch: the profile with {e.email} does not carry this LINE user ID ({carried})"


def _table_rows(result, link) -> list[dict]:
    return [{
        "line_user_id": c.value,
        "status": c.status,
        "profile_ids": " ".join(c.link.profile_ids) if c.link else "",
        "email": " ".join(p.email or "" for p in c.profiles).strip(),
        "line": c.line.status if c.line else "",
        "note": FORMAT_LABELS.get(c.format.kind, "") if not c.format.ok else (_email_text(c, link) if c.email else ""),
    } for c in result.checks]


def _render(r, output, result, link, tz, *, from_link_map: bool) -> None:
    """Data to stdout (detail view, table, CSV or JSON), then the verdicts and hints to stderr."""
    from linesync_cli.render import Column, OutputFormat, safe

    term = r.is_terminal
    summary = result.summary
    if output is OutputFormat.json:
        r.json({"resolver": result.resolver, "link_key": str(link),
                "results": [c.to_json(link) for c in result.checks], "summary": summary})
    elif len(result.checks) == 1 and output is OutputFormat.table:
        r.table(_detail_rows(result.checks[0], link, tz, term), [Column("field", "Field"), Column("value", "Value")])
    else:
        cols = [Column("line_user_id", "LINE user ID"), Column("status", "Link"), Column("profile_ids", "Profile"),
                Column("email", "Email"), Column("line", "LINE"), Column("note", "Note")]
        if output is OutputFormat.csv:
            r.csv(_table_rows(result, link), cols)
        else:
            styles = [None if c.status == "linked" else "red" for c in result.checks] if term else None
            r.table(_table_rows(result, link), cols, row_styles=styles)

    if result.resolver:
        r.note(f"resolved through {safe(result.resolver)}")
    for c in result.checks:
        who = f"{safe(c.value)}: " if len(result.checks) > 1 else ""
        if c.status == "unlinked":
            r.note(f"[red]✗[/] {who}not linked: this user's LINE actions are not recorded in Klaviyo")
        elif c.status == "ambiguous":
            r.note(f"[red]✗[/] {who}ambiguous: {len(c.link.profile_ids)} profiles carry this LINE user ID; "
                   "its actions are not sent until only one does")
    if summary["unlinked"] or summary["ambiguous"]:
        r.note(f"[cyan]hint:[/] {safe(_how_linkage_is_made(link))}"
               + ("; if that happened since the last sync, run `linesync links sync`"
                  if link.kind == "property" and not from_link_map else ""))
    if any(c.line and c.line.status == "skipped" for c in result.checks):
        r.note("LINE checks skipped: no channel access token (set LINESYNC_LINE_CHANNEL_ACCESS_TOKEN to add them)")
    if len(result.checks) > 1:
        r.note(f"linked: {summary['linked']:,} of {summary['total']:,} ({summary['linked_share']:.1%})")


def check_link(
    ctx: typer.Context,
    line_user_ids: Annotated[list[str] | None, typer.Argument(help="LINE user IDs (U + 32 lowercase hex).", metavar="LINE_USER_ID...", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read LINE user IDs from FILE (one per line, or a CSV with a line_user_id column; - for standard input).", metavar="FILE")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Also check whether the profile with this email carries the LINE user ID, and which one it carries instead.", metavar="EMAIL")] = None,
    link_map: LinkMapOpt = None,
    timezone: Annotated[str | None, typer.Option("--timezone", "--tz", help="IANA time zone for shown times (default: this machine's).", metavar="ZONE")] = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that LINE users are linked to Klaviyo profiles: only linked users' LINE actions are recorded.

    For each ID: its format, the linked profile (email, phone, LINE properties, the
    last Linked LINE Identity and LINE events) or why there is none, and with a LINE
    channel access token whether LINE can reach the user. Several IDs give a table
    and the linked share. Exits 0 when all are linked, 1 otherwise (3 when LINE
    refuses the token, after showing the link results). With --email, a profile with that
    email that does not carry the LINE user ID is a failed check too (exit 1).

    Examples:

      linesync check-link U4af4980629... --email taro@example.jp

      linesync check-link --file ids.txt --json | jq .summary
    """
    import sys

    from linesync_cli.core.check_link import check_links
    from linesync_cli.core.linkage import classify_line_user_id, open_resolver, read_line_user_ids
    from linesync_cli.errors import LinesyncError, UsageError
    from linesync_cli.timeutil import parse_zone

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    tz = parse_zone(timezone)
    values = list(line_user_ids or [])
    if file is not None:
        values += read_line_user_ids(None, sys.stdin) if str(file) == "-" else read_line_user_ids(file)
    if not values:
        raise UsageError("no LINE user ID to check", hint="give LINE_USER_ID arguments or --file FILE")
    values = list(dict.fromkeys(v.strip() for v in values))
    settings = app.settings
    # Malformed IDs need no linkage: say what is wrong with them even without an index.
    wellformed = any(classify_line_user_id(v).ok for v in values)
    resolver = open_resolver(settings, app.klaviyo, link_map=link_map) if wellformed else None
    line = app.line()
    result = check_links(values, resolver, app.klaviyo, line, settings.link, email=email, details=len(values) == 1)

    _render(app.renderer, output, result, settings.link, tz, from_link_map=link_map is not None)
    if result.line_problem is not None:
        problem = result.line_problem
        if isinstance(problem, LinesyncError):
            problem.message = f"{problem.message} (the link results above are complete; the LINE check is not)"
        raise problem
    _raise_for_failed_checks(result)


def _raise_for_failed_checks(result) -> None:
    """Exit 1 when any check failed: not linked, malformed, or --email finds another profile."""
    from linesync_cli.errors import CheckFailed

    summary = result.summary
    checks = result.checks
    if len(checks) == 1 and checks[0].status == "malformed":
        raise CheckFailed(f"{checks[0].value} is not a LINE user ID: {checks[0].format.hint}")
    if summary["linked"] != summary["total"]:
        malformed = sum(c.status == "malformed" for c in checks)
        raise CheckFailed(f"{summary['total'] - summary['linked']:,} of {summary['total']:,} LINE user ID(s) "
                          "are not linked to exactly one profile" + (f" ({malformed:,} malformed)" if malformed else ""))
    mismatched = [c for c in checks if c.email is not None and not c.email.matches]
    if mismatched:
        e = mismatched[0].email
        said = (f"no Klaviyo profile has the email {e.email}" if not e.profiles
                else f"the profile with {e.email} does not carry {mismatched[0].value}")
        raise CheckFailed(f"--email check failed: {said}; this user's LINE events go to another profile"
                          if e.profiles else f"--email check failed: {said}")


def register(app: typer.Typer) -> None:
    app.command("check-link")(check_link)
