"""`linesync doctor`: the troubleshooting checklist, for support and for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from linesync_cli.commands.options import FormatOpt, JsonOpt, app_context, resolve_format

IDS_HELP = ("config, klaviyo-auth, klaviyo-scopes, line-metrics, metric-split, recent-events, link-index, "
            "linkage, trackable-message, utm-links, open-vs-read, segment-processing, line-token, line-vs-klaviyo")


def _id_list(values: list[str] | None) -> list[str]:
    return [part.strip() for v in values or () for part in v.split(",") if part.strip()]


def doctor(
    ctx: typer.Context,
    only: Annotated[list[str] | None, typer.Option("--only", metavar="ID[,ID]", help=f"Report only these checks (their prerequisites still run, unreported). IDs: {IDS_HELP}.")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", metavar="ID[,ID]", help="Leave these checks out of the report.")] = None,
    since: Annotated[str, typer.Option("--since", metavar="WHEN", help="recent-events: warn for a LINE metric with no event since then: a duration (24h, 7d) or an ISO date/time (UTC unless it has an offset).")] = "24h",
    line_user_id: Annotated[str | None, typer.Option("--line-user-id", metavar="U...", help="Check this LINE user's linkage (and, with --segment, membership).")] = None,
    message: Annotated[str | None, typer.Option("--message", metavar="FILE", help="Check a LINE message JSON file (a message, an array of them, or a request body with `messages`; - for stdin) for trackable links and images.")] = None,
    suggest_utm: Annotated[str | None, typer.Option("--suggest-utm", metavar="source=S,medium=M,campaign=C", help="With --message: utm-links shows each web link's fixed URL, adding only the UTM parameters it lacks (also content=, term=).")] = None,
    segment: Annotated[str | None, typer.Option("--segment", metavar="ID", help="Check this Klaviyo Segment: still processing? is the --line-user-id profile a member?")] = None,
    link_map: Annotated[Path | None, typer.Option("--link-map", metavar="FILE", help="Resolve --line-user-id through this CSV (line_user_id + profile_id/email/phone_number) instead of the configured link key.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    ci: Annotated[bool, typer.Option("--ci", help="For CI: no colour, no prompts (doctor never prompts; the flag makes that explicit in scripts).")] = False,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="Run the checks for every [accounts.NAME] of the config file, one after the other: a table with a row per account.")] = False,
    details: Annotated[bool, typer.Option("--details", "-d", help="Show each check's extra lines (`-v`/`--verbose` implies this and also logs HTTP requests).")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the troubleshooting checklist: configuration, the Klaviyo key and its scopes, the nine LINE metrics
    and their latest events, linkage, trackable messages, segments and the LINE token.

    Each check prints ✓ (pass), ! (warning), ✗ (failed), ? (could not run), - (skipped) or i (information),
    with a hint naming the next command. Exit codes: 0 nothing failed (warnings allowed unless --strict),
    1 a check failed, 2 configuration (no key, bad option, unreadable --message file), 3 Klaviyo refused the key,
    4 Klaviyo unavailable. With --all-accounts, a row per account and the worst account's exit code.

    With --message, utm-links names each web link that lacks utm_source, utm_medium or utm_campaign
    (a warning: events still reach Klaviyo, web analytics cannot attribute the visit);
    --suggest-utm source=line,medium=M,campaign=C prints each fixed URL.

    Examples:

      linesync doctor --line-user-id U4af4980629a1b2c3d4e5f60718293a4b --message campaign.json --suggest-utm source=line,medium=social,campaign=spring-sale

      linesync doctor --ci --json --skip line-token | jq '.checks[] | select(.status != "pass")'
    """
    from linesync_cli.core.doctor import run_doctor
    from linesync_cli.errors import CheckFailed

    app = app_context(ctx)
    output = resolve_format(fmt, as_json)
    options = _build_options(since, line_user_id, message, segment, link_map, strict, suggest_utm)
    if ci:
        # Plain text whatever the environment says (FORCE_COLOR, a pseudo-terminal):
        # CI logs get no escape codes, the error line at the end included.
        from rich.console import Console

        from linesync_cli.render import Renderer

        app.renderer = Renderer(Console(force_terminal=False, no_color=True, soft_wrap=False, highlight=False),
                                Console(stderr=True, force_terminal=False, no_color=True, highlight=False))
    if all_accounts:
        _all_accounts(app, options, _id_list(only), _id_list(skip), output)
        return
    report = run_doctor(
        options, only=_id_list(only), skip=_id_list(skip),
        load_settings=lambda: app.loaded, klaviyo=app.klaviyo, line=app.line, raise_unexpected=app.debug,
    )
    _render(app.renderer, report, output, details or app.verbose)
    code = report.exit_code
    if code:
        bad = [o.check.id for o in report.outcomes if o.result.status.value in ("fail", "error")]
        warned = [o.check.id for o in report.outcomes if o.result.status.value == "warn"]
        ids = bad or warned or [o.check.id for o in report.hidden if o.result.status.value in ("fail", "error")]
        err = CheckFailed(
            ("failed checks: " if bad else "warnings (--strict): " if warned else "failed prerequisites: ")
            + ", ".join(ids),
            hint=f"`linesync doctor --only {','.join(ids)} -d` shows the details",
        )
        err.exit_code = code
        raise err


