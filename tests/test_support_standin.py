"""The stand-in servers behave like the APIs they stand in for (kept fast)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.spec import requires_specs, spec_copy_of_operation
from tests.support.standin_cli import KLAVIYO_TEST_KEY, LINE_TEST_TOKEN
from tests.support.standins import DEFAULT_RATE_LIMITS, KlaviyoStandIn

JSONAPI = "application/vnd.api+json"
KNOWN_USER = "U" + "4af4980629" + "0" * 22
UNKNOWN_USER = "U" + "f" * 32


@pytest.fixture
def kc(klaviyo_standin):
    """A bare httpx client with valid Klaviyo headers (no pacing, no retries)."""
    with httpx.Client(base_url=klaviyo_standin.base_url, headers={
        "Authorization": f"Klaviyo-API-Key {KLAVIYO_TEST_KEY}", "revision": "2026-07-15",
        "Accept": JSONAPI, "Content-Type": JSONAPI,
    }) as client:
        yield client


def bulk_body(*entries: dict) -> dict:
    return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": list(entries)}}}}


def entry(profile_id: str | None, *events: dict, backfill: bool | None = True, **identifiers: str) -> dict:
    attrs: dict = {"profile": {"data": {"type": "profile", "attributes": dict(identifiers)}},
                   "events": {"data": list(events)}}
    if profile_id is not None:
        attrs["profile"]["data"]["id"] = profile_id
    if backfill is not None:
        attrs["backfill"] = backfill
    return {"type": "event-bulk-create", "attributes": attrs}


def event(name: str, unique_id: str, when: str = "2026-05-01T09:30:00+09:00", backfill: bool | None = True,
          **properties: object) -> dict:
    attrs: dict = {"metric": {"data": {"type": "metric", "attributes": {"name": name}}},
                   "properties": properties or {"source": "linesync"}, "time": when, "unique_id": unique_id}
    if backfill is not None:
        attrs["backfill"] = backfill
    return {"type": "event", "attributes": attrs}


def post_bulk(kc: httpx.Client, body: dict) -> httpx.Response:
    return kc.post("/api/event-bulk-create-jobs", content=json.dumps(body))


# -- auth and headers ---------------------------------------------------------------------

def test_wrong_key_gets_401_jsonapi_error(klaviyo_standin):
    response = httpx.get(f"{klaviyo_standin.base_url}/api/accounts",
                         headers={"Authorization": "Klaviyo-API-Key pk_wrong_0000000", "revision": "2026-07-15"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["status"] == 401
    assert klaviyo_standin.requests[0].op == "get_accounts"


def test_success_carries_ratelimit_headers(kc):
    response = kc.get("/api/metrics/")
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "10, 10;w=1, 150;w=60"
    assert response.headers["RateLimit-Remaining"] == "149"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= 60


@requires_specs
def test_contract_violation_is_recorded_not_raised(klaviyo_standin, kc):
    response = kc.get("/api/metrics", params={"page[size]": "5"})
    assert response.status_code == 200  # answered like Klaviyo would
    assert any("page[size]" in v for v in klaviyo_standin.contract_violations)
    klaviyo_standin.contract_violations.clear()  # expected here; the fixture checks the rest


# -- rate limits ---------------------------------------------------------------------------

def test_burst_window_answers_429_without_rate_headers(klaviyo_standin, kc):
    klaviyo_standin.set_rate_limit("get_metrics", burst=(3, 60), steady=(100, 600))
    statuses = [kc.get("/api/metrics").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    throttled = kc.get("/api/metrics")
    assert "RateLimit-Limit" not in throttled.headers and "Retry-After" not in throttled.headers
    error = throttled.json()["errors"][0]
    assert (error["status"], error["code"], error["title"]) == (429, "throttled", "Request was throttled.")
    assert error["detail"].startswith("Request was throttled. Expected available in ")
    assert klaviyo_standin.throttled["get_metrics"] == 3


def test_steady_window_and_retry_after_option(klaviyo_standin, kc):
    klaviyo_standin.set_rate_limit("get_profiles", burst=(100, 60), steady=(2, 600))
    klaviyo_standin.retry_after_header = True
    assert [kc.get("/api/profiles").status_code for _ in range(3)] == [200, 200, 429]
    throttled = kc.get("/api/profiles")
    assert int(throttled.headers["Retry-After"]) > 60  # the steady window is the one blocking
    assert "Expected available in" in throttled.json()["errors"][0]["detail"]


def test_window_reopens_after_it_rolls(klaviyo_standin, kc):
    clock = [1000.0]
    klaviyo_standin.clock = lambda: clock[0]
    klaviyo_standin.set_rate_limit("get_flows", burst=(1, 1), steady=(10, 60))
    assert kc.get("/api/flows").status_code == 200
    assert kc.get("/api/flows").status_code == 429
    clock[0] += 1.0
    ok = kc.get("/api/flows")
    assert ok.status_code == 200 and ok.headers["RateLimit-Remaining"] == "8"


def test_operations_are_limited_separately(klaviyo_standin, kc):
    klaviyo_standin.set_rate_limit("get_metrics", burst=(1, 60), steady=(10, 600))
    assert kc.get("/api/metrics").status_code == 200
    assert kc.get("/api/metrics").status_code == 429
    assert kc.get("/api/profiles").status_code == 200


@requires_specs
@pytest.mark.parametrize("op", sorted(DEFAULT_RATE_LIMITS))
def test_default_limits_match_the_spec(op):
    limits = spec_copy_of_operation(op)["x-klaviyo-ratelimit"]
    expected = [int(limits["burst"].split("/")[0]), int(limits["steady"].split("/")[0])]
    if "daily" in limits:
        expected.append(int(limits["daily"].split("/")[0]))
    assert list(DEFAULT_RATE_LIMITS[op]) == expected


# -- bulk create ---------------------------------------------------------------------------

def test_metric_created_on_first_event_under_api(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    assert klaviyo_standin.metric_by_name("Followed LINE Account") is None
    response = post_bulk(kc, bulk_body(entry(pid, event("Followed LINE Account", "u1"))))
    assert response.status_code == 202 and response.content == b""
    metric = klaviyo_standin.metric_by_name("Followed LINE Account")
    assert metric["integration"]["category"] == "API"
    listed = kc.get("/api/metrics", params={"filter": 'equals(integration.category,"API")'}).json()["data"]
    assert [m["attributes"]["name"] for m in listed] == ["Followed LINE Account"]


def test_repeat_across_requests_first_wins_silently(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    assert post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "m-1", mark="first")))).status_code == 202
    assert post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "m-1", mark="second")))).status_code == 202
    events = klaviyo_standin.events_for("Sent LINE Message")
    assert [e["properties"]["mark"] for e in events] == ["first"]
    assert klaviyo_standin.duplicates_ignored == 1


def test_repeat_inside_one_request_rejects_everything(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    body = bulk_body(entry(pid, event("Sent LINE Message", "ok-1"), event("Sent LINE Message", "dup"),
                           event("Sent LINE Message", "dup")))
    response = post_bulk(kc, body)
    assert response.status_code == 400
    pointer = response.json()["errors"][0]["source"]["pointer"]
    assert pointer == "/data/attributes/events-bulk-create/data/0/attributes/events/data/2/attributes/unique_id"
    assert klaviyo_standin.events == [] and klaviyo_standin.metrics == {}


def test_same_unique_id_on_other_metric_or_profile_is_fine(klaviyo_standin, kc):
    a = klaviyo_standin.add_profile(email="a@example.com")
    b = klaviyo_standin.add_profile(email="b@example.com")
    body = bulk_body(entry(a, event("Opened LINE Message", "x"), event("Clicked LINE Message", "x")),
                     entry(b, event("Opened LINE Message", "x")))
    assert post_bulk(kc, body).status_code == 202
    assert len(klaviyo_standin.events) == 3


def test_unknown_profile_id_points_at_the_entry(klaviyo_standin, kc):
    known = klaviyo_standin.add_profile(email="a@example.com")
    body = bulk_body(entry(known, event("Sent LINE Message", "1")),
                     entry("01NOSUCHPROFILE00000000000", event("Sent LINE Message", "2")))
    response = post_bulk(kc, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == \
        "/data/attributes/events-bulk-create/data/1/attributes/profile/data/id"
    assert klaviyo_standin.events == []


def test_time_outside_range_points_at_the_event(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    future = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    body = bulk_body(entry(pid, event("Sent LINE Message", "1", when="1999-12-31T23:59:59+00:00"),
                           event("Sent LINE Message", "2", when=future)))
    errors = post_bulk(kc, body).json()["errors"]
    assert [e["source"]["pointer"] for e in errors] == [
        f"/data/attributes/events-bulk-create/data/0/attributes/events/data/{i}/attributes/time" for i in (0, 1)]


def test_more_than_1000_events_rejected(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    body = bulk_body(entry(pid, *[event("Sent LINE Message", str(i)) for i in range(1001)]))
    assert post_bulk(kc, body).status_code == 400
    assert klaviyo_standin.events == []


def test_string_over_100kb_rejected(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    body = bulk_body(entry(pid, event("Sent LINE Message", "1", text="x" * 100_001)))
    response = post_bulk(kc, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"].endswith("/attributes/properties/text")


def test_payload_over_5mb_rejected(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    big = {f"p{i}": "x" * 99_000 for i in range(51)}
    response = post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "1", **big))))
    assert response.status_code == 413 and klaviyo_standin.events == []


def test_has_metric_drops_events_of_unknown_metrics(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    mid = klaviyo_standin.add_metric("Opened LINE Message")
    klaviyo_standin.add_event(mid, pid, datetime(2026, 6, 1, tzinfo=UTC))
    klaviyo_standin.add_event("GONE00", pid, datetime(2026, 6, 2, tzinfo=UTC))
    assert len(kc.get("/api/events").json()["data"]) == 2
    assert len(kc.get("/api/events", params={"filter": "has(metric)"}).json()["data"]) == 1


def test_id_only_profile_is_never_created_or_changed(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com", properties={"tier": "gold"})
    before = dict(klaviyo_standin.profiles[pid])
    post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "1"))))
    assert klaviyo_standin.profiles_created == 0 and klaviyo_standin.profiles_changed == 0
    assert klaviyo_standin.profiles[pid] == before and len(klaviyo_standin.profiles) == 1


def test_identifiers_create_a_profile(klaviyo_standin, kc):
    post_bulk(kc, bulk_body(entry(None, event("Sent LINE Message", "1"), email="new@example.com")))
    assert klaviyo_standin.profiles_created == 1


def test_backfill_flags_recorded_and_flows_only_fire_without(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    mid = klaviyo_standin.add_metric("Followed LINE Account")
    flow = klaviyo_standin.add_flow("Welcome on LINE", trigger_metric_id=mid)
    post_bulk(kc, bulk_body(entry(pid, event("Followed LINE Account", "quiet"))))
    post_bulk(kc, bulk_body(entry(pid, event("Followed LINE Account", "loud", backfill=None), backfill=None)))
    quiet, loud = klaviyo_standin.events
    assert (quiet["backfill_event"], quiet["backfill_entry"]) == (True, True)
    assert (loud["backfill_event"], loud["backfill_entry"]) == (None, None)
    assert klaviyo_standin.flow_triggers == [(flow, loud["id"])]


# -- reading ----------------------------------------------------------------------------------

def test_metrics_paging_follows_next_links(klaviyo_standin, kc):
    klaviyo_standin.metrics_page_size = 2
    for i in range(5):
        klaviyo_standin.add_metric(f"Metric {i}", created=datetime(2026, 1, 1 + i, tzinfo=UTC))
    names, url, pages = [], "/api/metrics", 0
    while url:
        doc = kc.get(url).json()
        names += [m["attributes"]["name"] for m in doc["data"]]
        url, pages = doc["links"]["next"], pages + 1
    assert names == [f"Metric {i}" for i in range(5)] and pages == 3


def test_profiles_filters_page_size_and_sparse_fields(klaviyo_standin, kc):
    old = klaviyo_standin.add_profile(external_id="U1", email="1@example.com", updated=datetime(2026, 1, 1, tzinfo=UTC))
    new = klaviyo_standin.add_profile(external_id="U2", email="2@example.com", updated=datetime(2026, 3, 1, tzinfo=UTC))
    klaviyo_standin.add_profile(external_id="U3")
    doc = kc.get("/api/profiles", params={"filter": 'any(external_id,["U1","U2"])', "fields[profile]": "external_id",
                                          "page[size]": "1"}).json()
    assert [p["id"] for p in doc["data"]] == [old] and doc["data"][0]["attributes"] == {"external_id": "U1"}
    assert kc.get(doc["links"]["next"]).json()["data"][0]["id"] == new
    since = kc.get("/api/profiles", params={"filter": "greater-than(updated,2026-02-01T00:00:00Z)"}).json()["data"]
    assert old not in [p["id"] for p in since] and new in [p["id"] for p in since]
    assert kc.get("/api/profiles", params={"page[size]": "101"}).status_code == 400
    klaviyo_standin.contract_violations.clear()  # page[size]=101 breaks the spec on purpose


def test_events_filters_include_sort_and_paging(klaviyo_standin, kc):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    other = klaviyo_standin.add_profile(email="b@example.com")
    mid = klaviyo_standin.add_metric("Opened LINE Message")
    base = datetime(2026, 6, 1, tzinfo=UTC)
    for i in range(5):
        klaviyo_standin.add_event(mid, pid, base + timedelta(hours=i), {"n": i})
    klaviyo_standin.add_event(mid, other, base)
    params = {"filter": f'equals(profile_id,"{pid}"),greater-or-equal(datetime,2026-06-01T01:00:00Z),has(metric)',
              "include": "metric", "fields[metric]": "name", "sort": "-datetime", "page[size]": "2"}
    doc = kc.get("/api/events", params=params).json()
    assert [e["attributes"]["event_properties"]["n"] for e in doc["data"]] == [4, 3]
    assert doc["included"] == [{"type": "metric", "id": mid, "attributes": {"name": "Opened LINE Message"},
                                "links": {"self": f"{klaviyo_standin.base_url}/api/metrics/{mid}/"}}]
    rest = kc.get(doc["links"]["next"]).json()
    assert [e["attributes"]["event_properties"]["n"] for e in rest["data"]] == [2, 1]
    assert rest["links"]["next"] is None and rest["links"]["prev"]


def test_quoted_datetime_filter_is_invalid(klaviyo_standin, kc):
    response = kc.get("/api/events", params={"filter": 'greater-or-equal(datetime,"2026-06-01T00:00:00Z")'})
    assert response.status_code == 400
    klaviyo_standin.contract_violations.clear()  # on purpose


def test_flow_triggers_and_segments(klaviyo_standin, kc):
    mid = klaviyo_standin.add_metric("Followed LINE Account")
    klaviyo_standin.add_flow("Welcome", trigger_metric_id=mid)
    klaviyo_standin.add_flow("Other", trigger_metric_id=None)
    flows = kc.get(f"/api/metrics/{mid}/flow-triggers", params={"fields[flow]": "name,status"}).json()["data"]
    assert [f["attributes"] for f in flows] == [{"name": "Welcome", "status": "live"}]
    assert kc.get("/api/metrics/NOPE00/flow-triggers").status_code == 404
    pid = klaviyo_standin.add_profile(email="a@example.com")
    sid = klaviyo_standin.add_segment("LINE users", members=[pid])
    assert kc.get(f"/api/segments/{sid}/profiles").json()["data"][0]["id"] == pid
    assert kc.get(f"/api/profiles/{pid}/segments").json()["data"][0]["id"] == sid
    found = kc.get("/api/segments", params={"filter": 'equals(name,"LINE users")'}).json()["data"]
    assert [s["id"] for s in found] == [sid]


def test_created_segment_processes_for_a_few_polls(klaviyo_standin, kc):
    klaviyo_standin.segment_processing_polls = 2
    body = {"data": {"type": "segment", "attributes": {"name": "Opened LINE (30d)", "definition": {
        "condition_groups": [{"conditions": [{"type": "profile-metric", "metric_id": "AbC123", "measurement": "count",
                                              "measurement_filter": {"type": "numeric", "operator": "greater-than",
                                                                     "value": 0},
                                              "timeframe_filter": {"type": "date", "operator": "in-the-last",
                                                                   "quantity": 30, "unit": "day"}}]}]}}}}
    created = kc.post("/api/segments", content=json.dumps(body))
    assert created.status_code == 201
    sid = created.json()["data"]["id"]
    polls = [kc.get(f"/api/segments/{sid}").json()["data"]["attributes"]["is_processing"] for _ in range(3)]
    assert polls == [True, True, False]


def test_metric_aggregates_count_and_unique_in_timezone(klaviyo_standin, kc):
    a = klaviyo_standin.add_profile(email="a@example.com")
    b = klaviyo_standin.add_profile(email="b@example.com")
    mid = klaviyo_standin.add_metric("Opened LINE Message")
    # 2026-05-31T20:00Z is June 1st in Tokyo.
    for pid, when in [(a, "2026-05-31T20:00:00Z"), (a, "2026-06-01T03:00:00Z"), (b, "2026-06-02T03:00:00Z")]:
        klaviyo_standin.add_event(mid, pid, datetime.fromisoformat(when))
    body = {"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": mid, "measurements": ["count", "unique"], "interval": "day", "timezone": "Asia/Tokyo",
        "filter": ["greater-or-equal(datetime,2026-06-01T00:00:00)", "less-than(datetime,2026-06-03T00:00:00)"]}}}
    attrs = kc.post("/api/metric-aggregates", content=json.dumps(body)).json()["data"]["attributes"]
    assert attrs["dates"] == ["2026-06-01T00:00:00+09:00", "2026-06-02T00:00:00+09:00"]
    assert attrs["data"][0]["measurements"] == {"count": [2, 1], "unique": [1, 1]}
    body["data"]["attributes"]["metric_id"] = "NOPE00"
    assert kc.post("/api/metric-aggregates", content=json.dumps(body)).status_code == 400


# -- faults ------------------------------------------------------------------------------------

def test_fail_next_and_respond_next(klaviyo_standin, kc):
    klaviyo_standin.fail_next(2, status=503, path_prefix="/api/metrics")
    klaviyo_standin.respond_next("/api/accounts", 403, "<html>Just a moment...</html>",
                                 headers={"cf-mitigated": "challenge"}, content_type="text/html")
    assert kc.get("/api/profiles").status_code == 200  # other paths unaffected
    assert [kc.get("/api/metrics").status_code for _ in range(3)] == [503, 503, 200]
    challenge = kc.get("/api/accounts")
    assert challenge.status_code == 403 and challenge.headers["content-type"] == "text/html"
    assert challenge.headers["cf-mitigated"] == "challenge"
    assert kc.get("/api/accounts").status_code in (200, 429)


@pytest.mark.parametrize("processed", [False, True])
def test_drop_next_closes_without_answer(klaviyo_standin, kc, processed):
    pid = klaviyo_standin.add_profile(email="a@example.com")
    klaviyo_standin.drop_next(1, "/api/event-bulk-create-jobs", process_before_drop=processed)
    with pytest.raises(httpx.RemoteProtocolError):
        post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "1"))))
    assert len(klaviyo_standin.events) == (1 if processed else 0)
    assert klaviyo_standin.requests[-1].dropped
    assert post_bulk(kc, bulk_body(entry(pid, event("Sent LINE Message", "1")))).status_code == 202
    assert len(klaviyo_standin.events) == 1


def test_fault_rate_is_reproducible():
    def outcomes(seed: int) -> list:
        with KlaviyoStandIn(api_key=KLAVIYO_TEST_KEY, validate=False) as standin:
            standin.rate_limits_enabled = False
            standin.inject_fault_rate(0.5, seed=seed)
            result = []
            with httpx.Client(base_url=standin.base_url, headers={
                    "Authorization": f"Klaviyo-API-Key {KLAVIYO_TEST_KEY}", "revision": "2026-07-15"}) as client:
                for _ in range(12):
                    try:
                        result.append(client.get("/api/metrics").status_code)
                    except httpx.RemoteProtocolError:
                        result.append("drop")
            return result

    first = outcomes(7)
    assert first == outcomes(7)
    assert 200 in first and any(s != 200 for s in first)


def test_throttle_next_is_a_klaviyo_429(klaviyo_standin, kc):
    klaviyo_standin.throttle_next(1, "/api/metrics", retry_after=0)
    response = kc.get("/api/metrics")
    assert response.status_code == 429 and response.headers["Retry-After"] == "0"
    assert response.json()["errors"][0]["detail"] == "Request was throttled. Expected available in 0 seconds."


# -- LINE ---------------------------------------------------------------------------------------

@pytest.fixture
def lc(line_standin):
    with httpx.Client(base_url=line_standin.base_url, headers={"Authorization": f"Bearer {LINE_TEST_TOKEN}"}) as c:
        yield c


def test_line_bot_info_and_profiles(line_standin, lc):
    line_standin.add_user(KNOWN_USER, "Taro")
    assert lc.get("/v2/bot/info").json()["basicId"].startswith("@")
    assert lc.get(f"/v2/bot/profile/{KNOWN_USER}").json() == {"userId": KNOWN_USER, "displayName": "Taro"}
    missing = lc.get(f"/v2/bot/profile/{UNKNOWN_USER}")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not found"})
    assert lc.get("/v2/bot/profile/not-a-user-id").status_code == 400
    assert "x-line-request-id" in missing.headers


def test_line_wrong_token_gets_401_message(line_standin):
    response = httpx.get(f"{line_standin.base_url}/v2/bot/info", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["message"].startswith("Authentication failed.")


def test_line_verify_endpoints(line_standin):
    ok = httpx.post(f"{line_standin.base_url}/v2/oauth/verify", data={"access_token": LINE_TEST_TOKEN})
    assert ok.json()["client_id"] == "1234567890" and ok.json()["expires_in"] > 0
    bad = httpx.post(f"{line_standin.base_url}/v2/oauth/verify", data={"access_token": "nope"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
    line_standin.add_token("jwt-token", kind="v2.1", expires_in=2592000)
    jwt = httpx.get(f"{line_standin.base_url}/oauth2/v2.1/verify", params={"access_token": "jwt-token"})
    assert jwt.json()["expires_in"] == 2592000


@requires_specs
def test_line_verify_with_authorization_header_is_a_violation(line_standin):
    httpx.get(f"{line_standin.base_url}/oauth2/v2.1/verify", params={"access_token": LINE_TEST_TOKEN},
              headers={"Authorization": f"Bearer {LINE_TEST_TOKEN}"})
    assert any("takes no Authorization" in v for v in line_standin.contract_violations)
    line_standin.contract_violations.clear()
