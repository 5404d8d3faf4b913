"""What core reads from Klaviyo: small frozen records parsed from JSON:API documents.

Parsing is defensive: an attribute the sparse fields left out, or that Klaviyo
omits, comes back as None (or empty), never as a KeyError. OAuth-app metrics carry
`integration.category` as an object; both shapes give a string here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linesync_cli.timeutil import parse_api_time


def _attrs(resource: Any) -> dict[str, Any]:
    attrs = resource.get("attributes") if isinstance(resource, dict) else None
    return attrs if isinstance(attrs, dict) else {}


def _related_id(resource: dict[str, Any], name: str) -> str | None:
    rel = ((resource.get("relationships") or {}).get(name) or {}).get("data")
    value = rel.get("id") if isinstance(rel, dict) else None
    return str(value) if value else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Account:
    id: str | None
    organization_name: str | None
    test_account: bool
    timezone: str | None


def parse_account(doc: dict[str, Any]) -> Account:
    data = doc.get("data")
    account = data[0] if isinstance(data, list) and data else {}
    attrs = _attrs(account)
    contact = attrs.get("contact_information")
    return Account(
        id=_text(account.get("id")),
        organization_name=_text(contact.get("organization_name")) if isinstance(contact, dict) else None,
        test_account=bool(attrs.get("test_account")),
        timezone=_text(attrs.get("timezone")),
    )


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    integration_name: str
    integration_category: str
    created: datetime | None
    updated: datetime | None

    @property
    def is_api(self) -> bool:
        return self.integration_category.casefold() == "api"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "integration": {"name": self.integration_name, "category": self.integration_category},
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
        }


def parse_metric(resource: dict[str, Any]) -> Metric:
    attrs = _attrs(resource)
    integration = attrs.get("integration") or {}
    category = integration.get("category") if isinstance(integration, dict) else None
    if isinstance(category, dict):
        category = category.get("category") or category.get("name") or ""
    name = integration.get("name") if isinstance(integration, dict) else None
    return Metric(
        id=str(resource.get("id", "")),
        name=str(attrs.get("name") or ""),
        integration_name=str(name or ""),
        integration_category=str(category or ""),
        created=parse_api_time(attrs.get("created")),
        updated=parse_api_time(attrs.get("updated")),
    )


@dataclass(frozen=True)
class ProfileRecord:
    """A profile as Klaviyo returned it (only the sparse fields asked for are filled)."""

    id: str
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def parse_profile(resource: dict[str, Any]) -> ProfileRecord:
    attrs = _attrs(resource)
    props = attrs.get("properties")
    return ProfileRecord(
        id=str(resource.get("id", "")),
        email=attrs.get("email"),
        phone_number=attrs.get("phone_number"),
        external_id=attrs.get("external_id"),
        properties=props if isinstance(props, dict) else {},
    )


@dataclass(frozen=True)
class ProfilePage:
    profiles: list[ProfileRecord]
    next_cursor: str | None  # `page[cursor]` of the next page; None on the last


@dataclass(frozen=True)
class EventRecord:
    id: str
    datetime: datetime | None
    metric_id: str | None
    profile_id: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class EventPage:
    """One page of `GET /api/events`, with the resources it included, by ID."""

    events: list[EventRecord]
    metrics: dict[str, Metric]
    profiles: dict[str, ProfileRecord]
    has_next: bool


def parse_event_page(doc: dict[str, Any]) -> EventPage:
    included = [r for r in doc.get("included") or [] if isinstance(r, dict)]
    metrics = {str(r.get("id")): parse_metric(r) for r in included if r.get("type") == "metric"}
    profiles = {str(r.get("id")): parse_profile(r) for r in included if r.get("type") == "profile"}
    events = []
    for r in doc.get("data") or []:
        attrs = _attrs(r)
        props = attrs.get("event_properties")
        events.append(EventRecord(
            id=str(r.get("id", "")),
            datetime=parse_api_time(attrs.get("datetime")),
            metric_id=_related_id(r, "metric"),
            profile_id=_related_id(r, "profile"),
            properties=props if isinstance(props, dict) else {},
        ))
    return EventPage(events, metrics, profiles, bool((doc.get("links") or {}).get("next")))


@dataclass(frozen=True)
class FlowTrigger:
    """A Flow that a metric triggers."""

    id: str
    name: str
    status: str  # draft | manual | live (as Klaviyo spells it)
    archived: bool


def parse_flow(resource: dict[str, Any]) -> FlowTrigger:
    attrs = _attrs(resource)
    return FlowTrigger(str(resource.get("id", "")), str(attrs.get("name") or ""),
                       str(attrs.get("status") or ""), bool(attrs.get("archived")))


@dataclass(frozen=True)
class Segment:
    id: str
    name: str | None
    created: str | None  # as Klaviyo wrote it (shown, never computed with)
    updated: str | None
    is_active: bool | None
    is_processing: bool | None


def parse_segment(resource: Any) -> Segment:
    attrs = _attrs(resource)
    rid = resource.get("id") if isinstance(resource, dict) else None
    return Segment(
        id=str(rid or ""),
        name=_text(attrs.get("name")),
        created=_text(attrs.get("created")),
        updated=_text(attrs.get("updated")),
        is_active=attrs.get("is_active") if isinstance(attrs.get("is_active"), bool) else None,
        is_processing=attrs.get("is_processing") if isinstance(attrs.get("is_processing"), bool) else None,
    )


def measurement_number(value: Any) -> float:
    """A measurement as a number: an int when whole, 0 for what is not a number."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return 0
    return int(n) if n.is_integer() else n


