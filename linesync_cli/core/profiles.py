"""Profiles and their timeline: what check-link and inspect-profile show.

A profile's LINE data are the platform's custom properties (design.md section 1),
numbered when the link key is numbered (`LINE User ID 2` -> `LINE Display Name 2`).
The timeline is the profile's events (newest first, with the metric included), each given a channel: LINE (the catalogue's nine events), Email
or SMS (Klaviyo's own metrics), or other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo_records import ProfileRecord
from linesync_cli.catalogue import EMAIL_METRICS, by_metric_name
from linesync_cli.config import LinkKey
from linesync_cli.core.linkage import classify_line_user_id, normalise_phone
from linesync_cli.errors import AuthError, CheckFailed, NotFound, Unavailable, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient, ProfileField
    from linesync_cli.api.line import LineClient
    from linesync_cli.core.linkage import Resolver

# The platform's LINE properties, in the order a person reads them.
LINE_PROPERTY_BASES = (
    "LINE User ID",
    "LINE Display Name",
    "LINE Follow Status",
    "LINE Consent",
    "LINE Consent Updated At",
    "LINE Consent Source",
)
EVENT_PAGE_SIZE = 200  # get_events: "a maximum of 200 events per page"

# Key details per channel: (event property, label).
LINE_DETAILS = (
    ("Message ID", "Message ID"), ("Broadcast ID", "Broadcast ID"), ("Flow ID", "Flow ID"),
    ("Workflow ID", "Workflow ID"), ("Send Type", "Send Type"), ("URL", "URL"),
    ("Failure Reason", "Failure Reason"), ("QR Code ID", "QR Code ID"),
)
EMAIL_DETAILS = (
    ("Subject", "Subject"), ("Campaign Name", "Campaign"), ("$flow", "Flow"), ("$message", "Message"), ("URL", "URL"),
)
SMS_DETAILS = (("Campaign Name", "Campaign"), ("$flow", "Flow"), ("$message", "Message"), ("URL", "URL"))
OTHER_DETAILS = (("$value", "Value"), ("URL", "URL"))


def line_property_names(link: LinkKey) -> list[str]:
    """The platform's LINE properties for this link key (numbered like the key)."""
    name = link.property_name if link.kind == "property" else None
    m = re.fullmatch(r"LINE User ID (\d+)", name or "")
    suffix = f" {m.group(1)}" if m else ""
    names = [base + suffix for base in LINE_PROPERTY_BASES]
    if name and name not in names:
        names.insert(0, name)  # a custom link property still heads the list
    return names


@dataclass(frozen=True)
class Profile(ProfileRecord):
    """A Klaviyo profile read through the link key."""

    @classmethod
    def of(cls, record: ProfileRecord) -> Profile:
        return cls(record.id, record.email, record.phone_number, record.external_id, record.properties)

    def line_properties(self, link: LinkKey) -> dict[str, Any]:
        return {n: self.properties.get(n) for n in line_property_names(link)}

    def linked_value(self, link: LinkKey) -> Any:
        """What the profile carries in the link key (None when nothing)."""
        if link.kind == "external_id":
            return self.external_id
        return self.properties.get(link.property_name or "")

    def to_json(self, link: LinkKey) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "phone_number": self.phone_number,
            "external_id": self.external_id,
            "line_properties": self.line_properties(link),
        }


def get_profile(client: KlaviyoClient, profile_id: str) -> Profile | None:
    """The profile; None when there is no such profile."""
    found = client.get_profile(profile_id)
    return Profile.of(found) if found is not None else None


def get_profiles_by_id(client: KlaviyoClient, profile_ids: Sequence[str]) -> dict[str, Profile]:
    """Many profiles at once (batched look-ups by ID)."""
    ids = list(dict.fromkeys(profile_ids))
    return {p.id: Profile.of(p) for p in client.profiles_in("id", ids)} if ids else {}


def find_profiles(client: KlaviyoClient, field_name: ProfileField, value: str) -> list[Profile]:
    """Profiles whose `email`, `phone_number` or `external_id` equals `value`."""
    return [Profile.of(r) for r in client.profiles_where(field_name, value)]


