"""Linkage checks: the link index, one customer's link, and a Klaviyo Segment's state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from linesync_cli.core.doctor.checks_account import settings_or_skip
from linesync_cli.core.doctor.model import CheckResult, SkipCheck, failed, passed, skipped, warned
from linesync_cli.core.doctor.runner import DoctorContext
from linesync_cli.errors import LinesyncError, NoLinkIndex
from linesync_cli.timeutil import humanize_age

# The examples sync nightly: older than a day, plus slack for the sync itself,
# means a sync was missed and profiles linked since are unknown to the index.
INDEX_STALE_AFTER = timedelta(hours=26)

SEGMENTS_ARE_KLAVIYOS = (
    "Klaviyo Segments are Klaviyo's own audiences; they are not the messaging platform's recipient "
    "segments, which are defined and refreshed there"
)


# -- link-index ------------------------------------------------------------------

def check_link_index(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.core.linkage import link_index_status

    settings = settings_or_skip(ctx)
    link = settings.link
    if link.kind != "property":
        return skipped(f"the link key is {link}: profiles are looked up in Klaviyo directly, no index is needed")
    st = link_index_status(settings)
    data: dict[str, Any] = {"index": st.to_json()}
    details = [f"file: {st.path}"]
    if not st.exists:
        interrupted = " (the first sync was interrupted)" if st.run_in_progress else ""
        return failed(
            f'no link index for property "{link.property_name}"{interrupted}: LINE user IDs cannot be resolved '
            "to profiles, so nothing can be sent",
            "run `linesync links sync`" + (" to finish it" if interrupted else "") + ", or give --link-map FILE",
            details, **data,
        )
    scope = "" if st.scope == "all" else f" (members of {st.scope.replace(':', ' ')} only)"
    details += [
        f"scope: {st.scope}",
        f"built: {st.built_at.isoformat() if st.built_at else '?'}; last synced: "
        f"{st.synced_at.isoformat() if st.synced_at else '?'}",
        f"profiles read by the last sync: {st.profiles_read:,}; carrying the property: {st.profiles_with_value:,}",
        f"linked LINE IDs: {st.linked_ids:,}; on several profiles (ambiguous): {st.ambiguous_ids:,}; "
        f"malformed values: {st.malformed_values:,}",
    ]
    age = ctx.now() - st.synced_at if st.synced_at else None
    problems = []
    if age is None or age > INDEX_STALE_AFTER:
        problems.append(f"last synced {humanize_age(st.synced_at, ctx.now())}: customers linked since are unknown to it")
    if st.run_in_progress:
        problems.append(f"an {st.run_in_progress} sync was interrupted")
    if st.ambiguous_ids:
        problems.append(f"{st.ambiguous_ids:,} LINE IDs are on several profiles (ambiguous: never sent)")
    ids = f"{st.linked_ids:,} linked LINE ID{'' if st.linked_ids == 1 else 's'}"
    head = f"{ids}{scope}, synced {humanize_age(st.synced_at, ctx.now())}"
    if problems:
        hint = "run `linesync links sync` (incremental, quick); `linesync links status` shows the counts"
        if st.ambiguous_ids and len(problems) == 1:
            hint = "`linesync check-link LINE_USER_ID` lists the profiles of an ambiguous ID; keep the ID on one profile"
        return warned(f"{head}; " + "; ".join(problems), hint, details, **data)
    return passed(head, None, details, **data)


# -- linkage ---------------------------------------------------------------------

def resolve_user(ctx: DoctorContext) -> tuple[Any, str]:
    """The Link for --line-user-id and how it was resolved; shared by linkage and segment-processing."""
    from linesync_cli.core.linkage import open_resolver

    def compute() -> tuple[Any, str]:
        resolver = open_resolver(ctx.settings, ctx.klaviyo, link_map=ctx.options.link_map)
        try:
            uid = ctx.options.line_user_id
            if uid is None:
                raise ValueError("resolve_user needs --line-user-id (its callers check first)")
            return resolver.resolve([uid])[uid], resolver.description
        finally:
            close = getattr(resolver, "close", None)
            if close:
                close()

    return ctx.shared("link", compute)


def check_linkage(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.core.linkage import LinkStatus

    uid = ctx.options.line_user_id
    if not uid:
        return skipped("no --line-user-id given: one customer's linkage is not checked",
                       "linesync doctor --line-user-id U...")
    settings = settings_or_skip(ctx)
    if ctx.options.link_map is None and settings.link.kind == "property":
        ctx.need("link-index")
    else:
        ctx.need("klaviyo-auth")  # external_id and link-map e-mails/phones are looked up in Klaviyo
    try:
        link, how = resolve_user(ctx)
    except NoLinkIndex as exc:
        return failed(exc.message, exc.hint)
    data = {"link": link.to_json(), "resolved_through": how}
    details = [f"resolved through {how}"]
    if link.status is LinkStatus.LINKED:
        return passed(f"{uid} is linked to profile {link.profile_id}",
                      f"`linesync inspect-profile --line-user-id {uid}` shows the customer's timeline", details, **data)
    if link.status is LinkStatus.AMBIGUOUS:
        details += [f"profile: {p}" for p in link.profile_ids]
        return failed(
            f"{uid} is on {len(link.profile_ids)} profiles (ambiguous): its LINE actions are not sent",
            f"`linesync check-link {uid}` lists them; keep the LINE user ID on one profile", details, **data,
        )
    return failed(
        f"{uid} is not linked: this customer's LINE actions are not recorded in Klaviyo",
        f"`linesync check-link {uid}` explains how linkage is made; if they linked recently, "
        "run `linesync links sync` and check again",
        details, **data,
    )


# -- segment-processing ----------------------------------------------------------

def check_segment_processing(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.core.linkage import LinkStatus

    seg_id = ctx.options.segment_id
    if not seg_id:
        return skipped("no --segment given: no Klaviyo Segment is checked",
                       "linesync doctor --segment SEGMENT_ID [--line-user-id U...]")
    ctx.need("klaviyo-auth")
    segment = ctx.klaviyo().get_segment(seg_id)
    if segment is None:
        return failed(f"Klaviyo has no segment with ID {seg_id}",
                      "copy the ID from the segment's page in Klaviyo (Audience > Lists & segments)")
    name = segment.name or seg_id
    details = [f"updated: {segment.updated or '?'}", SEGMENTS_ARE_KLAVIYOS]
    data: dict[str, Any] = {"segment": {"id": seg_id, "name": name, "is_active": segment.is_active,
                                        "is_processing": segment.is_processing}}
    problems, hints = [], []
    if segment.is_active is False:
        problems.append(f'segment "{name}" is inactive: Klaviyo does not process inactive segments')
        hints.append("activate it in Klaviyo")
    if segment.is_processing:
        problems.append(f'Klaviyo is still recalculating segment "{name}": recent events may not be reflected yet')
        hints.append(f"check again later: `linesync doctor --only segment-processing --segment {seg_id}`")
    member_text = ""
    uid = ctx.options.line_user_id
    if uid:
        try:
            if ctx.options.link_map is None and ctx.settings.link.kind == "property":
                ctx.need("link-index")
            link, _how = resolve_user(ctx)
        except SkipCheck as skip:
            details.append(f"membership not checked: {skip.result.detail}")
        except LinesyncError as exc:  # the linkage check reports it in full; membership is extra
            details.append(f"membership not checked: {exc.message}")
        else:
            if link.status is LinkStatus.LINKED:
                member = ctx.klaviyo().is_segment_member(seg_id, link.profile_id)
                data["member"] = member
                data["profile_id"] = link.profile_id
                if member:
                    member_text = f"profile {link.profile_id} ({uid}) is a member"
                else:
                    problems.append(f"profile {link.profile_id} ({uid}) is not a member")
                    hints.append(f"compare the segment's conditions with `linesync inspect-profile --line-user-id {uid}`")
            else:
                problems.append(f"{uid} is {link.status.value}, so its LINE events cannot make it a member")
                hints.append(f"`linesync check-link {uid}`")
    if problems:
        return warned("; ".join(problems + ([member_text] if member_text else [])), "; ".join(hints), details, **data)
    return passed(f'segment "{name}" is active and up to date' + (f"; {member_text}" if member_text else ""),
                  SEGMENTS_ARE_KLAVIYOS, details, **data)

