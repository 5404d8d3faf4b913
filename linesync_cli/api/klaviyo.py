"""The Klaviyo client: the only code that talks to Klaviyo.

Auth, the pinned `revision`, JSON:API error bodies, cursor pagination, pacing on
both rate-limit windows, retries. Core calls one named method per operation with
typed arguments and gets the records of `klaviyo_records` back; paths, operation
IDs, filter syntax, sparse fields and paging stay in this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from linesync_cli import __version__
from linesync_cli.api.http import HttpService, RetryPolicy
from linesync_cli.api.klaviyo_records import (
    Account,
    AggregatePage,
    EventPage,
    EventRecord,
    FlowTrigger,
    Metric,
    ProfilePage,
    ProfileRecord,
    RawEventPage,
    ReadPage,
    Segment,
    parse_account,
    parse_aggregate_page,
    parse_event_page,
    parse_flow,
    parse_metric,
    parse_profile,
    parse_raw_event_page,
    parse_read_page,
    parse_segment,
)
from linesync_cli.api.ratelimit import Slot, Window, WindowLimiter, parse_ratelimit_limit
from linesync_cli.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ChallengeBlocked,
    CursorRefused,
    MissingScope,
    NotFound,
    UsageError,
)
from linesync_cli.timeutil import klaviyo_datetime

JSONAPI = "application/vnd.api+json"

class Op(StrEnum):
    """Klaviyo's operation IDs (the spec's `operationId`s) that linesync calls.

    Pacing and the 403 hint are looked up by this key, so an operation without a
    row in OPERATIONS cannot be sent (a test checks every member has one).
    """

    GET_ACCOUNTS = "get_accounts"
    GET_PROFILES = "get_profiles"
    GET_PROFILE = "get_profile"
    GET_EVENTS = "get_events"
    BULK_CREATE_EVENTS = "bulk_create_events"
    GET_METRICS = "get_metrics"
    GET_FLOWS_TRIGGERED_BY_METRIC = "get_flows_triggered_by_metric"
    QUERY_METRIC_AGGREGATES = "query_metric_aggregates"
    GET_SEGMENTS = "get_segments"
    GET_SEGMENT = "get_segment"
    GET_PROFILES_FOR_SEGMENT = "get_profiles_for_segment"
    CREATE_SEGMENT = "create_segment"
    GET_FLOWS = "get_flows"


# Per-operation limits (burst per second, steady per minute) and scope, from the
# spec's x-klaviyo-ratelimit / x-klaviyo-scopes (revision 2026-07-15), every scope
# an operation needs, so a 403 names them all. A test checks this table against the spec.
OPERATIONS: dict[Op, tuple[int, int, str]] = {
    Op.GET_ACCOUNTS: (1, 15, "accounts:read"),
    Op.GET_PROFILES: (75, 750, "profiles:read"),
    Op.GET_PROFILE: (75, 750, "profiles:read"),
    Op.GET_EVENTS: (350, 3500, "events:read"),
    Op.BULK_CREATE_EVENTS: (10, 150, "events:write"),
    Op.GET_METRICS: (10, 150, "metrics:read"),
    Op.GET_FLOWS_TRIGGERED_BY_METRIC: (10, 150, "flows:read and metrics:read"),
    Op.QUERY_METRIC_AGGREGATES: (3, 60, "metrics:read"),
    Op.GET_SEGMENTS: (75, 750, "segments:read"),
    Op.GET_SEGMENT: (75, 750, "segments:read"),
    Op.GET_PROFILES_FOR_SEGMENT: (75, 750, "profiles:read and segments:read"),
    Op.CREATE_SEGMENT: (1, 15, "segments:write"),
    Op.GET_FLOWS: (3, 60, "flows:read"),
}

# Sparse fields and page sizes of the requests below (the spec's maxima in comments).
ACCOUNT_FIELDS = "contact_information.organization_name,test_account,timezone"
METRIC_FIELDS = "name,created,updated,integration"
API_METRICS_FILTER = 'equals(integration.category,"API")'
PROFILE_FIELDS = "email,phone_number,external_id,properties"
PROFILE_PAGE = 100  # get_profiles / get_profiles_for_segment maximum
LOOKUP_BATCH = 100  # `any` lists are batched at the page-size cap (the list's own maximum is not documented)
EVENT_PAGE = 200  # get_events: "a maximum of 200 events per page" (page[size] allows 1000)
SEGMENT_FIELDS = "name,created,is_active,is_processing"
AGGREGATE_MAX_PAGES = 100  # a guard against a cursor that never ends (the spec does not say how pages end)
ProfileField = Literal["id", "email", "phone_number", "external_id"]


class Listing(StrEnum):
    """A collection read with a page of one, to learn whether the key holds its read scope."""

    EVENTS = "events"
    PROFILES = "profiles"
    SEGMENTS = "segments"
    FLOWS = "flows"


# listing -> (path, operation, sparse field of the fewest bytes)
_PROBES: dict[Listing, tuple[str, Op, str, str]] = {
    Listing.EVENTS: ("/api/events", Op.GET_EVENTS, "event", "datetime"),
    Listing.PROFILES: ("/api/profiles", Op.GET_PROFILES, "profile", "created"),
    Listing.SEGMENTS: ("/api/segments", Op.GET_SEGMENTS, "segment", "name"),
    Listing.FLOWS: ("/api/flows", Op.GET_FLOWS, "flow", "name"),
}


def filter_string(value: str) -> str:
    """A string literal for a Klaviyo filter (JSON quoting: double quotes, escapes)."""
    return json.dumps(value, ensure_ascii=False)


def filter_list(field: str, values: Sequence[str]) -> str:
    """`any(field,["a","b"])`."""
    return f"any({field},[{','.join(filter_string(v) for v in values)}])"


def cursor_of(next_url: str | None) -> str | None:
    """The `page[cursor]` a `links.next` URL carries."""
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("page[cursor]")
    return values[0] if values else None


def _aggregate_bound(dt: datetime, zone: tzinfo) -> str:
    """A metric-aggregates filter bound: local time in the query's zone with its offset, unquoted, to the second."""
    return dt.astimezone(zone).replace(microsecond=0).isoformat()


