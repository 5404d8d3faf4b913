"""A small model of Klaviyo's metrics, events and profiles for pytest-httpx.

Answers the operations `linesync metrics` and `metrics show` use: GET /api/metrics
(paged), POST /api/metric-aggregates (computed from the events on the zone's
calendar, with empty buckets left out so callers must zero-fill) and GET
/api/events (filtered by metric_id and datetime, newest first, paged by cursor,
profiles included with the requested fields).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx

BASE = "https://a.klaviyo.test"
API = {"object": "integration", "id": "7FtS4J", "key": "api", "name": "API", "category": "API"}
SHOPIFY = {"object": "integration", "id": "0eMvjm", "key": "shopify", "name": "Shopify", "category": "eCommerce"}


@dataclass
class Event:
    id: str
    metric_id: str
    time: datetime
    profile_id: str
    properties: dict = field(default_factory=dict)


@dataclass
class FakeKlaviyo:
    """Metrics, events and profiles, answering the four operations metrics show uses."""

    metrics: list[dict] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    profiles: dict[str, dict] = field(default_factory=dict)
    events_status: int = 200  # 400: Klaviyo refuses the metric_id filter
    metrics_page: int = 200  # /api/metrics pages (200 in Klaviyo; smaller to test paging)
    aggregate_bodies: list[dict] = field(default_factory=list)

    def metric(self, mid: str, name: str, integration: dict = API, created: str = "2026-10-01T00:00:00+00:00") -> None:
        self.metrics.append({"type": "metric", "id": mid, "attributes": {
            "name": name, "created": created, "updated": created, "integration": integration}})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        query = dict(parse_qsl(request.url.query.decode()))
        if path == "/api/metrics":
            flt = query.get("filter")
            chosen = [m for m in self.metrics if flt is None or m["attributes"]["integration"]["category"] == "API"]
            offset = int(query.get("page[cursor]", 0))
            nxt = None
            if offset + self.metrics_page < len(chosen):
                nxt = f"{BASE}/api/metrics?" + urlencode({**query, "page[cursor]": str(offset + self.metrics_page)})
            return httpx.Response(200, json={"data": chosen[offset:offset + self.metrics_page],
                                             "links": {"self": str(request.url), "next": nxt}})
        if path == "/api/metric-aggregates":
            body = json.loads(request.content)
            self.aggregate_bodies.append(body)
            return httpx.Response(200, json=self.aggregate(body["data"]["attributes"]))
        if path == "/api/events":
            if self.events_status != 200:
                return httpx.Response(self.events_status, json={"errors": [{
                    "id": "x", "status": 400, "code": "invalid", "title": "Invalid input.",
                    "detail": "Metric IDs ['X'] do not exist.", "source": {"parameter": "filter"}}]})
            return httpx.Response(200, json=self.events_page(request, query))
        return httpx.Response(404, json={"errors": [{"title": "Not found", "detail": path}]})

    # -- aggregates, bucketed as Klaviyo does: the zone's calendar -------------
    def aggregate(self, attrs: dict) -> dict:
        zone = ZoneInfo(attrs.get("timezone") or "UTC")
        since = until = None
        for f in attrs["filter"]:
            op, value = re.fullmatch(r"([a-z-]+)\(datetime,(.+)\)", f).groups()
            dt = datetime.fromisoformat(value)
            assert dt.tzinfo is not None, "bounds carry their offset"
            since, until = (dt, until) if op == "greater-or-equal" else (since, dt)
        interval = attrs.get("interval", "day")

        def start(t: datetime) -> datetime:
            local = t.astimezone(zone)
            if interval == "hour":
                return local.replace(minute=0, second=0, microsecond=0)
            day = local.replace(hour=0, minute=0, second=0, microsecond=0)
            if interval == "week":
                return day - timedelta(days=day.weekday())
            if interval == "month":
                return day.replace(day=1)
            return day

        buckets: dict[datetime, list[Event]] = defaultdict(list)
        for e in self.events:
            if e.metric_id == attrs["metric_id"] and since <= e.time < until:
                buckets[start(e.time)].append(e)
        dates = sorted(buckets)  # empty buckets left out: the client must zero-fill
        measurements = {"count": [len(buckets[d]) for d in dates],
                        "unique": [len({e.profile_id for e in buckets[d]}) for d in dates]}
        rows = [{"dimensions": [], "measurements": {m: measurements[m] for m in attrs["measurements"]}}] if dates else []
        return {"data": {"type": "metric-aggregate", "id": "agg",
                         "attributes": {"dates": [d.isoformat() for d in dates], "data": rows}},
                "links": {"self": f"{BASE}/api/metric-aggregates"}}

    # -- events, newest first, paged by cursor ---------------------------------
    def events_page(self, request: httpx.Request, query: dict) -> dict:
        flt = query["filter"]
        metric_id = re.search(r'equals\(metric_id,"([^"]+)"\)', flt).group(1)
        before = re.search(r"less-than\(datetime,([^)]+)\)", flt)
        limit = datetime.fromisoformat(before.group(1)) if before else None
        assert query["sort"] == "-datetime"
        chosen = sorted((e for e in self.events if e.metric_id == metric_id and (limit is None or e.time < limit)),
                        key=lambda e: e.time, reverse=True)
        size = int(query.get("page[size]", 200))
        offset = int(query.get("page[cursor]", 0))
        page = chosen[offset:offset + size]
        nxt = None
        if offset + size < len(chosen):
            nxt = f"{BASE}/api/events?" + urlencode({**query, "page[cursor]": str(offset + size)})
        included = {e.profile_id: {"type": "profile", "id": e.profile_id,
                                   "attributes": {k: self.profiles.get(e.profile_id, {}).get(k)
                                                  for k in query["fields[profile]"].split(",")}}
                    for e in page}
        return {
            "data": [{"type": "event", "id": e.id,
                      "attributes": {"datetime": e.time.isoformat(), "event_properties": e.properties},
                      "relationships": {"profile": {"data": {"type": "profile", "id": e.profile_id}}}}
                     for e in page],
            "included": list(included.values()),
            "links": {"self": str(request.url), "next": nxt},
        }