@dataclass(frozen=True)
class AggregateRow:
    """One row of a metric-aggregates answer: a dimension tuple (empty without `by`) and its values."""

    dimensions: tuple[str, ...]
    measurements: dict[str, tuple[float, ...]]  # measurement -> one value per date, lined up with `dates`


@dataclass(frozen=True)
class AggregatePage:
    """One page of `POST /api/metric-aggregates`: bucket starts, and the rows lined up with them.

    A date Klaviyo wrote unreadably is None, so the values after it stay in line.
    """

    dates: tuple[datetime | None, ...]
    rows: tuple[AggregateRow, ...]


def parse_aggregate_page(doc: dict[str, Any]) -> AggregatePage:
    data = doc.get("data")
    attrs = _attrs(data)
    dates = attrs.get("dates")
    rows = []
    for row in attrs.get("data") or []:
        if not isinstance(row, dict):
            continue
        measurements = row.get("measurements")
        values = {str(name): tuple(measurement_number(v) for v in series)
                  for name, series in (measurements.items() if isinstance(measurements, dict) else ())
                  if isinstance(series, list)}
        dimensions = row.get("dimensions")
        rows.append(AggregateRow(tuple(str(d) for d in dimensions) if isinstance(dimensions, list) else (), values))
    return AggregatePage(
        tuple(parse_api_time(d) if isinstance(d, str) else None for d in dates) if isinstance(dates, list) else (),
        tuple(rows),
    )


@dataclass(frozen=True, slots=True)
class ReadEvent:
    """One event as Klaviyo holds it."""

    id: str
    metric_id: str
    profile_id: str | None
    datetime: str  # ISO 8601 as Klaviyo gave it (parsed in bulk by the mirror)
    properties: dict[str, Any]

    @property
    def unique_id(self) -> str | None:
        value = self.properties.get("$event_id")
        return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ReadPage:
    """One page of a metric's events read back (events pull, backfill verify), with its cursor."""

    events: list[ReadEvent]
    next_cursor: str | None  # None: the last page
    page_size: int  # the size that was asked for (Klaviyo may give fewer)


