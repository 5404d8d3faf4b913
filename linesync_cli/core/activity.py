"""The activity feed: a metric's most recent events, as Klaviyo's metric page lists them.

A metric's events newest first, with the profile included (email and phone number
only) so each event names who did it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from linesync_cli.errors import BadRequest

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

# The op description caps pages at 200 although `page[size]` allows 1000
# (klaviyo-api.md section 3): ask for no more than 200.
PAGE_SIZE = 200
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


def recent_events(client: KlaviyoClient, metric_id: str, limit: int, until: datetime | None = None) -> ActivityFeed:
    """The `limit` most recent events of a metric (before `until` when given), newest first."""
    feed = ActivityFeed(limit=limit)
    if limit <= 0:
        return feed
    try:
        for page in client.metric_events(metric_id, until=until, page_size=min(limit, PAGE_SIZE)):
            room = limit - len(feed.events)
            for event in page.events[:room]:
                who = page.profiles.get(event.profile_id or "")
                feed.events.append(ActivityEvent(
                    id=event.id, time=event.datetime, profile_id=event.profile_id,
                    email=(who.email or None) if who else None,
                    phone_number=(who.phone_number or None) if who else None,
                    properties=event.properties,
                ))
            if len(feed.events) >= limit:
                feed.more = len(page.events) > room or page.has_next
                break
    except BadRequest as exc:
        # The op description says metric_id filters do not take custom metrics, and
        # some listed metric IDs are refused as "do not exist" (klaviyo-api.md
        # section 5): the counts are still worth showing without the feed.
        feed.events.clear()
        feed.unavailable = exc.message
    return feed
