"""Fixed Klaviyo answers for `report funnel` and `segments` tests (pytest-httpx).

Owned by the reporting tests: a metrics listing with chosen metrics present, and
metric-aggregate answers looked up by (metric_id, interval) from fixed tables.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx

BASE = "https://a.klaviyo.test"
KEY = "pk_test_report_0000000000"
METRICS_URL = re.compile(re.escape(BASE) + r"/api/metrics(\?.*)?$")
AGGREGATES_URL = f"{BASE}/api/metric-aggregates"

ROOMY_LIMITS = {"RateLimit-Limit": "100, 100;w=1, 6000;w=60", "RateLimit-Remaining": "99", "RateLimit-Reset": "1"}
API = {"object": "integration", "id": "7FtS4J", "key": "api", "name": "API", "category": "API"}
KLAVIYO = {"object": "integration", "id": "0rG4eQ", "key": "klaviyo", "name": "Klaviyo", "category": "Internal"}

# Metric IDs by event name; a name left out of a listing is "no events yet".
IDS = {
    "Sent LINE Message": "SENT01",
    "Delivered LINE Message": "DELIV1",
    "Failed LINE Message": "FAIL01",
    "Opened LINE Message": "OPEN01",
    "Clicked LINE Message": "CLICK1",
    "Followed LINE Account": "FOLLW1",
    "Blocked LINE Account": "BLOCK1",
    "Scanned LINE QR Code": "QRSCN1",
    "Linked LINE Identity": "LINKD1",
    "Received Email": "RECV01",
    "Opened Email": "OPENEM",
    "Clicked Email": "CLICEM",
}
EMAIL_NAMES = ("Received Email", "Opened Email", "Clicked Email")


def env(tmp_path, **extra: str) -> dict[str, str | None]:
    """A clean CLI environment: the calling shell's LINESYNC_* unset (None), our key and base URL set."""
    return {
        **{k: None for k in os.environ if k.startswith("LINESYNC_")},
        "LINESYNC_KLAVIYO_API_KEY": KEY,
        "LINESYNC_KLAVIYO_BASE_URL": BASE,
        "LINESYNC_STATE_DIR": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "NO_COLOR": "1",
        **extra,
    }


def metric_resource(name: str, integration: dict | None = None) -> dict:
    integration = integration or (KLAVIYO if name in EMAIL_NAMES else API)
    return {
        "type": "metric",
        "id": IDS[name],
        "attributes": {"name": name, "created": "2026-01-05T00:00:00+00:00", "updated": "2026-11-20T00:00:00+00:00",
                       "integration": integration},
        "links": {"self": f"{BASE}/api/metrics/{IDS[name]}"},
    }


def metrics_page(names: list[str], extra: list[dict] | None = None) -> dict:
    return {"data": [metric_resource(n) for n in names] + (extra or []), "links": {"self": f"{BASE}/api/metrics"}}


def add_metrics(httpx_mock, names: list[str], extra: list[dict] | None = None) -> None:
    httpx_mock.add_response(method="GET", url=METRICS_URL, json=metrics_page(names, extra), is_reusable=True)


def aggregate_doc(dates: list[str], count: list[float], unique: list[float]) -> dict:
    rows = [{"dimensions": [], "measurements": {"count": count, "unique": unique}}] if dates else []
    return {"data": {"type": "metric-aggregate", "id": "42", "attributes": {"dates": dates, "data": rows},
                     "links": {"self": AGGREGATES_URL}}}


def add_aggregates(httpx_mock, table: dict[tuple[str, str], tuple[list[str], list[float], list[float]]]) -> list[dict]:
    """Answer each aggregate query from `table[(metric_id, interval)]`; return the bodies seen."""
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        attrs = body["data"]["attributes"]
        seen.append(body)
        key = (attrs["metric_id"], attrs.get("interval") or "day")
        if key not in table:
            raise AssertionError(f"unexpected aggregate query {key}")
        # A roomy stated limit: the client follows it, so tests are not paced at 3/s.
        return httpx.Response(200, json=aggregate_doc(*table[key]), headers=ROOMY_LIMITS)

    httpx_mock.add_callback(answer, method="POST", url=AGGREGATES_URL, is_reusable=True)
    return seen


def error_doc(status: int, code: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"id": "e1", "status": status, "code": code, "title": code.replace("_", " "), "detail": detail}]}
