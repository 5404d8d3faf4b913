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
