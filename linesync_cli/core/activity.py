"""The activity feed: a metric's most recent events, as Klaviyo's metric page lists them.

`GET /api/events` filtered by `metric_id`, newest first, with the profile included
(email and phone number only) so each event names who did it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linesync_cli.errors import BadRequest
from linesync_cli.timeutil import klaviyo_datetime, parse_api_time

# The op description caps pages at 200 although `page[size]` allows 1000
# (klaviyo-api.md section 3): ask for no more than 200.
PAGE_SIZE = 200
PROFILE_FIELDS = ("email", "phone_number")
EVENT_FIELDS = ("datetime", "event_properties")
# The properties linesync sends (design.md section 5), in the order they are shown.
KEY_PROPERTIES = (
    "LINE User ID",
    "Message ID",
    "Broadcast ID",
    "Flow ID",
    "Workflow ID",
    "Send Type",
    "URL",
    "Failure Reason",
    "QR Code ID",
    "Unblocked",
)


@dataclass(frozen=True)
class ActivityEvent:
    id: str
    time: datetime | None
    profile_id: str | None
    email: str | None
    phone_number: str | None
    properties: dict[str, Any]

    @property
    def who(self) -> str:
        """The profile as a person reads it: email, else phone, else its Klaviyo ID."""
        return self.email or self.phone_number or self.profile_id or ""

    def key_properties(self) -> list[tuple[str, Any]]:
        return [(k, self.properties[k]) for k in KEY_PROPERTIES if self.properties.get(k) not in (None, "")]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat() if self.time else None,
            "profile": {"id": self.profile_id, "email": self.email, "phone_number": self.phone_number},
            "properties": self.properties,
        }


@dataclass
class ActivityFeed:
    limit: int
    events: list[ActivityEvent] = field(default_factory=list)
    more: bool = False  # Klaviyo holds older events than those shown
    # Why the feed could not be read (Klaviyo refused the metric_id filter), else None.
    unavailable: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "events": [e.to_json() for e in self.events],
            "more": self.more,
            "unavailable": self.unavailable,
        }


def feed_params(metric_id: str, page_size: int, until: datetime | None = None) -> dict[str, str]:
    conditions = [f'equals(metric_id,"{metric_id}")']
    if until is not None:
        conditions.append(f"less-than(datetime,{klaviyo_datetime(until)})")
    return {
        "filter": ",".join(conditions),
        "sort": "-datetime",
        "include": "profile",
        "fields[event]": ",".join(EVENT_FIELDS),
        "fields[profile]": ",".join(PROFILE_FIELDS),
        "page[size]": str(page_size),
    }


def parse_event(resource: dict, profiles: dict[str, dict]) -> ActivityEvent:
    attrs = resource.get("attributes") or {}
    rel = ((resource.get("relationships") or {}).get("profile") or {}).get("data") or {}
    profile_id = rel.get("id") if isinstance(rel, dict) else None
    profile = profiles.get(profile_id or "", {})
    props = attrs.get("event_properties")
    return ActivityEvent(
        id=str(resource.get("id", "")),
        time=parse_api_time(attrs.get("datetime")),
        profile_id=profile_id,
        email=profile.get("email") or None,
        phone_number=profile.get("phone_number") or None,
        properties=props if isinstance(props, dict) else {},
    )


def recent_events(client: Any, metric_id: str, limit: int, until: datetime | None = None) -> ActivityFeed:
    """The `limit` most recent events of a metric (before `until` when given), newest first."""
    feed = ActivityFeed(limit=limit)
    if limit <= 0:
        return feed
    params = feed_params(metric_id, min(limit, PAGE_SIZE), until)
    try:
        for doc in client.pages("/api/events", params, op="get_events"):
            profiles = {
                str(r.get("id")): (r.get("attributes") or {})
                for r in doc.get("included") or []
                if r.get("type") == "profile"
            }
            data = doc.get("data") or []
            room = limit - len(feed.events)
            feed.events.extend(parse_event(r, profiles) for r in data[:room])
            if len(feed.events) >= limit:
                feed.more = len(data) > room or bool((doc.get("links") or {}).get("next"))
                break
    except BadRequest as exc:
        # The op description says metric_id filters do not take custom metrics, and
        # some listed metric IDs are refused as "do not exist" (klaviyo-api.md
        # section 5): the counts are still worth showing without the feed.
        feed.events.clear()
        feed.unavailable = exc.message
    return feed
