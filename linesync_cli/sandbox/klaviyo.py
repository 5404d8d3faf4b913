"""A stateful stand-in Klaviyo API (and a small LINE one) on loopback.

Faithful to the spec (revision 2026-07-15) and ../shared/docs/klaviyo-api.md where
they speak; where they are silent the choice is written down next to the code
("stand-in choice"). `linesync sandbox` serves it; the tests use it through the
fixtures in tests/conftest.py:

    def test_x(klaviyo_standin, cli_env):
        klaviyo_standin.add_metric("Followed LINE Account")
        result = run_cli(["metrics"], env=cli_env)

Every request is recorded (`requests`) and, in the tests, validated against the
official spec (the `validator` hook); violations land in `contract_violations` (the
fixture fails the test on them at teardown), so the server still answers like Klaviyo would.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import random
import re
import string
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linesync_cli.sandbox.base import Incoming, RecordedRequest, Reply, StandInServer, Validator

__all__ = ["KlaviyoStandIn", "DEFAULT_RATE_LIMITS", "RateLimit", "throttled_body", "split_top"]

JSONAPI = "application/vnd.api+json"

# (burst per 1 s, steady per 60 s[, daily]) from the spec's x-klaviyo-ratelimit; a test
# checks this table against the spec.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, ...]] = {
    "get_accounts": (1, 15),
    "get_metrics": (10, 150),
    "get_metric": (10, 150),
    "get_flows_triggered_by_metric": (10, 150),
    "get_profiles": (75, 750),
    "get_profile": (75, 750),
    "get_segments": (75, 750),
    "get_segment": (75, 750),
    "get_profiles_for_segment": (75, 750),
    "get_segments_for_profile": (3, 60),
    "create_segment": (1, 15, 100),
    "get_flows": (3, 60),
    "get_events": (350, 3500),
    "bulk_create_events": (10, 150),
    "create_event": (350, 3500),
    "query_metric_aggregates": (3, 60),
}

MAX_BULK_EVENTS = 1000
# "5 MB" and "100 KB" (op description) read as the stricter decimal units, so a
# client that fits here fits Klaviyo whichever unit Klaviyo means.
MAX_BULK_BYTES = 5_000_000
MAX_STRING_BYTES = 100_000
EVENTS_PAGE_MAX = 200  # fact sheet: the op says 200 although page[size] allows 1000
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SHORT = string.ascii_letters + string.digits


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def throttled_body(seconds: int) -> dict:
    return {"errors": [{
        "id": str(uuidlib.uuid4()),
        "status": 429,
        "code": "throttled",
        "title": "Request was throttled.",
        "detail": f"Request was throttled. Expected available in {seconds} second{'' if seconds == 1 else 's'}.",
        "source": {"pointer": "/data/"},
        "links": {},
        "meta": {},
    }]}


def api_error(status: int, code: str, title: str, detail: str, *, pointer: str | None = None,
              parameter: str | None = None) -> dict:
    source: dict[str, str] = {}
    if pointer is not None:
        source["pointer"] = pointer
    if parameter is not None:
        source["parameter"] = parameter
    return {"id": str(uuidlib.uuid4()), "status": status, "code": code, "title": title, "detail": detail,
            "source": source or {"pointer": "/data/"}, "links": {}, "meta": {}}


class ApiFailure(Exception):
    """Raised inside a route to answer with JSON:API errors."""

    def __init__(self, status: int, errors: list[dict]) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors


def bad_request(detail: str, *, pointer: str | None = None, parameter: str | None = None,
                code: str = "invalid") -> ApiFailure:
    return ApiFailure(400, [api_error(400, code, "Invalid input.", detail, pointer=pointer, parameter=parameter)])


def not_found(kind: str, ident: str) -> ApiFailure:
    return ApiFailure(404, [api_error(404, "not_found", "Not found.",
                                      f"A {kind} with id {ident} does not exist.")])


# -- rate limits ------------------------------------------------------------------------

@dataclass
class RateLimit:
    """Fixed windows like Klaviyo's: each (limit, seconds) window counts from a shared epoch."""

    windows: list[tuple[int, float]]
    epoch: float = field(default_factory=time.monotonic)
    counts: dict[int, tuple[int, int]] = field(default_factory=dict)  # window index -> (slot, count)

    def _slot(self, i: int, now: float) -> int:
        return int((now - self.epoch) // self.windows[i][1])

    def _count(self, i: int, now: float) -> int:
        slot, count = self.counts.get(i, (-1, 0))
        return count if slot == self._slot(i, now) else 0

    def _reset_in(self, i: int, now: float) -> float:
        seconds = self.windows[i][1]
        return seconds - ((now - self.epoch) % seconds)

    def try_take(self, now: float) -> float | None:
        """Count one request; None when allowed, else seconds until the blocking window resets."""
        waits = [self._reset_in(i, now) for i, (limit, _) in enumerate(self.windows) if self._count(i, now) >= limit]
        if waits:
            return max(waits)
        for i in range(len(self.windows)):
            self.counts[i] = (self._slot(i, now), self._count(i, now) + 1)
        return None

    def headers(self, now: float) -> dict[str, str]:
        (burst, burst_s), (steady, steady_s) = self.windows[0], self.windows[1]
        return {
            "RateLimit-Limit": f"{burst}, {burst};w={burst_s:g}, {steady};w={steady_s:g}",
            "RateLimit-Remaining": str(max(0, steady - self._count(1, now))),
            "RateLimit-Reset": str(math.ceil(self._reset_in(1, now))),
        }


# -- filters ------------------------------------------------------------------------------

def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses, brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?")


_DATETIME_FIELDS = frozenset({"datetime", "created", "updated", "joined_group_at"})


class Quoted(str):
    """A filter value that was written in quotes (datetimes must not be)."""


def _filter_value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return Quoted(text[1:-1])
    if text.startswith("[") and text.endswith("]"):
        return [_filter_value(v) for v in split_top(text[1:-1])]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _DATETIME.fullmatch(text):
        # Kept naive when written naive: comparisons read it as UTC, aggregates in their timezone.
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise bad_request(f"Invalid filter value: {text}", parameter="filter") from None


def parse_filter(expression: str) -> list[tuple[str, str, Any]]:
    conditions = []
    for part in split_top(expression):
        m = re.fullmatch(r"([a-z-]+)\((.*)\)", part, re.S)
        if not m:
            raise bad_request(f"Invalid filter: {part}", parameter="filter")
        operator, inner = m.groups()
        if operator == "and":
            conditions += parse_filter(inner)
            continue
        args = split_top(inner)
        if not args:
            raise bad_request(f"Invalid filter: {part}", parameter="filter")
        conditions.append((operator, args[0], _filter_value(args[1]) if len(args) > 1 else None))
    return conditions


def _compare(operator: str, actual: Any, wanted: Any, field_name: str) -> bool:
    if isinstance(wanted, datetime) and wanted.tzinfo is None:
        wanted = wanted.replace(tzinfo=UTC)
    if operator == "equals":
        return actual in wanted if isinstance(wanted, list) else actual == wanted
    if operator == "any":
        if not isinstance(wanted, list):
            raise bad_request(f"Invalid filter: any() on '{field_name}' needs a list", parameter="filter")
        return actual in wanted
    if operator == "has":
        return bool(actual)
    if actual is None:
        return False
    if operator == "contains":
        return wanted in actual
    if operator == "starts-with":
        return actual.startswith(wanted)
    if operator == "ends-with":
        return actual.endswith(wanted)
    if operator == "greater-than":
        return actual > wanted
    if operator == "greater-or-equal":
        return actual >= wanted
    if operator == "less-than":
        return actual < wanted
    if operator == "less-or-equal":
        return actual <= wanted
    raise bad_request(f"Invalid filter operator: {operator}", parameter="filter")


def apply_filter(items: list[dict], expression: str | None, getters: dict[str, Any], resource: str) -> list[dict]:
    if not expression:
        return items
    conditions = parse_filter(expression)
    for _operator, field_name, value in conditions:
        if field_name not in getters:
            raise bad_request(f"'{field_name}' is not a valid field for the resource '{resource}'.", parameter="filter")
        if field_name in _DATETIME_FIELDS and isinstance(value, Quoted):
            # Klaviyo answers "invalid filter" for quoted datetimes (fact sheet section 3).
            raise bad_request(f"Invalid filter: datetime for '{field_name}' must not be quoted", parameter="filter")
    return [item for item in items
            if all(_compare(op, getters[f](item), v, f) for op, f, v in conditions)]


def _sparse(attributes: dict, wanted: list[str] | None) -> dict:
    if wanted is None:
        return attributes
    roots = {w.split(".")[0] for w in wanted}
    return {k: v for k, v in attributes.items() if k in roots}


# -- the stand-in -------------------------------------------------------------------------

_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (m, re.compile(p), op) for m, p, op in [
        ("GET", r"/api/accounts", "get_accounts"),
        ("GET", r"/api/metrics", "get_metrics"),
        ("GET", r"/api/metrics/(?P<id>[^/]+)", "get_metric"),
        ("GET", r"/api/metrics/(?P<id>[^/]+)/flow-triggers", "get_flows_triggered_by_metric"),
        ("GET", r"/api/profiles", "get_profiles"),
        ("GET", r"/api/profiles/(?P<id>[^/]+)", "get_profile"),
        ("GET", r"/api/profiles/(?P<id>[^/]+)/segments", "get_segments_for_profile"),
        ("GET", r"/api/segments", "get_segments"),
        ("POST", r"/api/segments", "create_segment"),
        ("GET", r"/api/segments/(?P<id>[^/]+)", "get_segment"),
        ("GET", r"/api/segments/(?P<id>[^/]+)/profiles", "get_profiles_for_segment"),
        ("GET", r"/api/flows", "get_flows"),
        ("GET", r"/api/events", "get_events"),
        ("POST", r"/api/events", "create_event"),
        ("POST", r"/api/event-bulk-create-jobs", "bulk_create_events"),
        ("POST", r"/api/metric-aggregates", "query_metric_aggregates"),
    ]
]