# -- events --------------------------------------------------------------------

def channel_of(metric_name: str, integration_name: str, integration_category: str) -> str:
    if by_metric_name(metric_name):
        return "LINE"
    name = metric_name.casefold()
    klaviyo = integration_name.casefold() == "klaviyo" or integration_category.casefold() == "internal"
    if metric_name in EMAIL_METRICS or (klaviyo and "email" in name):
        return "Email"
    if klaviyo and "sms" in name:
        return "SMS"
    return "other"


def key_details(channel: str, properties: dict[str, Any]) -> dict[str, Any]:
    table = {"LINE": LINE_DETAILS, "Email": EMAIL_DETAILS, "SMS": SMS_DETAILS}.get(channel, OTHER_DETAILS)
    return {label: properties[key] for key, label in table if properties.get(key) not in (None, "")}


@dataclass
class Event:
    id: str
    datetime: datetime | None
    metric_id: str
    metric_name: str
    integration_name: str
    integration_category: str
    channel: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def is_line(self) -> bool:
        return self.channel == "LINE"

    @property
    def details(self) -> dict[str, Any]:
        return key_details(self.channel, self.properties)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "datetime": self.datetime.isoformat() if self.datetime else None,
            "channel": self.channel,
            "metric": {"id": self.metric_id, "name": self.metric_name,
                       "integration": {"name": self.integration_name, "category": self.integration_category}},
            "details": self.details,
            "properties": self.properties,
        }


def event_pages(client: KlaviyoClient, profile_id: str, *, since: datetime | None = None,
                until: datetime | None = None, page_size: int = EVENT_PAGE_SIZE) -> Iterator[list[Event]]:
    """The profile's events, newest first, one page at a time (fetched as the caller asks)."""
    for page in client.profile_events(profile_id, since=since, until=until, page_size=page_size):
        events = []
        for e in page.events:
            metric = page.metrics.get(e.metric_id or "")
            name = metric.name if metric else ""
            integration = metric.integration_name if metric else ""
            category = metric.integration_category if metric else ""
            events.append(Event(e.id, e.datetime, e.metric_id or "", name, integration, category,
                                channel_of(name, integration, category), e.properties))
        yield events


@dataclass
class Timeline:
    events: list[Event]  # newest first
    more: bool  # stopped at the limit with more events left
    pages: int


def timeline(client: KlaviyoClient, profile_id: str, *, limit: int, since: datetime | None = None,
             until: datetime | None = None, line_only: bool = False) -> Timeline:
    """The newest `limit` events (LINE ones only with `line_only`), fetched page by page."""
    events: list[Event] = []
    pages = 0
    more = False
    size = EVENT_PAGE_SIZE if line_only else min(EVENT_PAGE_SIZE, max(1, limit))
    stream = event_pages(client, profile_id, since=since, until=until, page_size=size)
    for page in stream:
        pages += 1
        for event in page:
            if line_only and not event.is_line:
                continue
            if len(events) >= limit:
                more = True
                break
            events.append(event)
        if more:
            break
        if len(events) >= limit:
            # Look one page further only to know whether more exist: not worth a request.
            more = len(page) >= size
            break
    stream.close()
    return Timeline(events, more, pages)


@dataclass
class LastLineEvents:
    linked: Event | None  # the last "Linked LINE Identity"
    latest: Event | None  # the last LINE event of any kind
    scanned: int  # events looked at
    complete: bool  # every event of the profile was looked at


def last_line_events(client: KlaviyoClient, profile_id: str, *, max_pages: int = 5) -> LastLineEvents:
    """The last Linked LINE Identity and the last LINE event, scanning newest first.

    Stops when both are found or after `max_pages` pages of 200 (so a profile with
    years of email events costs at most five requests).
    """
    linked = latest = None
    scanned = 0
    complete = True
    stream = event_pages(client, profile_id)
    for n, page in enumerate(stream, start=1):
        for event in page:
            scanned += 1
            if event.is_line:
                latest = latest or event
                if event.metric_name.casefold() == "linked line identity":
                    linked = linked or event
        if linked and latest:
            complete = False
            break
        if n >= max_pages and len(page) >= EVENT_PAGE_SIZE:
            complete = False
            break
    stream.close()
    return LastLineEvents(linked, latest, scanned, complete)


