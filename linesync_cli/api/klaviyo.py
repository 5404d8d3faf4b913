"""The Klaviyo client: the only code that talks to Klaviyo.

Auth, the pinned `revision`, JSON:API error bodies, cursor pagination, pacing on
both rate-limit windows, retries. Methods return plain JSON:API documents; the
core turns them into domain objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from linesync_cli import __version__
from linesync_cli.api.http import HttpService, RetryPolicy
from linesync_cli.api.ratelimit import Window, WindowLimiter, parse_ratelimit_limit
from linesync_cli.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ChallengeBlocked,
    MissingScope,
    NotFound,
)

JSONAPI = "application/vnd.api+json"

# Per-operation limits (burst per second, steady per minute) and scope, from the
# spec's x-klaviyo-ratelimit / x-klaviyo-scopes (revision 2026-07-15), every scope
# an operation needs, so a 403 names them all. A test checks this table against the spec.
OPERATIONS: dict[str, tuple[int, int, str]] = {
    "get_accounts": (1, 15, "accounts:read"),
    "get_profiles": (75, 750, "profiles:read"),
    "get_profile": (75, 750, "profiles:read"),
    "get_events": (350, 3500, "events:read"),
    "bulk_create_events": (10, 150, "events:write"),
    "get_metrics": (10, 150, "metrics:read"),
    "get_metric": (10, 150, "metrics:read"),
    "get_flows_triggered_by_metric": (10, 150, "flows:read and metrics:read"),
    "query_metric_aggregates": (3, 60, "metrics:read"),
    "get_segments": (75, 750, "segments:read"),
    "get_segment": (75, 750, "segments:read"),
    "get_profiles_for_segment": (75, 750, "profiles:read and segments:read"),
    "get_segments_for_profile": (3, 60, "profiles:read and segments:read"),
    "create_segment": (1, 15, "segments:write"),
    "get_flows": (3, 60, "flows:read"),
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

    # -- rate limits ---------------------------------------------------------
    def limiter_for(self, op: str | None) -> WindowLimiter | None:
        if op is None:
            return None
        limiter = self._limiters.get(op)
        if limiter is None:
            burst, steady, _ = OPERATIONS.get(op, (10, 150, ""))
            limiter = WindowLimiter([Window(burst, 1.0), Window(steady, 60.0)], clock=self._clock, sleep=self._sleep)
            self._limiters[op] = limiter
        return limiter

    def observe_headers(self, op: str | None, response: httpx.Response) -> None:
        if op is None or response.status_code == 429:
            return
        limiter = self.limiter_for(op)
        assert limiter is not None
        windows = parse_ratelimit_limit(response.headers.get("RateLimit-Limit", ""))
        if windows:
            limiter.set_windows(windows)
        remaining = response.headers.get("RateLimit-Remaining")
        reset = response.headers.get("RateLimit-Reset")
        if remaining is not None and reset is not None:
            try:
                if int(remaining.split(",")[0]) <= 0:
                    limiter.block_for(float(reset.split(",")[0]))
            except ValueError:
                pass

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
            need = scope or (OPERATIONS.get(op or "", (0, 0, ""))[2]) or "the scope this call needs"
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

    # -- transport helpers ---------------------------------------------------
    def _same_origin(self, url: str) -> str:
        """Keep a `links.next` URL on our base URL, so the key never goes to another host."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if parts.scheme and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        return url

    def get(self, path: str, params: dict[str, Any] | None = None, *, op: str) -> dict:
        response = self.send("GET", path, params=params, op=op)
        return response.json() if response.content else {}

    def post(self, path: str, body: dict, *, op: str, idempotent: bool = True) -> dict | None:
        response = self.send(
            "POST", path, op=op, idempotent=idempotent,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            headers={"Content-Type": JSONAPI},
        )
        return response.json() if response.content else None

    def pages(self, path: str, params: dict[str, Any] | None = None, *, op: str) -> Iterator[dict]:
        """Yield each page document, following `links.next` until it is absent."""
        doc = self.get(path, params, op=op)
        seen = set()
        while True:
            yield doc
            nxt = (doc.get("links") or {}).get("next")
            if not nxt or nxt in seen:
                return
            seen.add(nxt)
            doc = self.get(self._same_origin(nxt), None, op=op)

    def iterate(self, path: str, params: dict[str, Any] | None = None, *, op: str) -> Iterator[dict]:
        """Yield every resource of every page (without `included`)."""
        for doc in self.pages(path, params, op=op):
            yield from doc.get("data") or []

    # -- operations ----------------------------------------------------------
    def get_accounts(self) -> dict:
        return self.get("/api/accounts", op="get_accounts")

    def _listing(self, path: str, resource: str, op: str, filter: str | None, fields: list[str] | None) -> list[dict]:
        """Every resource of a filtered, sparse-fielded collection, all pages."""
        params: dict[str, Any] = {}
        if filter:
            params["filter"] = filter
        if fields:
            params[f"fields[{resource}]"] = ",".join(fields)
        return list(self.iterate(path, params, op=op))

    def get_metrics(self, filter: str | None = None, fields: list[str] | None = None) -> list[dict]:
        return self._listing("/api/metrics", "metric", "get_metrics", filter, fields)

    def get_metric(self, metric_id: str) -> dict:
        return self.get(f"/api/metrics/{metric_id}", op="get_metric")

    def get_flows_triggered_by_metric(self, metric_id: str) -> list[dict]:
        doc = self.get(
            f"/api/metrics/{metric_id}/flow-triggers",
            {"fields[flow]": "name,status,archived,trigger_type"},
            op="get_flows_triggered_by_metric",
        )
        return list(doc.get("data") or [])

    def bulk_create_events_encoded(self, content: bytes) -> None:
        """`POST /api/event-bulk-create-jobs` with the body already encoded: backfill sizes,
        hashes and records exactly these bytes (and `--dry-run --out` writes them).
        Idempotent thanks to unique_id on every event, so it is safe to retry."""
        self.send("POST", "/api/event-bulk-create-jobs", op="bulk_create_events", idempotent=True,
                  content=content, headers={"Content-Type": JSONAPI})

    def query_metric_aggregates(self, body: dict) -> dict:
        return self.post("/api/metric-aggregates", body, op="query_metric_aggregates") or {}

    def create_segment(self, body: dict) -> dict:
        # Not idempotent: a retried create after a timeout could make two segments.
        return self.post("/api/segments", body, op="create_segment", idempotent=False) or {}

    def get_segments(self, filter: str | None = None, fields: list[str] | None = None) -> list[dict]:
        return self._listing("/api/segments", "segment", "get_segments", filter, fields)