def _read_event(resource: dict[str, Any], metric_id: str) -> ReadEvent:
    attrs = resource.get("attributes") or {}
    rel = resource.get("relationships") or {}
    profile = ((rel.get("profile") or {}).get("data") or {}).get("id")
    metric = ((rel.get("metric") or {}).get("data") or {}).get("id") or metric_id
    props = attrs.get("event_properties")
    return ReadEvent(str(resource.get("id", "")), str(metric), str(profile) if profile else None,
                     str(attrs.get("datetime") or ""), props if isinstance(props, dict) else {})


def _cursor_of(links: Any) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    nxt = links.get("next") if isinstance(links, dict) else None
    values = parse_qs(urlsplit(nxt).query).get("page[cursor]") if isinstance(nxt, str) and nxt else None
    return values[0] if values else None


def parse_read_page(doc: dict[str, Any], metric_id: str, page_size: int) -> ReadPage:
    events = [_read_event(res, metric_id) for res in doc.get("data") or [] if isinstance(res, dict)]
    return ReadPage(events, _cursor_of(doc.get("links")), page_size)


@dataclass(frozen=True, slots=True)
class RawEventPage:
    """One page of a metric's events as Klaviyo sent it: the JSON:API document's bytes.

    `events pull` hands the bytes to the mirror, which parses and stores a page in one
    SQL statement (DuckDB's JSON reader, in C): building a ReadEvent per event and
    encoding its properties again cost more than reading the page (docs/benchmarks.md).
    """

    body: bytes  # {"data": [event resources], "links": {...}}
    next_cursor: str | None  # None: the last page
    page_size: int  # the size that was asked for (Klaviyo may give fewer)


# How a reader of RawEventPage.body finds each event's fields without Python objects:
# the document's shape as DuckDB's from_json takes it, and each field's path in an
# element of `data` (the envelope stays this module's business).
RAW_PAGE_SHAPE = ('{"data": [{"id": "VARCHAR", "attributes": {"datetime": "VARCHAR", "event_properties": "JSON"}, '
                  '"relationships": {"profile": {"data": {"id": "VARCHAR"}}}}]}')
RAW_PAGE_EVENTS = "data"
RAW_EVENT_PATHS = {"id": "id", "profile_id": "relationships.profile.data.id", "datetime": "attributes.datetime",
                   "properties": "attributes.event_properties"}


def raw_page_body(events: Sequence[ReadEvent]) -> bytes:
    """Typed events as the page Klaviyo would send (tests, callers holding ReadEvents)."""
    return json.dumps({"data": [{"type": "event", "id": e.id, "attributes": {
        "datetime": e.datetime, "event_properties": e.properties},
        "relationships": {"profile": {"data": {"type": "profile", "id": e.profile_id} if e.profile_id else None}}}
        for e in events]}, ensure_ascii=False, separators=(",", ":")).encode()


_JSON = json.JSONDecoder()


def _top_level_links(body: bytes) -> dict[str, Any] | None:
    """The document's own `links` when it is the last member (how Klaviyo writes pages),
    found without decoding the events before it; None when unsure."""
    at = body.rfind(b'"links"')
    colon = body.find(b":", at + 7) if at >= 0 else -1
    if colon < 0:
        return None
    try:
        tail = body[colon + 1:].decode("utf-8")
        links, end = _JSON.raw_decode(tail.lstrip())
    except (UnicodeDecodeError, ValueError):
        return None
    # Only a member closing the whole document is the top-level one (an event's own
    # `links`, or a property named so, is followed by more brackets).
    rest = tail.lstrip()[end:].strip()
    return links if rest == "}" and isinstance(links, dict) else None


def parse_raw_event_page(body: bytes, page_size: int) -> RawEventPage:
    """The page's cursor read from its bytes; ValueError when the body is not a JSON:API page."""
    links = _top_level_links(body)
    if links is None:
        doc = json.loads(body)  # any other member order: decode it all once
        if not isinstance(doc, dict) or not isinstance(doc.get("data", []), list):
            raise ValueError("not a JSON:API page")
        links = doc.get("links")
    return RawEventPage(body, _cursor_of(links), page_size)