# -- check-link ----------------------------------------------------------------

@dataclass
class LineReach:
    """LINE Get Profile, read honestly."""

    status: str  # reachable | not-reachable | token-refused | unavailable | skipped | not-checked
    display_name: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "display_name": self.display_name, "detail": self.detail}


REACHABLE = "reachable: a friend of the account, or someone who has messaged it (and not blocked it)"
NOT_REACHABLE = "not reachable (404): not a friend, blocked the account, or an ID from another LINE provider"


@dataclass
class EmailCheck:
    email: str
    profiles: list[Profile]  # the profiles with this email
    matches: bool  # one of them is the linked profile

    def to_json(self, link: LinkKey) -> dict[str, Any]:
        return {
            "email": self.email,
            "matches": self.matches,
            "profiles": [{"id": p.id, "carries": p.linked_value(link)} for p in self.profiles],
        }


@dataclass
class LinkCheck:
    value: str
    format: Any  # linkage.IdFormat
    link: Any | None  # linkage.Link; None for a malformed value
    profiles: list[Profile] = field(default_factory=list)  # the linked/ambiguous profiles found
    last: LastLineEvents | None = None
    line: LineReach | None = None
    email: EmailCheck | None = None

    @property
    def status(self) -> str:
        return "malformed" if self.link is None else self.link.status.value

    def to_json(self, link_key: LinkKey) -> dict[str, Any]:
        out: dict[str, Any] = {
            "line_user_id": self.value,
            "status": self.status,
            "format": {"ok": self.format.ok, "kind": self.format.kind, "hint": self.format.hint},
            "profile_ids": list(self.link.profile_ids) if self.link else [],
            "profiles": [p.to_json(link_key) for p in self.profiles],
        }
        if self.last is not None:
            out["last_linked_event"] = self.last.linked.to_json() if self.last.linked else None
            out["last_line_event"] = self.last.latest.to_json() if self.last.latest else None
            out["events_scanned"] = self.last.scanned
            out["events_scan_complete"] = self.last.complete
        out["line"] = self.line.to_json() if self.line else None
        if self.email is not None:
            out["email_check"] = self.email.to_json(link_key)
        return out


@dataclass
class CheckLinkResult:
    resolver: str | None  # how IDs were resolved (the resolver's description); None: nothing to resolve
    checks: list[LinkCheck]
    line_problem: Exception | None = None  # a LINE credential/availability failure, raised after output

    @property
    def summary(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.checks) for s in ("linked", "unlinked", "ambiguous", "malformed")}
        total = len(self.checks)
        return {"total": total, **counts, "linked_share": round(counts["linked"] / total, 4) if total else 0.0}


def _line_reach(line: LineClient, user_id: str) -> tuple[LineReach, Exception | None]:
    try:
        profile = line.get_profile(user_id)
    except NotFound:
        return LineReach("not-reachable", detail=NOT_REACHABLE), None
    except AuthError as exc:
        return LineReach("token-refused", detail=exc.message), exc
    except Unavailable as exc:
        return LineReach("unavailable", detail=exc.message), exc
    return LineReach("reachable", display_name=profile.display_name, detail=REACHABLE), None


