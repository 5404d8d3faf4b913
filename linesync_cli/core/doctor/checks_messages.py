"""Message checks: can opens and clicks be measured, can web analytics attribute the links, and why opens
differ from LINE's "Read"."""

from __future__ import annotations

import shlex
from dataclasses import replace

from linesync_cli.core.doctor.model import CheckResult, informed, passed, skipped, warned
from linesync_cli.core.doctor.runner import DoctorContext


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_trackable_message(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.core.message_walker import scan_document

    doc = ctx.options.message
    if doc is None:
        return skipped("no --message given: no LINE message is checked for trackable links and images",
                       "linesync doctor --message FILE (a LINE message, an array of them, or a request body)")
    name = ctx.options.message_name or "the message"
    scans = scan_document(doc)
    details = []
    for scan in scans:
        details.append(f"{scan.path} ({scan.type}): {_plural(len(scan.trackable), 'trackable item')}")
        for f in scan.found:
            mark = "trackable" if f.trackable else ("chrome" if f.role == "chrome" else "not trackable")
            details.append(f"  {f.kind} {f.path} = {f.url} [{mark}]" + (f": {f.note}" if f.note else ""))
        details += [f"  note: {n}" for n in scan.notes]
    links = sum(1 for s in scans for f in s.trackable if f.kind == "link")
    images = sum(1 for s in scans for f in s.trackable if f.kind == "image")
    untracked_links = sum(1 for s in scans for f in s.links if not f.trackable)
    data = {"file": ctx.options.message_name, "trackable_links": links, "trackable_images": images,
            "messages": [s.to_json() for s in scans]}
    if not links and not images:
        extra = f" ({_plural(untracked_links, 'link')} found, none http/https)" if untracked_links else ""
        return warned(
            f"no trackable link or image in {name}{extra}: opens and clicks cannot be measured for it",
            "add an https link (a URI action) or an image; `linesync doctor -d --message FILE` lists what was found, "
            "examples/messages/ has samples",
            details, **data,
        )
    bare = [s for s in scans if not s.trackable]
    head = f"{_plural(links, 'trackable link')} and {_plural(images, 'image')} in {name}"
    first = next(f.path for s in scans for f in s.trackable)
    if bare:
        head += f"; {len(bare)} of {len(scans)} messages have none ({', '.join(f'{s.path} {s.type}' for s in bare)})"
    return passed(f"{head} (first: {first})", "`linesync doctor -d --message FILE` lists every path", details, **data)


def check_utm_links(ctx: DoctorContext) -> CheckResult:
    """Every web link of --message: does it carry utm_source, utm_medium and utm_campaign?

    A warning, never a failure: doctor fails what stops LINE events reaching Klaviyo; an untagged
    link loses only web analytics' attribution (as a message without a trackable link loses only
    opens and clicks, which trackable-message warns about). `--strict` makes it exit 1 for CI.
    """
    from linesync_cli.core.utm_links import DEFAULT_SOURCE, audit_document

    doc = ctx.options.message
    if doc is None:
        return skipped("no --message given: no LINE message is checked for UTM parameters",
                       "linesync doctor --message FILE (add --suggest-utm source=line,medium=...,campaign=... "
                       "for the fixed URLs)")
    tags = ctx.options.suggest_utm
    name = ctx.options.message_name or "the message"
    expected = tags.source if tags else DEFAULT_SOURCE
    audits = audit_document(doc, tags)
    checked = [a for a in audits if a.checked]
    untagged = [a for a in checked if not a.tagged]
    other = [a for a in checked if a.other_source]
    unchecked = [a for a in audits if not a.checked]
    details = []
    for a in audits:
        state = ("not checked" if not a.checked else "lacks " + ", ".join(a.missing) if a.missing
                 else "tagged" if a.tagged else "incomplete")
        details.append(f"{a.place}: {a.url} [{state}]")
        if a.suggested_url:
            details.append(f"  fixed: {a.suggested_url}")
        details += [f"  note: {n}" for n in a.notes]
    data = {
        "file": ctx.options.message_name, "expected_source": expected,
        "suggest_utm": dict(tags.params()) if tags else None,
        "web_links": len(checked), "tagged": len(checked) - len(untagged), "untagged": len(untagged),
        "other_source": len(other), "not_checked": len(unchecked),
        "links": [a.to_json() for a in audits],
    }
    not_checked = (f"; {_plural(len(unchecked), 'link')} not checked (not web pages)" if unchecked else "")
    if not checked:
        return skipped(f"no web link to tag in {name}{not_checked}",
                       "`linesync doctor -d --message FILE` lists what the message holds", details, **data)
    if not untagged and not other:
        return passed(f"all {_plural(len(checked), 'web link')} in {name} carry utm_source, utm_medium and "
                      f"utm_campaign (source {expected}){not_checked}",
                      "`linesync doctor -d --message FILE` lists every link", details, **data)
    problems = []
    if untagged:
        problems.append(f"{len(untagged)} of {_plural(len(checked), 'web link')} in {name} lack UTM parameters "
                        f"({_places(untagged)})")
    if other:
        problems.append(f"{_plural(len(other), 'link')} carry another utm_source, so web analytics counts them under "
                        f"another channel ({_places(other, source=True)})")
    if tags:
        hint = ("the fixed URLs below only add what is missing; links with another utm_source, or with an empty or "
                "mis-cased key, are left for you to edit")
    else:
        given = ctx.options.message_name
        file = "-" if given == "standard input" else shlex.quote(given) if given else "FILE"
        hint = (f"`linesync doctor --only utm-links --message {file} --suggest-utm "
                f"source={expected},medium=social,campaign=NAME` shows each fixed URL")
    # The links are the finding: shown without -d.
    return replace(warned("; ".join(problems) + not_checked, hint, details, **data), show_details=True)


def _places(audits: list, *, source: bool = False, limit: int = 4) -> str:
    shown = [f"{a.place} utm_source={a.utm_source}" if source else a.place for a in audits[:limit]]
    more = f", and {len(audits) - limit} more" if len(audits) > limit else ""
    return ", ".join(shown) + more


def check_open_vs_read(ctx: DoctorContext) -> CheckResult:
    return informed(
        'Opened LINE Message counts the opens the messaging platform measures, not LINE\'s "Read": '
        "the two counts do not match",
        "compare opens with sends and clicks over a period: `linesync report funnel`",
        (
            "opens are measured by the messaging platform through the message's trackable links and images",
            "a message without a trackable link or image has no opens at all (check one with --message FILE)",
            'LINE\'s "Read" status is not one of the LINE events sent to Klaviyo',
        ),
    )
