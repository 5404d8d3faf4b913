"""Helpers for the linkage, links, check-link and inspect-profile tests.

Builds JSON:API documents the way Klaviyo answers, a Klaviyo client that never
sleeps, and link indexes seeded directly (without a sync).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from linesync_cli.api.http import RetryPolicy
from linesync_cli.api.klaviyo import KlaviyoClient
from linesync_cli.config import Settings
from linesync_cli.core.link_index import LinkIndex, index_path, property_value

BASE = "https://a.klaviyo.com"
API_KEY = "pk_test_linkage_0000000000"


def line_id(n: int) -> str:
    """A valid LINE user ID, distinct per n."""
    return "U" + f"{n:032x}"


def klaviyo_client(**kwargs: Any) -> KlaviyoClient:
    return KlaviyoClient(SecretStr(API_KEY), BASE, retry=RetryPolicy(max_attempts=2, base_delay=0, max_delay=0),
                         sleep=lambda _s: None, **kwargs)


def settings(state_dir: Path, link_key: str = "property:LINE User ID", **kw: Any) -> Settings:
    return Settings(klaviyo_api_key=SecretStr(API_KEY), state_dir=state_dir, link_key=link_key, **kw)


def profile(pid: str, *, properties: dict | None = None, **attributes: Any) -> dict:
    attrs = dict(attributes)
    if properties is not None:
        attrs["properties"] = properties
    return {"type": "profile", "id": pid, "attributes": attrs, "links": {"self": f"{BASE}/api/profiles/{pid}/"}}


def accounts_doc(account_id: str = "AbC123", name: str = "Fake Shop") -> dict:
    """`GET /api/accounts` as Klaviyo answers it (the key's one account)."""
    return {"data": [{"type": "account", "id": account_id,
                      "attributes": {"contact_information": {"organization_name": name}}}],
            "links": {"self": "x", "next": None, "prev": None}}


def page(resources: list[dict], *, next_url: str | None = None, included: list[dict] | None = None) -> dict:
    doc: dict[str, Any] = {"data": resources, "links": {"self": "x", "next": next_url, "prev": None}}
    if included is not None:
        doc["included"] = included
    return doc


def query(request: Any) -> dict[str, str]:
    """The request's query as a flat dict (last value wins)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(str(request.url)).query, keep_blank_values=True).items()}


def any_values(filter_text: str) -> list[str]:
    """The quoted values of `any(field,["a","b"])`."""
    import json

    inner = filter_text[filter_text.index("[") : filter_text.rindex("]") + 1]
    return json.loads(inner)


def seed_index(state_dir: Path, values: dict[str, Any], *, key: str = "LINE User ID",
               scope: str = "all", when: datetime | None = None) -> None:
    """A completed full build holding `profile_id -> property value`."""
    index = LinkIndex(index_path(state_dir))
    try:
        when = when or datetime.now(UTC)
        gen = index.begin_run(key, "full", scope, when)
        rows = [(pid, property_value({key: v}, key)) for pid, v in values.items()]
        index.commit_page(key, gen, rows, None)
        index.finish_run(key, when)
    finally:
        index.close()


API_INTEGRATION = {"object": "integration", "id": "7FtS4J", "key": "api", "name": "API", "category": "API"}
KLAVIYO_INTEGRATION = {"object": "integration", "id": "0rG4eQ", "key": "klaviyo", "name": "Klaviyo",
                       "category": "Internal"}


def metric(mid: str, name: str, integration: dict | None = None) -> dict:
    return {"type": "metric", "id": mid, "attributes": {"name": name, "integration": integration or API_INTEGRATION}}


def event(eid: str, metric_id: str, when: str, **properties: Any) -> dict:
    return {"type": "event", "id": eid,
            "attributes": {"datetime": when, "event_properties": properties},
            "relationships": {"metric": {"data": {"type": "metric", "id": metric_id}}}}


LINE_METRICS = {
    "mLink": metric("mLink", "Linked LINE Identity"),
    "mSent": metric("mSent", "Sent LINE Message"),
    "mClick": metric("mClick", "Clicked LINE Message"),
    "mRecv": metric("mRecv", "Received Email", KLAVIYO_INTEGRATION),
    "mOpenE": metric("mOpenE", "Opened Email", KLAVIYO_INTEGRATION),
    "mSms": metric("mSms", "Received SMS", KLAVIYO_INTEGRATION),
    "mOrder": metric("mOrder", "Placed Order", {"name": "Shopify", "category": "eCommerce"}),
}


def events_page(events: list[dict], *, next_url: str | None = None) -> dict:
    used = {e["relationships"]["metric"]["data"]["id"] for e in events}
    return page(events, next_url=next_url, included=[LINE_METRICS[m] for m in sorted(used)])


class FakeAccount:
    """A small Klaviyo account + LINE channel for pytest-httpx callbacks.

    Serves `GET /api/profiles` (any(id,...), equals(email|phone_number|external_id,...)),
    `GET /api/profiles/{id}`, `GET /api/events` (newest first, cursor pages) and LINE
    `GET /v2/bot/profile/{userId}` (status per user ID: 200 by default, 404, 401).
    """

    def __init__(self) -> None:
        self.profiles: dict[str, dict] = {}  # id -> attributes
        self.events: dict[str, list[dict]] = {}  # profile id -> events, newest first
        self.line_status: dict[str, int] = {}

    def add_profile(self, pid: str, **attributes: Any) -> None:
        attributes.setdefault("properties", {})
        self.profiles[pid] = attributes

    def __call__(self, request: Any) -> Any:
        import json

        import httpx

        path = request.url.path
        if path.startswith("/v2/bot/profile/"):
            uid = path.rsplit("/", 1)[1]
            status = self.line_status.get(uid, 200)
            if status == 200:
                return httpx.Response(200, json={"userId": uid, "displayName": "Taro [b]LINE[/b]"})
            return httpx.Response(status, json={"message": "Not found" if status == 404 else "Authentication failed"})
        q = query(request)
        if path == "/api/profiles":
            flt = q["filter"]
            field_name = flt[flt.index("(") + 1 : flt.index(",")]
            if flt.startswith("any("):
                wanted = set(any_values(flt))
            else:
                wanted = {json.loads(flt[flt.index(",") + 1 : -1])}
            found = [profile(pid, **a) for pid, a in sorted(self.profiles.items())
                     if (pid if field_name == "id" else a.get(field_name)) in wanted]
            return httpx.Response(200, json=page(found))
        if path.startswith("/api/profiles/"):
            pid = path.rsplit("/", 1)[1]
            if pid not in self.profiles:
                return httpx.Response(404, json={"errors": [{"title": "Not found", "detail": "no profile"}]})
            return httpx.Response(200, json={"data": profile(pid, **self.profiles[pid])})
        if path == "/api/events":
            flt = q["filter"]
            pid = json.loads(flt[len("equals(profile_id,") : flt.index(")")])
            evs = self.events.get(pid, [])
            if "greater-or-equal(datetime," in flt:
                since = flt.split("greater-or-equal(datetime,")[1].split(")")[0]
                evs = [e for e in evs if e["attributes"]["datetime"] >= since.replace("Z", "+00:00")]
            if "less-than(datetime," in flt:
                until = flt.split("less-than(datetime,")[1].split(")")[0]
                evs = [e for e in evs if e["attributes"]["datetime"] < until.replace("Z", "+00:00")]
            size = int(q.get("page[size]", 200))
            start = int(q.get("page[cursor]", 0))
            nxt = None
            if start + size < len(evs):
                nxt = str(request.url.copy_set_param("page[cursor]", str(start + size)))
            return httpx.Response(200, json=events_page(evs[start:start + size], next_url=nxt))
        return httpx.Response(404, json={"errors": [{"title": "Not found", "detail": path}]})
