"""A profile's timeline: its events newest first, each given a channel.

LINE (the catalogue's nine events), Email or SMS (Klaviyo's own metrics), or other;
what inspect-profile shows and check-link's last LINE events.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from linesync_cli.catalogue import EMAIL_METRICS, by_metric_name

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

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
                until: datetime | None = None, page_size: int = EVENT_PAGE_SIZE) -> Generator[list[Event], None, None]:
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