class KlaviyoStandIn(StandInServer):
    """Klaviyo on loopback: state, the endpoints linesync uses, rate limits and faults.

    Tunables (attributes): `api_key`, `metrics_page_size` (200), `retry_after_header`
    (False: a 429 carries no Retry-After, like the captured one; True: it does),
    `rate_limits_enabled`, `segment_processing_polls` (GETs of a new segment that
    still show `is_processing: true`).
    """

    service = "Klaviyo"

    def __init__(self, api_key: str = "pk_test_standin_0000000000", *, validator: Validator | None = None,
                 record_bodies: bool = True, seed: int = 0, validate_every: int = 1) -> None:
        super().__init__(validator=validator, record_bodies=record_bodies, seed=seed, validate_every=validate_every)
        self.api_key = api_key
        self.metrics_page_size = 200
        self.retry_after_header = False
        self.rate_limits_enabled = True
        self.segment_processing_polls = 0
        self._rng = random.Random(seed)
        self.clock = time.monotonic
        self.rate_limits: dict[str, RateLimit] = {}
        self.throttled: Counter[str] = Counter()
        self.account = {
            "id": self._short_id(),
            "test_account": False,
            "contact_information": {"default_sender_name": "Stand-in Shop", "default_sender_email": "shop@example.com",
                                    "website_url": "https://shop.example.com", "organization_name": "Stand-in Shop",
                                    "street_address": {"address1": "1-1", "address2": "", "city": "Tokyo",
                                                       "region": "Tokyo", "country": "JP", "zip": "100-0001"}},
            "industry": "Retail", "timezone": "Asia/Tokyo", "preferred_currency": "JPY",
            "public_api_key": "AbC123", "locale": "ja-JP",
        }
        self.profiles: dict[str, dict] = {}
        self.metrics: dict[str, dict] = {}
        self.events: list[dict] = []
        self.segments: dict[str, dict] = {}
        self.flows: dict[str, dict] = {}
        self._dedup: set[tuple[str, str, str]] = set()
        self.duplicates_ignored = 0  # events accepted (202) but not recorded: same unique_id seen before
        self.profiles_created = 0  # by bulk create, from identifiers (never from an id alone)
        self.profiles_changed = 0  # by bulk create, from non-empty profile attributes
        self.flow_triggers: list[tuple[str, str]] = []  # (flow id, event id) a live flow would have fired on
        self.bulk_jobs = 0  # accepted bulk-create requests
        # Read-back: seconds before a stored event shows in Get Events (Klaviyo takes minutes),
        # the largest page[size] accepted, and events accepted (202) but never stored.
        self.events_visible_after = 0.0
        self.events_page_max = EVENTS_PAGE_MAX
        self.drop_events: Callable[[dict], bool] | None = None
        self.dropped_events: list[dict] = []
        # Each metric's events in (datetime, seq) order, for Get Events' fast path.
        self._by_metric: dict[str, tuple[list[tuple[datetime, int]], list[dict]]] = {}
        # Seconds between counting a request against the rate limit and answering it
        # (Klaviyo's gateway counts first, then the work takes its time): see set_latency.
        self.latency = 0.0
        self.latency_jitter = 0.0

    # -- ids ----------------------------------------------------------------------------
    def _short_id(self) -> str:
        return "".join(self._rng.choice(_SHORT) for _ in range(6))

    def _ulid(self) -> str:
        return "01" + "".join(self._rng.choice(_ULID) for _ in range(24))

    # -- state helpers for tests -------------------------------------------------------------
    def set_account(self, **attributes: Any) -> None:
        with self.lock:
            self.account.update(attributes)

    def add_profile(self, email: str | None = None, phone_number: str | None = None,
                    external_id: str | None = None, properties: dict | None = None,
                    updated: datetime | None = None, created: datetime | None = None, **attributes: Any) -> str:
        with self.lock:
            pid = self._ulid()
            now = datetime.now(UTC)
            self.profiles[pid] = {
                "id": pid, "email": email, "phone_number": phone_number, "external_id": external_id,
                "first_name": attributes.pop("first_name", None), "last_name": attributes.pop("last_name", None),
                "properties": dict(properties or {}),
                "created": created or updated or now, "updated": updated or now, **attributes,
            }
            return pid

    def add_metric(self, name: str, integration_name: str = "API", integration_category: str | dict = "API",
                   created: datetime | None = None, updated: datetime | None = None) -> str:
        with self.lock:
            mid = self._short_id()
            when = created or datetime.now(UTC)
            key = integration_name.lower().replace(" ", "_")
            self.metrics[mid] = {
                "id": mid, "name": name, "created": when, "updated": updated or when,
                "integration": {"object": "integration", "id": "7FtS4J" if key == "api" else self._short_id(),
                                "key": key, "name": integration_name, "category": integration_category},
            }
            return mid

    def add_event(self, metric_id: str, profile_id: str, when: datetime, properties: dict | None = None,
                  unique_id: str | None = None, value: float | None = None) -> str:
        with self.lock:
            return self._store_event(metric_id, profile_id, when, dict(properties or {}), unique_id, value,
                                     backfill_event=None, backfill_entry=None)

    def add_segment(self, name: str, is_processing: bool = False, members: list[str] | None = None,
                    is_active: bool = True, definition: dict | None = None, processing_polls: int | None = None) -> str:
        """processing_polls: GETs that still show is_processing (None: until a test changes it)."""
        with self.lock:
            sid = self._short_id()
            now = datetime.now(UTC)
            self.segments[sid] = {"id": sid, "name": name, "is_processing": is_processing, "is_active": is_active,
                                  "is_starred": False, "definition": definition or {"condition_groups": []},
                                  "created": now, "updated": now, "members": list(members or []),
                                  "polls_left": -1 if processing_polls is None else processing_polls}
            return sid

    def set_segment_members(self, segment_id: str, members: list[str]) -> None:
        with self.lock:
            self.segments[segment_id]["members"] = list(members)

    def add_flow(self, name: str, status: str = "live", trigger_metric_id: str | None = None,
                 archived: bool = False, trigger_type: str | None = None) -> str:
        with self.lock:
            fid = self._short_id()
            now = datetime.now(UTC)
            self.flows[fid] = {"id": fid, "name": name, "status": status, "archived": archived,
                               "trigger_type": trigger_type or ("Metric" if trigger_metric_id else "Added to List"),
                               "trigger_metric_id": trigger_metric_id, "created": now, "updated": now}
            return fid

    def set_rate_limit(self, op: str, burst: tuple[int, float], steady: tuple[int, float]) -> None:
        """E.g. set_rate_limit("bulk_create_events", burst=(10, 0.1), steady=(150, 6)) to scale windows down."""
        with self.lock:
            self.rate_limits[op] = RateLimit([burst, steady], epoch=self.clock())

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Answer every request `seconds` (plus up to `jitter`) after it was counted and processed.

        Unlike `set_delay` (before counting, to provoke client timeouts), this is the
        server's own latency: the rate limiter has already counted the request.
        """
        self.latency, self.latency_jitter = seconds, jitter

    def metric_by_name(self, name: str, category: str = "API") -> dict | None:
        with self.lock:
            for metric in self.metrics.values():
                if metric["name"] == name and _category(metric) == category:
                    return metric
            return None

    def events_for(self, metric_name: str | None = None, profile_id: str | None = None) -> list[dict]:
        with self.lock:
            wanted = {m["id"] for m in self.metrics.values() if metric_name is None or m["name"] == metric_name}
            return [e for e in self.events
                    if e["metric_id"] in wanted and (profile_id is None or e["profile_id"] == profile_id)]

    def throttle_next(self, n: int = 1, path_prefix: str | None = None, *, retry_after: int | None = None,
                      expected_in: int = 0) -> None:
        """The next n matching requests answer 429 like Klaviyo (no rate headers; Retry-After only if given)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.respond_next(path_prefix, 429, throttled_body(expected_in), headers=headers, content_type=JSONAPI, n=n)

    # -- plumbing hooks ----------------------------------------------------------------------
    def _route(self, req: Incoming) -> tuple[str, dict[str, str]] | None:
        path = req.route_path
        for method, pattern, op in _ROUTES:
            m = pattern.fullmatch(path)
            if m and method == req.method:
                return op, m.groupdict()
        return None

    def operation_for(self, req: Incoming) -> str | None:
        route = self._route(req)
        return route[0] if route else None

    def fault_reply(self, status: int) -> Reply:
        if status == 429:
            return Reply.json(429, throttled_body(1), JSONAPI)
        titles = {500: "Internal server error.", 502: "Bad gateway.", 503: "Service unavailable.",
                  504: "Gateway timeout."}
        return Reply.json(status, {"errors": [api_error(status, "error", titles.get(status, "Server error."),
                                                        titles.get(status, "Server error."))]}, JSONAPI)

    def _limit_for(self, op: str) -> RateLimit:
        limit = self.rate_limits.get(op)
        if limit is None:
            values = DEFAULT_RATE_LIMITS.get(op, (10, 150))
            windows: list[tuple[int, float]] = [(values[0], 1.0), (values[1], 60.0)]
            if len(values) > 2:
                windows.append((values[2], 86400.0))
            limit = self.rate_limits[op] = RateLimit(windows, epoch=self.clock())
        return limit

    def answer(self, req: Incoming, record: RecordedRequest) -> Reply:
        auth = req.headers.get("authorization", "")
        if auth != f"Klaviyo-API-Key {self.api_key}":
            return Reply.json(401, {"errors": [api_error(
                401, "not_authenticated", "Authentication credentials were not provided." if not auth
                else "Incorrect authentication credentials.",
                "Missing or invalid private key.", pointer="/data/")]}, JSONAPI)
        if not req.headers.get("revision"):
            return Reply.json(400, {"errors": [api_error(400, "invalid", "Invalid input.",
                                                         "A revision header is required.")]}, JSONAPI)
        route = self._route(req)
        if route is None:
            return Reply.json(404, {"errors": [api_error(404, "not_found", "Not found.",
                                                         f"No route for {req.method} {req.path}")]}, JSONAPI)
        op, params = route
        with self.lock:
            now = self.clock()
            limit = self._limit_for(op) if self.rate_limits_enabled else None
            if limit is not None:
                wait = limit.try_take(now)
                if wait is not None:
                    self.throttled[op] += 1
                    # Stand-in choice: the detail rounds down, like the captured "0 seconds".
                    seconds = int(wait)
                    headers = {"Retry-After": str(math.ceil(wait))} if self.retry_after_header else {}
                    return Reply.json(429, throttled_body(seconds), JSONAPI, headers)
            try:
                status, document = getattr(self, "_" + op)(req, record, **params)
            except ApiFailure as failure:
                status, document = failure.status, {"errors": failure.errors}
            headers = {"X-Klaviyo-API-Revision": req.headers.get("revision", "")}
            if limit is not None:
                headers.update(limit.headers(now))
            latency = self.latency + (self._rng.random() * self.latency_jitter if self.latency_jitter else 0.0)
        if latency > 0:
            time.sleep(max(0.0, latency - (self.clock() - now)))
        if document is None:
            return Reply(status, b"", headers, None)
        return Reply.json(status, document, JSONAPI, headers)

    # -- rendering --------------------------------------------------------------------------
    def _fields(self, req: Incoming, kind: str) -> list[str] | None:
        value = req.arg(f"fields[{kind}]")
        return value.split(",") if value is not None else None

    def _link(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _metric_doc(self, metric: dict, req: Incoming) -> dict:
        attributes = {"name": metric["name"], "created": iso(metric["created"]), "updated": iso(metric["updated"]),
                      "integration": metric["integration"]}
        return {"type": "metric", "id": metric["id"], "attributes": _sparse(attributes, self._fields(req, "metric")),
                "links": {"self": self._link(f"/api/metrics/{metric['id']}/")}}

    def _profile_doc(self, profile: dict, req: Incoming) -> dict:
        attributes = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in profile.items() if k != "id"}
        return {"type": "profile", "id": profile["id"], "attributes": _sparse(attributes, self._fields(req, "profile")),
                "links": {"self": self._link(f"/api/profiles/{profile['id']}/")}}

    def _flow_doc(self, flow: dict, req: Incoming) -> dict:
        attributes = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in flow.items()
                      if k not in ("id", "trigger_metric_id")}
        return {"type": "flow", "id": flow["id"], "attributes": _sparse(attributes, self._fields(req, "flow")),
                "links": {"self": self._link(f"/api/flows/{flow['id']}/")}}

    def _segment_doc(self, segment: dict, req: Incoming) -> dict:
        attributes = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in segment.items()
                      if k not in ("id", "members", "polls_left")}
        if "profile_count" in (req.arg("additional-fields[segment]") or "").split(","):
            attributes["profile_count"] = len(segment["members"])
        return {"type": "segment", "id": segment["id"],
                "attributes": _sparse(attributes, self._fields(req, "segment")),
                "links": {"self": self._link(f"/api/segments/{segment['id']}/")}}

    def _event_doc(self, event: dict, req: Incoming, wanted: list[str] | None = None, *,
                   fields_known: bool = False) -> dict:
        if not fields_known:
            wanted = self._fields(req, "event")
        properties = dict(event["properties"])
        # The unique_id sent comes back as $event_id; without one, the time in seconds.
        properties["$event_id"] = event["unique_id"] if event["unique_id"] is not None \
            else str(int(event["datetime"].timestamp()))
        if event.get("value") is not None:
            properties["$value"] = event["value"]
        attributes = {"timestamp": int(event["datetime"].timestamp()), "event_properties": properties,
                      "datetime": iso(event["datetime"]), "uuid": event["uuid"]}
        return {"type": "event", "id": event["id"], "attributes": _sparse(attributes, wanted),
                "relationships": {
                    "metric": {"data": {"type": "metric", "id": event["metric_id"]}},
                    "profile": {"data": {"type": "profile", "id": event["profile_id"]}},
                },
                "links": {"self": self._link(f"/api/events/{event['id']}/")}}

    def _page(self, req: Incoming, items: list | _Window, *, default: int, maximum: int, render) -> dict:
        size_text = req.arg("page[size]")
        size = default
        if size_text is not None:
            try:
                size = int(size_text)
            except ValueError:
                raise bad_request("page[size] must be an integer", parameter="page[size]") from None
            if not 1 <= size <= maximum:
                raise bad_request(f"page[size] must be between 1 and {maximum}", parameter="page[size]")
        offset = 0
        cursor = req.arg("page[cursor]")
        if cursor:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("Invalid page cursor", parameter="page[cursor]") from None
        chunk = items[offset:offset + size]

        def link(at: int | None) -> str:
            pairs = [(k, v) for k, vs in req.query.items() if k != "page[cursor]" for v in vs]
            if at:
                token = base64.urlsafe_b64encode(json.dumps({"o": at}).encode()).decode()
                pairs.append(("page[cursor]", token))
            return self._link(req.path) + ("?" + urlencode(pairs) if pairs else "")

        links: dict[str, str | None] = {"self": link(offset), "next": None, "prev": None}
        if offset + size < len(items):
            links["next"] = link(offset + size)
        if offset > 0:
            links["prev"] = link(max(0, offset - size))
        return {"data": [render(item) for item in chunk], "links": links}

    # -- endpoints ------------------------------------------------------------------------------
    def _get_accounts(self, req: Incoming, record: RecordedRequest):
        attributes = {k: v for k, v in self.account.items() if k != "id"}
        doc = {"type": "account", "id": self.account["id"],
               "attributes": _sparse(attributes, self._fields(req, "account")),
               "links": {"self": self._link(f"/api/accounts/{self.account['id']}/")}}
        return 200, {"data": [doc], "links": {"self": self._link("/api/accounts/"), "next": None, "prev": None}}

    _METRIC_FILTERS = {"integration.name": lambda m: m["integration"]["name"],
                       "integration.category": lambda m: _category(m)}

    def _with_flow_triggers(self, doc: dict, req: Incoming, included: dict) -> dict:
        if "flow-triggers" in (req.arg("include") or "").split(","):
            flows = [f for f in self.flows.values() if f["trigger_metric_id"] == doc["id"]]
            doc["relationships"] = {"flow-triggers": {"data": [{"type": "flow", "id": f["id"]} for f in flows]}}
            for f in flows:
                included[f["id"]] = self._flow_doc(f, req)
        return doc

    def _get_metrics(self, req: Incoming, record: RecordedRequest):
        items = sorted(self.metrics.values(), key=lambda m: (m["created"], m["id"]))
        items = apply_filter(items, req.arg("filter"), self._METRIC_FILTERS, "metric")
        included: dict[str, dict] = {}
        doc = self._page(req, items, default=self.metrics_page_size, maximum=self.metrics_page_size,
                         render=lambda m: self._with_flow_triggers(self._metric_doc(m, req), req, included))
        if included:
            doc["included"] = list(included.values())
        return 200, doc

    def _get_metric(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002 - route param
        metric = self.metrics.get(id)
        if metric is None:
            raise not_found("metric", id)
        included: dict[str, dict] = {}
        doc: dict[str, Any] = {"data": self._with_flow_triggers(self._metric_doc(metric, req), req, included)}
        if included:
            doc["included"] = list(included.values())
        return 200, doc

    def _get_flows_triggered_by_metric(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002
        if id not in self.metrics:
            raise not_found("metric", id)
        flows = [f for f in self.flows.values() if f["trigger_metric_id"] == id]
        return 200, {"data": [self._flow_doc(f, req) for f in flows],
                     "links": {"self": self._link(f"/api/metrics/{id}/flow-triggers/")}}

    _PROFILE_FILTERS = {
        "id": lambda p: p["id"], "email": lambda p: p.get("email"), "phone_number": lambda p: p.get("phone_number"),
        "external_id": lambda p: p.get("external_id"), "created": lambda p: p["created"],
        "updated": lambda p: p["updated"],
    }

    def _get_profiles(self, req: Incoming, record: RecordedRequest):
        items = sorted(self.profiles.values(), key=lambda p: (p["created"], p["id"]))
        items = apply_filter(items, req.arg("filter"), self._PROFILE_FILTERS, "profile")
        items = _sort(items, req.arg("sort"), {"created", "updated", "id", "email"})
        return 200, self._page(req, items, default=20, maximum=100, render=lambda p: self._profile_doc(p, req))

    def _get_profile(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002
        profile = self.profiles.get(id)
        if profile is None:
            raise not_found("profile", id)
        doc: dict[str, Any] = {"data": self._profile_doc(profile, req)}
        if "segments" in (req.arg("include") or "").split(","):
            segs = [s for s in self.segments.values() if id in s["members"]]
            doc["data"]["relationships"] = {"segments": {"data": [{"type": "segment", "id": s["id"]} for s in segs]}}
            doc["included"] = [self._segment_doc(s, req) for s in segs]
        return 200, doc

    def _get_segments_for_profile(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002
        if id not in self.profiles:
            raise not_found("profile", id)
        segs = [s for s in self.segments.values() if id in s["members"]]
        return 200, {"data": [self._segment_doc(s, req) for s in segs],
                     "links": {"self": self._link(f"/api/profiles/{id}/segments/")}}

    _SEGMENT_FILTERS = {"name": lambda s: s["name"], "id": lambda s: s["id"], "created": lambda s: s["created"],
                        "updated": lambda s: s["updated"], "is_active": lambda s: s["is_active"],
                        "is_starred": lambda s: s["is_starred"]}

    def _get_segments(self, req: Incoming, record: RecordedRequest):
        items = sorted(self.segments.values(), key=lambda s: (s["created"], s["id"]))
        items = apply_filter(items, req.arg("filter"), self._SEGMENT_FILTERS, "segment")
        return 200, self._page(req, items, default=10, maximum=10, render=lambda s: self._segment_doc(s, req))

    def _get_segment(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002
        segment = self.segments.get(id)
        if segment is None:
            raise not_found("segment", id)
        doc = {"data": self._segment_doc(segment, req)}
        if segment["is_processing"] and segment["polls_left"] > 0:
            segment["polls_left"] -= 1
            if segment["polls_left"] == 0:
                segment["is_processing"] = False
        return 200, doc

    def _get_profiles_for_segment(self, req: Incoming, record: RecordedRequest, id: str):  # noqa: A002
        segment = self.segments.get(id)
        if segment is None:
            raise not_found("segment", id)
        members = [self.profiles[pid] for pid in segment["members"] if pid in self.profiles]
        getters = {"profile_id": lambda p: p["id"], "email": lambda p: p.get("email"),
                   "phone_number": lambda p: p.get("phone_number")}
        members = apply_filter(members, req.arg("filter"), getters, "profile")
        return 200, self._page(req, members, default=20, maximum=100, render=lambda p: self._profile_doc(p, req))

    def _create_segment(self, req: Incoming, record: RecordedRequest):
        body = _json_body(req)
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(attributes, dict) or data.get("type") != "segment" \
                or not attributes.get("name"):
            raise bad_request("A segment needs data.type 'segment' and attributes.name", pointer="/data/attributes/name")
        definition = attributes.get("definition")
        if not isinstance(definition, dict) or not isinstance(definition.get("condition_groups"), list):
            raise bad_request("definition.condition_groups is required", pointer="/data/attributes/definition")
        sid = self.add_segment(attributes["name"], is_processing=self.segment_processing_polls > 0,
                               definition=definition, processing_polls=self.segment_processing_polls)
        self.segments[sid]["is_starred"] = bool(attributes.get("is_starred", False))
        record.processed = True
        return 201, {"data": self._segment_doc(self.segments[sid], req)}

    _FLOW_FILTERS = {"id": lambda f: f["id"], "name": lambda f: f["name"], "status": lambda f: f["status"],
                     "archived": lambda f: f["archived"], "created": lambda f: f["created"],
                     "updated": lambda f: f["updated"], "trigger_type": lambda f: f["trigger_type"]}

    def _get_flows(self, req: Incoming, record: RecordedRequest):
        items = sorted(self.flows.values(), key=lambda f: (f["created"], f["id"]))
        items = apply_filter(items, req.arg("filter"), self._FLOW_FILTERS, "flow")
        items = _sort(items, req.arg("sort"), {"created", "id", "name", "status", "trigger_type", "updated"})
        return 200, self._page(req, items, default=50, maximum=50, render=lambda f: self._flow_doc(f, req))

    def _get_events(self, req: Incoming, record: RecordedRequest):
        getters = {"metric_id": lambda e: e["metric_id"], "profile_id": lambda e: e["profile_id"],
                   "datetime": lambda e: e["datetime"], "timestamp": lambda e: e["datetime"].timestamp(),
                   # has(metric) drops events whose metric cannot be resolved (revision 2026-07-15).
                   "metric": lambda e: e["metric_id"] in self.metrics,
                   "profile": lambda e: e["profile_id"] in self.profiles}
        visible_before = time.time() - self.events_visible_after
        order = req.arg("sort") or "datetime"
        items: list[dict] | _Window | None = self._events_window(req.arg("filter"), order)
        if items is None:
            items = apply_filter([e for e in self.events if e["stored_at"] <= visible_before], req.arg("filter"),
                                 getters, "event")
            items.sort(key=lambda e: (e["datetime"], e["seq"]), reverse=order.startswith("-"))
        include = set((req.arg("include") or "").split(",")) - {""}
        included: dict[tuple[str, str], dict] = {}
        wanted = self._fields(req, "event")

        def render(event: dict) -> dict:
            if "metric" in include and event["metric_id"] in self.metrics:
                included[("metric", event["metric_id"])] = self._metric_doc(self.metrics[event["metric_id"]], req)
            if "profile" in include and event["profile_id"] in self.profiles:
                included[("profile", event["profile_id"])] = self._profile_doc(self.profiles[event["profile_id"]], req)
            return self._event_doc(event, req, wanted, fields_known=True)

        # Stand-in choice: page[size] above 200 is refused (the op description's maximum),
        # although the parameter's schema says 1000; the fact sheet says to use 200.
        doc = self._page(req, items, default=200, maximum=self.events_page_max, render=render)
        if include:
            doc["included"] = list(included.values())
        return 200, doc

    def _events_window(self, expression: str | None, order: str) -> _Window | None:
        """The fast path for a metric's events in a time range, oldest first (what `events pull`
        asks): a slice of the metric's time-ordered list, without scanning every event. Anything
        else (profile filters, a visibility delay, other sorts) takes the general path."""
        if not expression or order != "datetime" or self.events_visible_after > 0:
            return None
        conditions = parse_filter(expression)
        metric = [v for op, f, v in conditions if f == "metric_id" and op == "equals"]
        ranges = [(op, v) for op, f, v in conditions if f == "datetime"]
        if len(metric) != 1 or len(ranges) + 1 != len(conditions) or \
                any(not isinstance(v, datetime) or v.tzinfo is None for _, v in ranges):
            return None
        keys, events = self._by_metric.get(str(metric[0]), ([], []))
        lo, hi = 0, len(keys)
        for op, v in ranges:
            if op == "greater-or-equal":
                lo = max(lo, bisect.bisect_left(keys, (v, -1)))
            elif op == "greater-than":
                lo = max(lo, bisect.bisect_right(keys, (v, math.inf)))
            elif op == "less-than":
                hi = min(hi, bisect.bisect_left(keys, (v, -1)))
            elif op == "less-or-equal":
                hi = min(hi, bisect.bisect_right(keys, (v, math.inf)))
            else:
                return None
        return _Window(events, lo, max(lo, hi))

    # -- bulk create ---------------------------------------------------------------------------
    def _store_event(self, metric_id: str, profile_id: str, when: datetime, properties: dict,
                     unique_id: str | None, value: Any, *, backfill_event: bool | None,
                     backfill_entry: bool | None, bulk: bool = False) -> str:
        # Without unique_id Klaviyo dedups on the event time to the second.
        key = (profile_id, metric_id, unique_id if unique_id is not None else f"time:{int(when.timestamp())}")
        if key in self._dedup:
            self.duplicates_ignored += 1
            return ""
        eid = "".join(self._rng.choice(_SHORT) for _ in range(24))
        event = {"id": eid, "seq": len(self.events), "metric_id": metric_id, "profile_id": profile_id,
                 "datetime": when.replace(microsecond=0), "properties": properties, "unique_id": unique_id,
                 "uuid": str(uuidlib.UUID(int=self._rng.getrandbits(128), version=4)), "value": value,
                 "backfill_event": backfill_event, "backfill_entry": backfill_entry, "stored_at": time.time()}
        if bulk and self.drop_events is not None and self.drop_events(event):
            # Accepted with 202, then lost in processing (never recorded, so not deduplicated
            # against either): only reading back shows it.
            self.dropped_events.append(event)
            return eid
        self._dedup.add(key)
        keys, ordered = self._by_metric.setdefault(metric_id, ([], []))
        at = (event["datetime"], event["seq"])
        i = len(keys) if not keys or keys[-1] <= at else bisect.bisect_right(keys, at)
        keys.insert(i, at)
        ordered.insert(i, event)
        self.events.append(event)
        metric = self.metrics.get(metric_id)
        if metric is not None:
            metric["updated"] = max(metric["updated"], datetime.now(UTC))
        # Stand-in choice (fact sheet: which level wins is unconfirmed): backfill at
        # either level keeps flows from firing.
        if not (backfill_event or backfill_entry):
            for flow in self.flows.values():
                if flow["trigger_metric_id"] == metric_id and flow["status"] == "live" and not flow["archived"]:
                    self.flow_triggers.append((flow["id"], eid))
        return eid

    def _create_event(self, req: Incoming, record: RecordedRequest):
        """One event (`POST /api/events`), as the official SDK's create_event sends it."""
        body = _json_body(req)
        try:
            attrs = body["data"]["attributes"]
            assert body["data"]["type"] == "event" and isinstance(attrs, dict)
            name = attrs["metric"]["data"]["attributes"]["name"]
            profile = attrs["profile"]["data"]
        except (KeyError, TypeError, AssertionError):
            raise bad_request("Expected data.type 'event' with a metric and a profile", pointer="/data") from None
        pattrs = (profile.get("attributes") or {}) if isinstance(profile, dict) else {}
        pid = profile.get("id") if isinstance(profile, dict) else None
        if pid is not None and pid not in self.profiles:
            raise bad_request(f"A profile with id {pid} does not exist.", pointer="/data/attributes/profile/data/id")
        if pid is None and not any(pattrs.get(k) for k in ("email", "phone_number", "external_id")):
            raise bad_request("A profile needs an id, email, phone_number or external_id.",
                              pointer="/data/attributes/profile/data/attributes")
        pid = pid or self._upsert_profile(pattrs)
        metric = self.metric_by_name(name) or self.metrics[self.add_metric(name)]
        when = parse_time(str(attrs["time"])) if attrs.get("time") is not None else datetime.now(UTC)
        self._store_event(metric["id"], pid, when, dict(attrs.get("properties") or {}), attrs.get("unique_id"),
                          attrs.get("value"), backfill_event=None, backfill_entry=None)
        record.processed = True
        return 202, None

    def _bulk_create_events(self, req: Incoming, record: RecordedRequest):
        if len(req.raw) > MAX_BULK_BYTES:
            raise ApiFailure(413, [api_error(413, "payload_too_large", "Payload too large.",
                                             f"The payload is {len(req.raw)} bytes; the limit is 5 MB.")])
        body = _json_body(req)
        base = "/data/attributes/events-bulk-create/data"
        try:
            entries = body["data"]["attributes"]["events-bulk-create"]["data"]
            assert body["data"]["type"] == "event-bulk-create-job" and isinstance(entries, list)
        except (KeyError, TypeError, AssertionError):
            raise bad_request("Expected data.type 'event-bulk-create-job' with attributes.events-bulk-create.data",
                              pointer="/data") from None
        errors: list[dict] = []
        planned: list[tuple[int, dict, list[dict]]] = []
        total = 0
        seen: dict[tuple[str, str, str], str] = {}
        now = datetime.now(UTC)
        for i, entry in enumerate(entries):
            where = f"{base}/{i}/attributes"
            attrs = entry.get("attributes") if isinstance(entry, dict) else None
            if not isinstance(attrs, dict) or entry.get("type") != "event-bulk-create":
                errors.append(api_error(400, "invalid", "Invalid input.", "Expected type 'event-bulk-create'",
                                        pointer=f"{base}/{i}"))
                continue
            profile = ((attrs.get("profile") or {}).get("data")) if isinstance(attrs.get("profile"), dict) else None
            events = ((attrs.get("events") or {}).get("data")) if isinstance(attrs.get("events"), dict) else None
            if not isinstance(profile, dict) or profile.get("type") != "profile":
                errors.append(api_error(400, "invalid", "Invalid input.", "A profile is required",
                                        pointer=f"{where}/profile/data"))
                continue
            pattrs = profile.get("attributes") or {}
            pid = profile.get("id")
            identifiers = {k: pattrs.get(k) for k in ("email", "phone_number", "external_id") if pattrs.get(k)}
            if pid is not None and pid not in self.profiles:
                # Stand-in choice: Klaviyo's answer to an unknown profile id is unconfirmed
                # (fact sheet section 7); the stand-in rejects the request with a pointer.
                errors.append(api_error(400, "invalid", "Invalid input.", f"A profile with id {pid} does not exist.",
                                        pointer=f"{where}/profile/data/id"))
                continue
            if pid is None and not identifiers:
                errors.append(api_error(400, "invalid", "Invalid input.",
                                        "A profile needs an id, email, phone_number or external_id.",
                                        pointer=f"{where}/profile/data/attributes"))
                continue
            if not isinstance(events, list) or not events:
                errors.append(api_error(400, "invalid", "Invalid input.", "events.data must be a non-empty list",
                                        pointer=f"{where}/events/data"))
                continue
            profile_key = pid or json.dumps(identifiers, sort_keys=True)
            for j, event in enumerate(events):
                ewhere = f"{where}/events/data/{j}/attributes"
                eattrs = event.get("attributes") if isinstance(event, dict) else None
                if not isinstance(eattrs, dict):
                    errors.append(api_error(400, "invalid", "Invalid input.", "Expected an event",
                                            pointer=f"{where}/events/data/{j}"))
                    continue
                total += 1
                name = (((eattrs.get("metric") or {}).get("data") or {}).get("attributes") or {}).get("name")
                if not isinstance(name, str) or not name or len(name) >= 128:
                    errors.append(api_error(400, "invalid", "Invalid input.",
                                            "A metric name (under 128 characters) is required",
                                            pointer=f"{ewhere}/metric/data/attributes/name"))
                    continue
                when = now
                if eattrs.get("time") is not None:
                    try:
                        when = parse_time(str(eattrs["time"]))
                    except ValueError:
                        errors.append(api_error(400, "invalid", "Invalid input.", "time is not a valid datetime",
                                                pointer=f"{ewhere}/time"))
                        continue
                    if not datetime(2000, 1, 1, tzinfo=UTC) <= when <= now + timedelta(days=365):
                        errors.append(api_error(400, "invalid", "Invalid input.",
                                                "time must be between 2000-01-01 and one year from now",
                                                pointer=f"{ewhere}/time"))
                        continue
                long_string = _long_string(eattrs.get("properties"), f"{ewhere}/properties")
                if long_string:
                    errors.append(api_error(400, "invalid", "Invalid input.",
                                            "Strings are limited to 100 KB", pointer=long_string))
                    continue
                unique_id = eattrs.get("unique_id")
                if unique_id is not None:
                    key = (profile_key, name, str(unique_id))
                    if key in seen:
                        errors.append(api_error(400, "invalid", "Invalid input.",
                                                f"Duplicate unique_id {unique_id!r} for the same profile and metric "
                                                f"(first at {seen[key]}); no events were processed.",
                                                pointer=f"{ewhere}/unique_id"))
                        continue
                    seen[key] = ewhere
            planned.append((i, attrs, events))
        if total > MAX_BULK_EVENTS:
            errors.insert(0, api_error(400, "invalid", "Invalid input.",
                                       f"At most {MAX_BULK_EVENTS} events per request; got {total}.",
                                       pointer=base))
        if errors:
            raise ApiFailure(400, errors)
        for _, attrs, events in planned:
            profile = attrs["profile"]["data"]
            pattrs = profile.get("attributes") or {}
            pid = profile.get("id") or self._upsert_profile(pattrs)
            if profile.get("id") and pattrs:
                self.profiles_changed += 1
                self.profiles[pid]["properties"].update(pattrs.get("properties") or {})
            for event in events:
                eattrs = event["attributes"]
                name = eattrs["metric"]["data"]["attributes"]["name"]
                metric = self.metric_by_name(name) or self.metrics[self.add_metric(name)]
                when = parse_time(str(eattrs["time"])) if eattrs.get("time") is not None else now
                self._store_event(metric["id"], pid, when, dict(eattrs.get("properties") or {}),
                                  eattrs.get("unique_id"), eattrs.get("value"),
                                  backfill_event=eattrs.get("backfill"), backfill_entry=attrs.get("backfill"),
                                  bulk=True)
        self.bulk_jobs += 1
        record.processed = True
        return 202, None

    def _upsert_profile(self, pattrs: dict) -> str:
        for key in ("external_id", "email", "phone_number"):
            if pattrs.get(key):
                for profile in self.profiles.values():
                    if profile.get(key) == pattrs[key]:
                        self.profiles_changed += 1
                        profile["properties"].update(pattrs.get("properties") or {})
                        return profile["id"]
        self.profiles_created += 1
        return self.add_profile(email=pattrs.get("email"), phone_number=pattrs.get("phone_number"),
                                external_id=pattrs.get("external_id"), properties=pattrs.get("properties"))

    # -- aggregates ------------------------------------------------------------------------------
    def _query_metric_aggregates(self, req: Incoming, record: RecordedRequest):
        body = _json_body(req)
        try:
            attrs = body["data"]["attributes"]
            metric_id = attrs["metric_id"]
            measurements = attrs["measurements"]
            filters = attrs["filter"]
        except (KeyError, TypeError):
            raise bad_request("metric_id, measurements and filter are required", pointer="/data/attributes") from None
        if metric_id not in self.metrics:
            raise bad_request(f"Metric {metric_id} does not exist.", pointer="/data/attributes/metric_id")
        interval = attrs.get("interval") or "day"
        if interval not in ("hour", "day", "week", "month"):
            raise bad_request(f"Invalid interval {interval}", pointer="/data/attributes/interval")
        try:
            zone = ZoneInfo(attrs.get("timezone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise bad_request(f"Invalid timezone {attrs.get('timezone')}", pointer="/data/attributes/timezone") from None
        start = end = None
        for text in filters if isinstance(filters, list) else [filters]:
            for operator, field_name, value in parse_filter(str(text)):
                if field_name != "datetime":
                    continue
                if not isinstance(value, datetime):
                    raise bad_request("datetime filters must be unquoted datetimes", pointer="/data/attributes/filter")
                # Stand-in choice: a naive datetime is read in the query's timezone.
                moment = value if value.tzinfo else value.replace(tzinfo=zone)
                if operator == "greater-or-equal":
                    start = moment
                elif operator == "less-than":
                    end = moment
        if start is None or end is None:
            raise bad_request("filter needs greater-or-equal(datetime,...) and less-than(datetime,...)",
                              pointer="/data/attributes/filter")
        buckets = _buckets(start.astimezone(zone), end.astimezone(zone), interval)
        counts = [0] * len(buckets)
        uniques: list[set] = [set() for _ in buckets]
        for event in self.events:
            if event["metric_id"] != metric_id or not start <= event["datetime"] < end:
                continue
            local = event["datetime"].astimezone(zone)
            for k in range(len(buckets) - 1, -1, -1):
                if buckets[k] <= local:
                    counts[k] += 1
                    uniques[k].add(event["profile_id"])
                    break
        values = {"count": counts, "unique": [len(u) for u in uniques],
                  "sum_value": [0.0] * len(buckets)}
        return 200, {"data": {"type": "metric-aggregate", "id": str(uuidlib.uuid4()), "attributes": {
            "dates": [b.isoformat() for b in buckets],
            "data": [{"dimensions": [], "measurements": {m: values[m] for m in measurements if m in values}}],
        }, "links": {"self": self._link("/api/metric-aggregates/"), "next": None, "prev": None}}}


class _Window:
    """events[lo:hi] without copying: what `_page` needs (len and slicing)."""

    def __init__(self, events: list[dict], lo: int, hi: int) -> None:
        self.events, self.lo, self.hi = events, lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, part: slice) -> list[dict]:
        start, stop, _ = part.indices(len(self))
        return self.events[self.lo + start:self.lo + stop]


def _category(metric: dict) -> str:
    category = metric["integration"].get("category")
    return category.get("category", "") if isinstance(category, dict) else str(category)


def _sort(items: list[dict], order: str | None, allowed: set[str]) -> list[dict]:
    if not order:
        return items
    key = order.lstrip("-")
    if key not in allowed:
        raise bad_request(f"Invalid sort field {key}", parameter="sort")
    return sorted(items, key=lambda item: (item.get(key) is None, item.get(key) or ""), reverse=order.startswith("-"))


def _json_body(req: Incoming) -> Any:
    try:
        return json.loads(req.raw or b"null")
    except ValueError:
        raise bad_request("The body is not valid JSON", pointer="/data") from None


def _long_string(value: Any, pointer: str) -> str | None:
    if isinstance(value, str):
        return pointer if len(value.encode()) > MAX_STRING_BYTES else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _long_string(v, f"{pointer}/{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _long_string(v, f"{pointer}/{i}")
            if found:
                return found
    return None


def _buckets(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """Bucket starts from the interval containing `start` up to `end` (exclusive), local time.

    Stand-in choice: weeks start on Monday (Klaviyo does not say).
    """
    if interval == "hour":
        first = start.replace(minute=0, second=0, microsecond=0)
    else:
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if interval == "week":
            first -= timedelta(days=first.weekday())
        elif interval == "month":
            first = first.replace(day=1)
    out = []
    current = first
    zone = start.tzinfo
    while current < end:
        out.append(current)
        if interval == "hour":
            current = (current.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
        elif interval == "day":
            current = (current.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
        elif interval == "week":
            current = (current.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=zone)
        else:
            year, month = (current.year + 1, 1) if current.month == 12 else (current.year, current.month + 1)
            current = current.replace(year=year, month=month)
    return out
