"""Message checks: can opens and clicks be measured, and why opens differ from LINE's "Read"."""

from __future__ import annotations

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