def _all_accounts(app, options, only: list[str], skip: list[str], output) -> None:
    """The fleet view: each account's checks in turn (each key paced by its own client), a row per account."""
    from functools import partial

    from linesync_cli.core.doctor import Status, run_doctor
    from linesync_cli.errors import CheckFailed, ExitCode
    from linesync_cli.render import Column

    rows, reports = [], []
    for name in app.account_names():
        sub = app.for_account(name)
        try:
            report = run_doctor(options, only=only, skip=skip, load_settings=partial(getattr, sub, "loaded"),
                                klaviyo=sub.klaviyo, line=sub.line, raise_unexpected=app.debug)
        finally:
            sub.close()
        bad = [o.check.id for o in report.outcomes if o.result.status.value in ("fail", "error")]
        rows.append({"account": name, "exit_code": report.exit_code, "pass": report.count(Status.PASS),
                     "warn": report.count(Status.WARN), "fail": len(bad), "failed_checks": ", ".join(bad)})
        reports.append({"account": name} | report.to_json())
    cols = [Column("account", "Account", no_wrap=True), Column("exit_code", "Exit", justify="right"),
            Column("pass", "Pass", justify="right"), Column("warn", "Warn", justify="right"),
            Column("fail", "Fail", justify="right"), Column("failed_checks", "Failed checks")]
    app.renderer.emit(output, json_data={"accounts": reports}, rows=rows, columns=cols)
    worst = max((row["exit_code"] for row in rows), default=0)
    if worst:
        failing = [row["account"] for row in rows if row["exit_code"]]
        err = CheckFailed(f"accounts with failed checks: {', '.join(failing)}",
                          hint=f"`linesync --account {failing[0]} doctor -d` shows the details")
        err.exit_code = ExitCode(worst)
        raise err


def _build_options(since, line_user_id, message, segment, link_map, strict, suggest_utm=None):
    from linesync_cli.core.doctor import DoctorOptions
    from linesync_cli.core.linkage import LINE_USER_ID_RE, read_link_map
    from linesync_cli.core.message_walker import load_message_file
    from linesync_cli.errors import UsageError
    from linesync_cli.timeutil import parse_duration, parse_required_when

    since_at = parse_required_when(since, option="--since")
    label = f"in the last {since.strip()}" if parse_duration(since) else f"since {since_at.isoformat()}"
    if line_user_id is not None and not LINE_USER_ID_RE.fullmatch(line_user_id.strip()):
        raise UsageError(
            f"--line-user-id {line_user_id!r} is not a LINE user ID (U followed by 32 lowercase hex characters)",
            hint="the ID is in the webhook's source.userId, or the profile's LINE User ID property; "
            "a @basic ID or a display name is not a user ID",
        )
    tags = None
    if suggest_utm is not None:
        from linesync_cli.core.utm_links import parse_suggest_utm

        tags = parse_suggest_utm(suggest_utm)  # before any file is read or request sent
        if message is None:
            raise UsageError("--suggest-utm needs --message FILE: it fixes the links of that message",
                             hint="linesync doctor --only utm-links --message FILE --suggest-utm "
                             "source=line,medium=social,campaign=NAME")
    if link_map is not None:
        read_link_map(link_map)  # a bad map is a usage error (exit 2) before any check runs
    doc = load_message_file(message) if message is not None else None
    return DoctorOptions(
        since=since_at, since_label=label,
        line_user_id=line_user_id.strip() if line_user_id else None,
        message=doc, message_name=("standard input" if message == "-" else message) if message else None,
        segment_id=segment.strip() if segment else None, link_map=link_map, strict=strict, suggest_utm=tags,
    )


MARKS = {"pass": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "error": ("?", "red"),
         "skip": ("-", "dim"), "info": ("i", "cyan")}


def _render(r, report, output, show_details: bool) -> None:
    from linesync_cli.core.doctor import Status
    from linesync_cli.render import Column, OutputFormat, safe

    if output is OutputFormat.json:
        r.json(report.to_json())
        return
    if output is OutputFormat.csv:
        rows = [{"id": o.check.id, "title": o.check.title, "status": o.result.status.value,
                 "detail": o.result.detail, "hint": o.result.hint or ""} for o in report.outcomes]
        r.csv(rows, [Column(k, k) for k in ("id", "title", "status", "detail", "hint")])
        return
    for o in report.outcomes:
        res = o.result
        mark, colour = MARKS[res.status.value]
        r.out.print(f"[{colour}]{mark}[/] [bold]{safe(o.check.title)}[/] ({o.check.id}): {safe(res.detail)}",
                    highlight=False, soft_wrap=True)
        if res.hint and (res.status.value != "pass" or show_details):
            r.out.print(f"    [cyan]hint:[/] {safe(res.hint)}", highlight=False, soft_wrap=True)
        if show_details or res.show_details:
            for line in res.details:
                r.out.print(f"    [dim]·[/] {safe(line)}", highlight=False, soft_wrap=True)
    colour = "red" if report.exit_code else ("yellow" if report.count(Status.WARN) else "green")
    r.out.print(f"[{colour}]{safe(report.summary_text)}[/]", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