def _aggregate_cursor(doc: dict[str, Any]) -> str | None:
    """The `page_cursor` of the next metric-aggregates page, if the answer names one.

    The spec's response has no next link, yet the request takes `page_cursor`;
    accept `links.next` (top level or on `data`) as a URL carrying the cursor or
    as the bare cursor. Pages only arise with many dimension rows.
    """
    data = doc.get("data")
    for links in (doc.get("links") or {}, (data.get("links") if isinstance(data, dict) else None) or {}):
        nxt = links.get("next") if isinstance(links, dict) else None
        if not nxt:
            continue
        if "://" in nxt or nxt.startswith("/"):
            query = dict(parse_qsl(urlsplit(nxt).query))
            return query.get("page_cursor") or query.get("page[cursor]")
        return str(nxt)
    return None


# Get Events' page size: the parameter's schema allows 1000, the op description says
# "maximum of 200" (fact sheet: UNCONFIRMED). We ask for 1000 and step down to 200 once
# if Klaviyo refuses it; pages of any size are taken as they come.
EVENTS_PAGE_SIZES = (1000, 200)
# The sparse fields an event read needs: its time and properties (the sent unique_id comes
# back as event_properties.$event_id). The id and the profile/metric relationships always come.
EVENT_FIELDS = ("datetime", "event_properties")


def _refused_parameter(exc: BadRequest, name: str) -> bool:
    return any(((e.get("source") or {}).get("parameter") == name) or name in str(e.get("detail", ""))
               for e in exc.errors)


# What each operation asks, in the words of an error or retry note ("... while listing metrics, page 2").
OPERATION_WORDS: dict[str, str] = {
    "get_accounts": "reading the account",
    "get_profiles": "listing profiles",
    "get_profile": "reading a profile",
    "get_events": "listing events",
    "bulk_create_events": "sending events",
    "get_metrics": "listing metrics",
    "get_metric": "reading a metric",
    "get_flows_triggered_by_metric": "listing the Flows a metric triggers",
    "query_metric_aggregates": "querying metric aggregates",
    "get_segments": "listing segments",
    "get_segment": "reading a segment",
    "get_profiles_for_segment": "listing a segment's profiles",
    "get_segments_for_profile": "listing a profile's segments",
    "create_segment": "creating a segment",
    "get_flows": "listing flows",
}


