"""check-link: for each value, its format, link, profile(s), LINE reachability and an --email comparison."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linesync_cli.config import LinkKey
from linesync_cli.core.linkage import IdFormat, Link, classify_line_user_id
from linesync_cli.core.profiles import Profile, find_profiles, get_profiles_by_id
from linesync_cli.core.timeline import LastLineEvents, last_line_events
from linesync_cli.errors import AuthError, NotFound, Unavailable

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.line import LineClient
    from linesync_cli.core.linkage import Resolver


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
    format: IdFormat
    link: Link | None  # None for a malformed value
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
    links: dict[str, Link] = {}
    if resolver is not None:  # None only when no value is well-formed
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