def check_links(values: Sequence[str], resolver: Resolver | None, klaviyo: Callable[[], KlaviyoClient],
                line: LineClient | None, link_key: LinkKey, *,
                email: str | None = None, details: bool = False) -> CheckLinkResult:
    """Check each value: format, link, profile(s), LINE reachability, optional --email comparison.

    `klaviyo` is a factory (called only when a profile must be read); `line` is a
    LineClient or None (no token: LINE checks are skipped). `details` adds the last
    Linked LINE Identity and LINE events (a few requests per linked ID). `resolver` may
    be None when no value is a well-formed LINE user ID (nothing to resolve).
    """
    checks = [LinkCheck(v, classify_line_user_id(v), None) for v in values]
    valid = list(dict.fromkeys(c.value for c in checks if c.format.ok))
    links: dict[str, Any] = {}
    for start in range(0, len(valid), 1000):
        links.update(resolver.resolve(valid[start:start + 1000]))
    for c in checks:
        if c.format.ok:
            c.link = links[c.value]
    wanted = sorted({pid for c in checks if c.link for pid in c.link.profile_ids})
    profiles = get_profiles_by_id(klaviyo(), wanted) if wanted else {}
    for c in checks:
        if c.link:
            c.profiles = [profiles[p] for p in c.link.profile_ids if p in profiles]
            if details and c.link.profile_id:
                c.last = last_line_events(klaviyo(), c.link.profile_id)

    problem: Exception | None = None
    for c in checks:
        if not c.format.ok:
            continue
        if line is None:
            c.line = LineReach("skipped", detail="no LINE channel access token configured")
        elif problem is not None:
            c.line = LineReach("not-checked", detail="LINE check stopped after an earlier failure")
        else:
            c.line, problem = _line_reach(line, c.value)

    if email:
        found = find_profiles(klaviyo(), "email", email)
        for c in checks:
            ids = set(c.link.profile_ids) if c.link else set()
            c.email = EmailCheck(email, found, any(p.id in ids for p in found))
    return CheckLinkResult(resolver.description if resolver is not None else None, checks, problem)


# -- inspect-profile -------------------------------------------------------------

@dataclass
class Located:
    profile: Profile
    how: str  # "profile ID", "email", "LINE user ID via <resolver>", ...


def locate_profile(klaviyo: Callable[[], KlaviyoClient], *, profile_id: str | None = None, email: str | None = None,
                   phone: str | None = None, external_id: str | None = None,
                   line_user_id: str | None = None, resolver: Any = None) -> Located:
    """The one profile a selector names; CheckFailed (exit 1) when there is none or several."""
    if line_user_id is not None:
        fmt = classify_line_user_id(line_user_id)
        if not fmt.ok:
            raise UsageError(f"--line-user-id {line_user_id!r} is not a LINE user ID: {fmt.hint}")
        link = resolver.resolve([line_user_id])[line_user_id]
        if not link.profile_ids:
            raise CheckFailed(f"{line_user_id} is not linked to any profile ({resolver.description})",
                              hint=f"`linesync check-link {line_user_id}` says why and how linkage is made")
        if len(link.profile_ids) > 1:
            raise CheckFailed(f"{line_user_id} is on {len(link.profile_ids)} profiles: {', '.join(link.profile_ids)}",
                              hint="inspect one with --profile-id")
        profile_id, how = link.profile_ids[0], f"LINE user ID ({resolver.description})"
        found = get_profile(klaviyo(), profile_id)
        if found is None:
            raise CheckFailed(f"{line_user_id} resolves to profile {profile_id}, which Klaviyo does not have",
                              hint="the link index may be stale: run `linesync links sync`")
        return Located(found, how)
    if profile_id is not None:
        found = get_profile(klaviyo(), profile_id)
        if found is None:
            raise CheckFailed(f"Klaviyo has no profile with ID {profile_id}")
        return Located(found, "profile ID")
    field_name, value, label = (
        ("email", email.strip(), "email") if email is not None
        else ("phone_number", normalise_phone(phone), "phone number") if phone is not None
        else ("external_id", (external_id or "").strip(), "external_id")
    )
    matches = find_profiles(klaviyo(), field_name, value)
    if not matches:
        raise CheckFailed(f"Klaviyo has no profile with {label} {value}",
                          hint="phone numbers are matched in E.164 form (+819012345678)" if phone else None)
    if len(matches) > 1:
        raise CheckFailed(f"{len(matches)} profiles have {label} {value}: {', '.join(p.id for p in matches)}",
                          hint="inspect one with --profile-id")
    return Located(matches[0], label)