def jsonapi_errors(response: httpx.Response) -> list[dict]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _is_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    return "text/html" in ctype or response.headers.get("cf-mitigated", "").lower() == "challenge"


class KlaviyoClient(HttpService):
    service = "Klaviyo"

    def __init__(
        self,
        api_key: SecretStr,
        base_url: str = "https://a.klaviyo.com",
        revision: str = "2026-07-15",
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        headers = {
            "Authorization": f"Klaviyo-API-Key {api_key.get_secret_value()}",
            "revision": revision,
            "Accept": JSONAPI,
            "User-Agent": f"linesync/{__version__}",
        }
        super().__init__(base_url, headers, timeout=timeout, transport=transport, retry=retry, **kwargs)
        self.revision = revision
        self._limiters: dict[str, WindowLimiter] = {}
        self._events_page_size = EVENTS_PAGE_SIZES[0]

    # -- rate limits ---------------------------------------------------------
    def limiter_for(self, op: str | None) -> WindowLimiter | None:
        if op is None:
            return None
        limiter = self._limiters.get(op)
        if limiter is None:
            burst, steady, _ = OPERATIONS[Op(op)]
            limiter = WindowLimiter([Window(burst, 1.0), Window(steady, 60.0)], clock=self._clock, sleep=self._sleep)
            self._limiters[op] = limiter
        return limiter

    def observe_headers(self, op: str | None, response: httpx.Response, slot: Slot | None = None) -> None:
        limiter = self.limiter_for(op)
        if limiter is None:
            return
        windows = parse_ratelimit_limit(response.headers.get("RateLimit-Limit", ""))
        if windows:
            limiter.set_windows(windows)
        # Both describe the steady window; a list form ("150, 149") is read by its first value.
        try:
            remaining = int(response.headers["RateLimit-Remaining"].split(",")[0])
            reset = float(response.headers["RateLimit-Reset"].split(",")[0])
        except (KeyError, ValueError):
            limiter.settle(slot)
        else:
            limiter.observe(slot, remaining, reset)

    # -- errors --------------------------------------------------------------
    def translate_error(self, response: httpx.Response, op: str | None, scope: str | None) -> ApiError:
        status = response.status_code
        errors = jsonapi_errors(response)
        first = errors[0] if errors else {}
        title = str(first.get("title") or "").strip()
        detail = str(first.get("detail") or "").strip()
        if title and detail and detail != title:
            said = f"{title}: {detail}"
        else:
            said = title or detail or response.reason_phrase or "no detail"
        kw = dict(service=self.service, status=status, errors=errors, request_id=response.headers.get("x-request-id"))
        if status == 401:
            return AuthError(
                f"Klaviyo refused the API key (401: {said})",
                hint="check LINESYNC_KLAVIYO_API_KEY: a private key (pk_...) from Klaviyo > Settings > API keys",
                **kw,
            )
        if status == 403 and _is_html(response):
            return ChallengeBlocked(
                "Klaviyo answered 403 with a Cloudflare challenge page, not an API error "
                "(this is not a missing scope)",
                hint="it happens from some cloud networks; retry later or from another network, "
                "or ask Klaviyo support to allow this host",
                **kw,
            )
        if status == 403:
            need = scope or (OPERATIONS[Op(op)][2] if op else "") or "the scope this call needs"
            return MissingScope(
                f"the Klaviyo API key is missing the {need} scope (403: {said})",
                hint=f"edit the key in Klaviyo > Settings > API keys and grant {need}; "
                "`linesync doctor --only klaviyo-scopes` lists every scope",
                **kw,
            )
        if status == 404:
            return NotFound(f"Klaviyo: not found (404: {said})", **kw)
        if status in (400, 409, 422):
            return BadRequest(f"Klaviyo rejected the request ({status}: {said})", **kw)
        return ApiError(f"Klaviyo answered {status}: {said}", **kw)

    def unreachable_hint(self) -> str:
        return "check the network, proxy settings and LINESYNC_KLAVIYO_BASE_URL"

    def describe(self, op: str | None) -> str | None:
        return OPERATION_WORDS.get(op or "", op.replace("_", " ") if op else None)

    # -- transport helpers ---------------------------------------------------
    def _same_origin(self, url: str) -> str:
        """Keep a `links.next` URL on our base URL, so the key never goes to another host."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if parts.scheme and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        return url

    # Private: core calls the named operations below, never a path.
    def _get(self, path: str, params: dict[str, Any] | None = None, *, op: Op, page: int | None = None) -> dict[str, Any]:
        response = self.send("GET", path, params=params, op=op, page=page)
        return response.json() if response.content else {}

    def _post(self, path: str, body: dict[str, Any], *, op: Op, idempotent: bool = True) -> dict[str, Any]:
        response = self.send(
            "POST", path, op=op, idempotent=idempotent,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            headers={"Content-Type": JSONAPI},
        )
        return response.json() if response.content else {}

    def _pages(self, path: str, params: dict[str, Any] | None = None, *, op: Op) -> Iterator[dict[str, Any]]:
        """Yield each page document, following `links.next` until it is absent."""
        doc = self._get(path, params, op=op)
        seen = set()
        page = 1
        while True:
            yield doc
            nxt = (doc.get("links") or {}).get("next")
            if not nxt or nxt in seen:
                return
            seen.add(nxt)
            page += 1
            doc = self._get(self._same_origin(nxt), None, op=op, page=page)

    def _iterate(self, path: str, params: dict[str, Any] | None = None, *, op: Op) -> Iterator[dict[str, Any]]:
        """Yield every resource of every page (without `included`)."""
        for doc in self._pages(path, params, op=op):
            yield from doc.get("data") or []

    # -- operations ----------------------------------------------------------
    # One method per operation core uses: typed arguments in, records out. Adding one
    # is a member of Op, its row in OPERATIONS (from the spec) and a method here.

    # accounts
    def get_account(self) -> Account:
        """The key's account (1/s, 15/min: callers share one answer)."""
        return parse_account(self._get("/api/accounts", {"fields[account]": ACCOUNT_FIELDS}, op=Op.GET_ACCOUNTS))

    def check_read(self, listing: Listing) -> None:
        """One page of one, the fewest fields: MissingScope when the key cannot read `listing`."""
        path, op, resource, fields = _PROBES[listing]
        self._get(path, {"page[size]": 1, f"fields[{resource}]": fields}, op=op)

    # metrics
    def list_metrics(self, *, api_only: bool) -> list[Metric]:
        """Every metric (all pages), or only those of integration category API."""
        params = {"filter": API_METRICS_FILTER} if api_only else {}
        params["fields[metric]"] = METRIC_FIELDS
        return [parse_metric(r) for r in self._iterate("/api/metrics", params, op=Op.GET_METRICS)]

    def get_flows_triggered_by_metric(self, metric_id: str) -> list[FlowTrigger]:
        doc = self._get(
            f"/api/metrics/{metric_id}/flow-triggers",
            {"fields[flow]": "name,status,archived,trigger_type"},
            op=Op.GET_FLOWS_TRIGGERED_BY_METRIC,
        )
        return [parse_flow(r) for r in doc.get("data") or [] if isinstance(r, dict)]

    def metric_aggregates(self, metric_id: str, *, measurements: Sequence[str], interval: str,
                          since: datetime, until: datetime, timezone: str,
                          by: Sequence[str] = ()) -> list[AggregatePage]:
        """A metric's measurements per `interval` over [since, until) on `timezone`'s calendar, every page.

        The bounds are written in `timezone` with their UTC offset, so they mean the
        same instant whether Klaviyo honours the offset or reads them in `timezone`.
        3/s, 60/min; a deleted metric ID is a BadRequest or NotFound.
        """
        zone = UTC if timezone.upper() == "UTC" else ZoneInfo(timezone)
        attributes: dict[str, Any] = {
            "metric_id": metric_id,
            "measurements": list(measurements),
            "interval": interval,
            "filter": [
                f"greater-or-equal(datetime,{_aggregate_bound(since, zone)})",
                f"less-than(datetime,{_aggregate_bound(until, zone)})",
            ],
            "timezone": timezone,
        }
        if by:
            attributes["by"] = list(by)
        pages: list[AggregatePage] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(AGGREGATE_MAX_PAGES):
            page_attributes = (attributes | {"page_cursor": cursor}) if cursor else attributes
            doc = self._post("/api/metric-aggregates", {"data": {"type": "metric-aggregate",
                                                                 "attributes": page_attributes}},
                             op=Op.QUERY_METRIC_AGGREGATES)
            pages.append(parse_aggregate_page(doc))
            cursor = _aggregate_cursor(doc)
            if not cursor or cursor in seen:
                break
            seen.add(cursor)
        return pages

    # events
    def bulk_create_events_encoded(self, content: bytes) -> None:
        """`POST /api/event-bulk-create-jobs` with the body already encoded: backfill sizes,
        hashes and records exactly these bytes (and `--dry-run --out` writes them).
        Idempotent thanks to unique_id on every event, so it is safe to retry."""
        self.send("POST", "/api/event-bulk-create-jobs", op=Op.BULK_CREATE_EVENTS, idempotent=True,
                  content=content, headers={"Content-Type": JSONAPI})

    def bulk_create_in_flight(self, upper: int) -> int:
        """Bulk-create requests worth keeping in flight now (rate x observed latency, at most `upper`)."""
        return self.in_flight_for(Op.BULK_CREATE_EVENTS, upper)

    def profile_events(self, profile_id: str, *, since: datetime | None = None, until: datetime | None = None,
                       page_size: int = EVENT_PAGE) -> Iterator[EventPage]:
        """A profile's events with their metric, newest first, a page at a time (fetched as asked)."""
        conditions = [f"equals(profile_id,{filter_string(profile_id)})", "has(metric)"]
        if since:
            conditions.append(f"greater-or-equal(datetime,{klaviyo_datetime(since)})")
        if until:
            conditions.append(f"less-than(datetime,{klaviyo_datetime(until)})")
        params = {
            "filter": ",".join(conditions),
            "include": "metric",
            "fields[event]": "datetime,event_properties",
            "fields[metric]": "name,integration",
            "sort": "-datetime",
            "page[size]": page_size,
        }
        for doc in self._pages("/api/events", params, op=Op.GET_EVENTS):
            yield parse_event_page(doc)

    def metric_events(self, metric_id: str, *, until: datetime | None = None,
                      page_size: int = EVENT_PAGE) -> Iterator[EventPage]:
        """A metric's events with their profile (email and phone only), newest first, page by page."""
        conditions = [f"equals(metric_id,{filter_string(metric_id)})"]
        if until is not None:
            conditions.append(f"less-than(datetime,{klaviyo_datetime(until)})")
        params = {
            "filter": ",".join(conditions),
            "sort": "-datetime",
            "include": "profile",
            "fields[event]": "datetime,event_properties",
            "fields[profile]": "email,phone_number",
            "page[size]": str(page_size),
        }
        for doc in self._pages("/api/events", params, op=Op.GET_EVENTS):
            yield parse_event_page(doc)

    def metric_events_between(self, metric_id: str, since: datetime, until: datetime) -> Iterator[EventRecord]:
        """Every event of one metric with `since <= datetime < until`, oldest first, all pages
        (time and properties only; the profile ID comes with every event)."""
        params = {
            "filter": f"equals(metric_id,{filter_string(metric_id)}),greater-or-equal(datetime,"
                      f"{klaviyo_datetime(since)}),less-than(datetime,{klaviyo_datetime(until)})",
            "fields[event]": "datetime,event_properties",
            "sort": "datetime",
            "page[size]": str(EVENT_PAGE),
        }
        for doc in self._pages("/api/events", params, op=Op.GET_EVENTS):
            yield from parse_event_page(doc).events

    def latest_event_time(self, metric_id: str) -> datetime | None:
        """The newest event's time of a metric: one event, one field.

        `equals(metric_id,...)` alone: events whose metric cannot be resolved (returned
        by default since revision 2026-07-15, dropped with `has(metric)`) cannot match
        a metric ID, so `has(metric)` would add nothing here.
        """
        doc = self._get("/api/events", {
            "filter": f"equals(metric_id,{json.dumps(metric_id)})",
            "sort": "-datetime",
            "page[size]": 1,
            "fields[event]": "datetime",
        }, op=Op.GET_EVENTS)
        events = parse_event_page(doc).events
        return events[0].datetime if events else None

    # profiles
    def get_profile(self, profile_id: str) -> ProfileRecord | None:
        """None when Klaviyo has no such profile."""
        try:
            doc = self._get(f"/api/profiles/{profile_id}", {"fields[profile]": PROFILE_FIELDS}, op=Op.GET_PROFILE)
        except NotFound:
            return None
        return parse_profile(doc.get("data") or {})

    def profiles_where(self, field: ProfileField, value: str) -> list[ProfileRecord]:
        """Profiles whose `field` equals `value` (all pages)."""
        params = {"filter": f"equals({field},{filter_string(value)})", "page[size]": PROFILE_PAGE,
                  "fields[profile]": PROFILE_FIELDS}
        return [parse_profile(r) for r in self._iterate("/api/profiles", params, op=Op.GET_PROFILES)]

    def profiles_in(self, field: ProfileField, values: Sequence[str], *, only_field: bool = False) -> list[ProfileRecord]:
        """Profiles whose `field` is one of `values`: one `any()` request (plus pages) per 100 values.

        `only_field` asks for that attribute alone (linkage needs nothing else)."""
        fields = field if only_field else PROFILE_FIELDS
        found: list[ProfileRecord] = []
        for start in range(0, len(values), LOOKUP_BATCH):
            params = {"filter": filter_list(field, values[start:start + LOOKUP_BATCH]), "page[size]": LOOKUP_BATCH,
                      "fields[profile]": fields}
            found.extend(parse_profile(r) for r in self._iterate("/api/profiles", params, op=Op.GET_PROFILES))
        return found

    def profile_properties_page(self, cursor: str | None = None, *, segment_id: str | None = None,
                                updated_after: datetime | None = None) -> ProfilePage:
        """One page of profiles (or of one segment's members) with their properties.

        The caller keeps the cursor rather than the `links.next` URL, so a resumed run
        sends the same documented parameters and stays on the configured base URL.
        `updated_after` reads oldest change first: a profile changed again during a run
        comes round again.
        """
        if segment_id:
            path, op = f"/api/segments/{segment_id}/profiles", Op.GET_PROFILES_FOR_SEGMENT
        else:
            path, op = "/api/profiles", Op.GET_PROFILES
        params: dict[str, Any] = {"fields[profile]": "properties", "page[size]": PROFILE_PAGE}
        if updated_after is not None:
            params["filter"] = f"greater-than(updated,{klaviyo_datetime(updated_after)})"
            params["sort"] = "updated"
        if cursor:
            params["page[cursor]"] = cursor
        doc = self._get(path, params, op=op)
        profiles = [parse_profile(r) for r in doc.get("data") or [] if isinstance(r, dict) and r.get("id")]
        return ProfilePage(profiles, cursor_of((doc.get("links") or {}).get("next")))

    # segments
    def get_segment(self, segment_id: str) -> Segment | None:
        """None when Klaviyo has no such segment."""
        try:
            doc = self._get(f"/api/segments/{segment_id}", {"fields[segment]": "name,is_active,is_processing,updated"},
                            op=Op.GET_SEGMENT)
        except NotFound:
            return None
        return parse_segment(doc.get("data") or {})

    def is_segment_member(self, segment_id: str, profile_id: str) -> bool:
        """The segment's profiles filtered on this one (75/s; the per-profile segment list allows only 3/s)."""
        doc = self._get(
            f"/api/segments/{segment_id}/profiles",
            {"filter": f"equals(profile_id,{json.dumps(profile_id)})", "fields[profile]": "id", "page[size]": 1},
            op=Op.GET_PROFILES_FOR_SEGMENT,
        )
        return bool(doc.get("data"))

    def segments_named(self, name: str) -> list[Segment]:
        """Segments whose name equals `name` (strings quoted with either quote)."""
        params = {"filter": segment_name_filter(name), "fields[segment]": SEGMENT_FIELDS}
        return [parse_segment(r) for r in self._iterate("/api/segments", params, op=Op.GET_SEGMENTS)]

    def create_segment(self, name: str, definition: dict[str, Any]) -> Segment:
        """A segment of `definition` (the spec's `condition_groups`), as `segment_create_body` writes it."""
        # Not idempotent: a retried create after a timeout could make two segments.
        body = segment_create_body(name, definition)
        return parse_segment(self._post("/api/segments", body, op=Op.CREATE_SEGMENT, idempotent=False).get("data"))

    @property
    def events_page_size(self) -> int:
        """The Get Events page size in use (1000 until Klaviyo refuses it, then 200)."""
        return self._events_page_size

    def get_events_page(self, metric_id: str, since: datetime, until: datetime, *, cursor: str | None = None,
                        profile_id: str | None = None, fields: Sequence[str] = EVENT_FIELDS,
                        page_size: int | None = None) -> ReadPage:
        """One page of a metric's events in [since, until), oldest first, resumable by `cursor`.

        Paced on Get Events' own windows (350/s, 3,500/min). The page size starts at
        1000 and drops to 200 for good if Klaviyo refuses the larger one. A cursor Klaviyo
        refuses (expired, from another query) raises CursorRefused, so the caller can
        resume another way.
        """
        response, size = self._events_response(metric_id, since, until, cursor, profile_id, fields, page_size)
        return parse_read_page(response.json() if response.content else {}, metric_id, size)

    def get_events_page_raw(self, metric_id: str, since: datetime, until: datetime, *, cursor: str | None = None,
                            profile_id: str | None = None, page_size: int | None = None) -> RawEventPage:
        """get_events_page, with the page kept as the bytes Klaviyo sent (the mirror parses them in bulk)."""
        response, size = self._events_response(metric_id, since, until, cursor, profile_id, EVENT_FIELDS, page_size)
        try:
            return parse_raw_event_page(response.content or b'{"data":[]}', size)
        except ValueError:
            raise ApiError("Klaviyo answered Get Events with a body that is not a page of events",
                           "run the same command again to continue; if it persists, check status.klaviyo.com",
                           service=self.service, status=response.status_code) from None

    def _events_response(self, metric_id: str, since: datetime, until: datetime, cursor: str | None,
                         profile_id: str | None, fields: Sequence[str], page_size: int | None
                         ) -> tuple[httpx.Response, int]:
        conditions = [f"equals(metric_id,{filter_string(metric_id)})"]
        if profile_id is not None:
            conditions.append(f"equals(profile_id,{filter_string(profile_id)})")
        conditions += [f"greater-or-equal(datetime,{klaviyo_datetime(since)})",
                       f"less-than(datetime,{klaviyo_datetime(until)})"]
        while True:
            size = page_size or self._events_page_size
            params: dict[str, Any] = {"filter": ",".join(conditions), "fields[event]": ",".join(fields),
                                      "sort": "datetime", "page[size]": str(size)}
            if cursor:
                params["page[cursor]"] = cursor
            try:
                return self.send("GET", "/api/events", params=params, op=Op.GET_EVENTS), size
            except BadRequest as exc:
                if page_size is None and size != EVENTS_PAGE_SIZES[-1] and _refused_parameter(exc, "page[size]"):
                    self._events_page_size = EVENTS_PAGE_SIZES[-1]
                    continue
                if cursor and _refused_parameter(exc, "page[cursor]"):
                    raise CursorRefused(f"Klaviyo refused the saved page cursor ({exc.message})",
                                        service=self.service, status=exc.status, errors=exc.errors) from None
                raise

def segment_create_body(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    """The body of `POST /api/segments` (spec `SegmentCreateQuery`): what create sends and a dry run shows."""
    return {"data": {"type": "segment", "attributes": {"name": name, "definition": definition}}}


def segment_name_filter(name: str) -> str:
    """`equals(name,"…")`; UsageError for a name holding both quotes (the filter cannot quote it)."""
    quote = '"' if '"' not in name else "'"
    if quote in name:
        raise UsageError("a segment name cannot hold both ' and \" (Klaviyo's filter cannot quote it)",
                         hint="pick another --name")
    return f"equals(name,{quote}{name}{quote})"
