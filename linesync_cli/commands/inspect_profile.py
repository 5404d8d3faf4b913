"""`linesync inspect-profile`: one profile's LINE data and its LINE + email timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, TimezoneOpt, app_context, resolve_format

LINE_ROW_STYLE = "bold green"


def _details_text(details: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in details.items())


def _render(r, output, located, tl, events, link, tz, *, since, until, reverse: bool, line_only: bool,
            limit: int) -> None:
    """Header and timeline to stdout (table, CSV or JSON); counts and hints to stderr."""
    from linesync_cli.core.profiles import line_property_names
    from linesync_cli.render import Column, OutputFormat, safe
    from linesync_cli.timeutil import local_text

    profile = located.profile
    term = r.is_terminal
    if output is OutputFormat.json:
        r.json({
            "profile": profile.to_json(link),
            "found_by": located.how,
            "range": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
            "order": "newest first" if reverse else "oldest first",
            "events": [e.to_json() for e in events],
            "more": tl.more,
        })
    else:
        rows = [{"time": e.datetime, "channel": e.channel, "event": e.metric_name or "(unknown metric)",
                 "details": _details_text(e.details), "event_id": e.id, "metric_id": e.metric_id} for e in events]
        if output is OutputFormat.csv:
            r.csv(rows, [Column(k, k) for k in ("time", "channel", "event", "details", "event_id", "metric_id")])
        else:
            header = [{"field": "profile", "value": profile.id}, {"field": "email", "value": profile.email or ""},
                      {"field": "phone", "value": profile.phone_number or ""}]
            if profile.external_id:
                header.append({"field": "external_id", "value": profile.external_id})
            for name in line_property_names(link):
                value = profile.properties.get(name)
                header.append({"field": name, "value": "" if value is None else value})
            r.table(header, [Column("field", "Field"), Column("value", "Value")])
            if not term:
                r.data("")  # a blank line between the header and the timeline
            cols = [Column("time", "Time", fmt=lambda v: local_text(v, tz, term)), Column("channel", "Channel"),
                    Column("event", "Event"), Column("details", "Details")]
            styles = [LINE_ROW_STYLE if e.is_line else None for e in events] if term else None
            r.table(rows, cols, row_styles=styles)
    from_line = "" if line_only else f", {sum(e.is_line for e in events):,} from LINE"
    r.note(f"found by {safe(located.how)}; {len(events):,} event(s)" + (" (LINE only)" if line_only else from_line))
    if tl.more:
        r.note(f"showing the newest {limit:,}; more exist: raise --limit or narrow with --since/--until")


def inspect_profile(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option("--email", help="Find the profile by email.", metavar="EMAIL")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Find the profile by phone number (E.164, e.g. +819012345678).", metavar="PHONE")] = None,
    profile_id: Annotated[str | None, typer.Option("--profile-id", help="The Klaviyo profile ID.", metavar="ID")] = None,
    external_id: Annotated[str | None, typer.Option("--external-id", help="Find the profile by external_id.", metavar="ID")] = None,
    line_user_id: Annotated[str | None, typer.Option("--line-user-id", help="Find the profile linked to this LINE user ID (through the configured link key or --link-map).", metavar="ID")] = None,
    link_map: Annotated[Path | None, typer.Option("--link-map", help="With --line-user-id: resolve through this CSV instead of the link key.", metavar="FILE")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this: a duration (30d, 12h, 2w) or an ISO date/time (a date is read in --timezone).", metavar="WHEN")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only events before this (same forms as --since).", metavar="WHEN")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Show at most this many of the newest events.")] = 50,
    line_only: Annotated[bool, typer.Option("--line-only", help="Only LINE events.")] = False,
    reverse: Annotated[bool, typer.Option("--reverse", help="Newest first (default: oldest first).")] = False,
    timezone: TimezoneOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a profile's LINE properties and its events in time order: LINE, email, SMS and others together.

    Each event has its local time, channel (LINE, Email, SMS, other), name and key
    details (message, broadcast and flow IDs, URL; subject or campaign for email).
    The newest --limit events in the range are fetched page by page as needed.
    Exits 1 when no single profile matches.

    Examples:

      linesync inspect-profile --email taro@example.jp --since 30d

      linesync inspect-profile --line-user-id U4af4980629... --line-only --json
    """
    from linesync_cli.core.inspect_profile import locate_profile
    from linesync_cli.core.linkage import open_resolver
    from linesync_cli.core.timeline import timeline
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_when, parse_zone

    selectors = {"--email": email, "--phone": phone, "--profile-id": profile_id, "--external-id": external_id,
                 "--line-user-id": line_user_id}
    given = [k for k, v in selectors.items() if v is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of " + ", ".join(selectors) + (f" (got {', '.join(given)})" if given else ""),
                         hint="e.g. linesync inspect-profile --email taro@example.jp")
    if link_map is not None and line_user_id is None:
        raise UsageError("--link-map works only with --line-user-id")
    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    tz = parse_zone(timezone)
    start = parse_when(since, option="--since", tz=tz)
    end = parse_when(until, option="--until", tz=tz)
    if start and end and start >= end:
        raise UsageError("--since must be before --until")
    settings = app.settings
    resolver = open_resolver(settings, app.klaviyo, link_map=link_map) if line_user_id is not None else None
    located = locate_profile(app.klaviyo, profile_id=profile_id, email=email, phone=phone, external_id=external_id,
                             line_user_id=line_user_id, resolver=resolver)
    tl = timeline(app.klaviyo(), located.profile.id, limit=limit, since=start, until=end, line_only=line_only)
    events = tl.events if reverse else list(reversed(tl.events))

    _render(app.renderer, output, located, tl, events, settings.link, tz,
            since=start, until=end, reverse=reverse, line_only=line_only, limit=limit)


def register(app: typer.Typer) -> None:
    app.command("inspect-profile")(inspect_profile)
