"""The contract validator itself: it passes known-good requests and fails bad ones."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from tests.support.spec import (
    assert_all_valid,
    requires_specs,
    validate_klaviyo_request,
    validate_line_request,
    validate_request,
)

pytestmark = requires_specs

KEY_HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_test_contract_0000",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
}

# klaviyo-api.md section 7 (bulk create), section 8 (aggregates) and section 9 (segment).
BULK_EXAMPLE = {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [
    {"type": "event-bulk-create", "attributes": {
        "backfill": True,
        "profile": {"data": {"type": "profile", "id": "01HZZZPROFILEIDPLACEHOLDER0", "attributes": {}}},
        "events": {"data": [
            {"type": "event", "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": "Sent LINE Message"}}},
                "properties": {"line_user_id": "Uxxxxxxxx", "line_message_id": "m-123", "source": "linesync"},
                "time": "2026-05-01T09:30:00+09:00",
                "unique_id": "linesync:sent:m-123",
                "backfill": True}},
        ]}}},
]}}}}

AGGREGATE_EXAMPLE = {"data": {"type": "metric-aggregate", "attributes": {
    "metric_id": "AbC123", "measurements": ["count", "unique"], "interval": "month",
    "filter": ["greater-or-equal(datetime,2026-06-01T00:00:00)", "less-than(datetime,2026-07-01T00:00:00)"],
    "timezone": "Asia/Tokyo"}}}

SEGMENT_EXAMPLE = {"data": {"type": "segment", "attributes": {
    "name": "LINE opened, no click (30d)", "definition": {"condition_groups": [
        {"conditions": [{"type": "profile-metric", "metric_id": "OPENED_ID", "measurement": "count",
                         "measurement_filter": {"type": "numeric", "operator": "greater-than", "value": 0},
                         "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 30, "unit": "day"}}]},
        {"conditions": [{"type": "profile-metric", "metric_id": "CLICKED_ID", "measurement": "count",
                         "measurement_filter": {"type": "numeric", "operator": "equals", "value": 0},
                         "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 30, "unit": "day"}}]},
    ]}}}}


def first_event(body: dict) -> dict:
    return body["data"]["attributes"]["events-bulk-create"]["data"][0]["attributes"]["events"]["data"][0]["attributes"]


# -- the fact sheet's own examples pass -----------------------------------------

def test_bulk_create_example_passes():
    assert validate_klaviyo_request("POST", "https://a.klaviyo.com/api/event-bulk-create-jobs",
                                    KEY_HEADERS, json.dumps(BULK_EXAMPLE).encode()) == "bulk_create_events"


def test_aggregate_example_passes():
    assert validate_klaviyo_request("POST", "/api/metric-aggregates", KEY_HEADERS, AGGREGATE_EXAMPLE) \
        == "query_metric_aggregates"


def test_segment_example_passes_despite_numeric_oneof_quirk():
    # `value: 0` matches both branches of the spec's oneOf [integer, number].
    assert validate_klaviyo_request("POST", "/api/segments/", KEY_HEADERS, SEGMENT_EXAMPLE) == "create_segment"


def test_numeric_value_still_must_be_a_number():
    body = copy.deepcopy(SEGMENT_EXAMPLE)
    body["data"]["attributes"]["definition"]["condition_groups"][0]["conditions"][0]["measurement_filter"]["value"] = "0"
    with pytest.raises(AssertionError, match=r"create_segment .*measurement_filter"):
        validate_klaviyo_request("POST", "/api/segments", KEY_HEADERS, body)


@pytest.mark.parametrize("url, op", [
    ('/api/metrics?filter=equals(integration.category,"API")&fields[metric]=name,created,updated,integration',
     "get_metrics"),
    ("/api/metrics/AbC123/flow-triggers?fields[flow]=name,status,archived,trigger_type",
     "get_flows_triggered_by_metric"),
    ("/api/metrics/AbC123", "get_metric"),
    ('/api/events?filter=equals(profile_id,"01HZ"),has(metric),greater-or-equal(datetime,2026-06-01T00:00:00Z)'
     "&include=metric&fields[metric]=name,integration&fields[event]=datetime,event_properties,uuid"
     "&sort=-datetime&page[size]=200", "get_events"),
    ('/api/profiles?filter=any(external_id,["U1","U2"])&page[size]=100&fields[profile]=external_id,email',
     "get_profiles"),
    ("/api/accounts/", "get_accounts"),
])
def test_known_good_queries_pass(url, op):
    assert validate_klaviyo_request("GET", url, KEY_HEADERS) == op


# -- and it can fail ------------------------------------------------------------

def test_bad_body_fails_with_operation_and_json_path():
    body = copy.deepcopy(BULK_EXAMPLE)
    first_event(body)["time"] = 1767225600
    with pytest.raises(AssertionError) as info:
        validate_klaviyo_request("POST", "/api/event-bulk-create-jobs", KEY_HEADERS, body)
    message = str(info.value)
    assert "bulk_create_events" in message
    assert "$.data.attributes.events-bulk-create.data[0].attributes.events.data[0].attributes.time" in message


def test_missing_required_body_member_fails():
    body = copy.deepcopy(BULK_EXAMPLE)
    del first_event(body)["metric"]
    with pytest.raises(AssertionError, match="metric"):
        validate_klaviyo_request("POST", "/api/event-bulk-create-jobs", KEY_HEADERS, body)


def test_wrong_type_member_fails():
    body = copy.deepcopy(BULK_EXAMPLE)
    body["data"]["type"] = "event-bulk-create"
    with pytest.raises(AssertionError, match="bulk_create_events"):
        validate_klaviyo_request("POST", "/api/event-bulk-create-jobs", KEY_HEADERS, body)


def test_unknown_query_parameter_fails():
    with pytest.raises(AssertionError, match=r"get_metrics .*'page\[size\]' is not declared"):
        validate_klaviyo_request("GET", "/api/metrics?page[size]=50", KEY_HEADERS)


def test_missing_revision_header_fails():
    headers = {k: v for k, v in KEY_HEADERS.items() if k != "revision"}
    with pytest.raises(AssertionError, match="required header 'revision' is missing"):
        validate_klaviyo_request("GET", "/api/metrics", headers)


def test_missing_or_wrong_auth_scheme_fails():
    headers = dict(KEY_HEADERS, Authorization="Bearer pk_test_contract_0000")
    with pytest.raises(AssertionError, match="Klaviyo-API-Key"):
        validate_klaviyo_request("GET", "/api/metrics", headers)


def test_wrong_fields_value_fails():
    with pytest.raises(AssertionError, match=r"fields\[metric\].*'title' is not one of"):
        validate_klaviyo_request("GET", "/api/metrics?fields[metric]=name,title", KEY_HEADERS)


def test_wrong_include_value_fails():
    with pytest.raises(AssertionError, match="include"):
        validate_klaviyo_request("GET", "/api/events?include=profiles", KEY_HEADERS)


def test_page_size_out_of_range_fails():
    with pytest.raises(AssertionError, match=r"page\[size\].*maximum of 100"):
        validate_klaviyo_request("GET", "/api/profiles?page[size]=101", KEY_HEADERS)


def test_filter_on_unfilterable_field_fails():
    # get_profiles cannot filter custom properties (fact sheet section 4).
    with pytest.raises(AssertionError, match="not filterable"):
        validate_klaviyo_request("GET", "/api/profiles?filter=equals(properties['LINE User ID'],\"U1\")", KEY_HEADERS)


def test_filter_operator_not_allowed_fails():
    with pytest.raises(AssertionError, match="operator 'any'"):
        validate_klaviyo_request("GET", '/api/metrics?filter=any(integration.name,["API"])', KEY_HEADERS)


def test_quoted_datetime_in_filter_fails():
    with pytest.raises(AssertionError, match="must not be quoted"):
        validate_klaviyo_request("GET", '/api/events?filter=greater-or-equal(datetime,"2026-06-01T00:00:00Z")',
                                 KEY_HEADERS)


def test_unknown_operation_fails():
    with pytest.raises(AssertionError, match="no Klaviyo operation for POST /api/metrics"):
        validate_klaviyo_request("POST", "/api/metrics", KEY_HEADERS, {"data": {}})


def test_wrong_content_type_fails():
    headers = dict(KEY_HEADERS, **{"Content-Type": "text/plain"})
    with pytest.raises(AssertionError, match="Content-Type"):
        validate_klaviyo_request("POST", "/api/event-bulk-create-jobs", headers, json.dumps(BULK_EXAMPLE))


def test_body_on_get_fails():
    with pytest.raises(AssertionError, match="takes no request body"):
        validate_klaviyo_request("GET", "/api/metrics", KEY_HEADERS, b'{"x":1}')


# -- LINE ---------------------------------------------------------------------

def test_line_requests_pass():
    bearer = {"Authorization": "Bearer token-abc"}
    assert validate_line_request("GET", "https://api.line.me/v2/bot/info", bearer) == "getBotInfo"
    assert validate_line_request("GET", "https://api.line.me/v2/bot/profile/U4af4980629", bearer) == "getProfile"
    assert validate_line_request(
        "POST", "https://api.line.me/v2/oauth/verify",
        {"Content-Type": "application/x-www-form-urlencoded"}, b"access_token=abc",
    ) == "verifyChannelToken"
    assert validate_line_request("GET", "https://api.line.me/oauth2/v2.1/verify?access_token=abc", {}) \
        == "verifyChannelTokenByJWT"


def test_line_missing_bearer_fails():
    with pytest.raises(AssertionError, match="getBotInfo .*Bearer"):
        validate_line_request("GET", "https://api.line.me/v2/bot/info", {})


def test_line_verify_with_authorization_header_fails():
    with pytest.raises(AssertionError, match="takes no Authorization"):
        validate_line_request("GET", "https://api.line.me/oauth2/v2.1/verify?access_token=abc",
                              {"Authorization": "Bearer abc"})


def test_line_verify_form_without_token_fails():
    with pytest.raises(AssertionError, match="access_token"):
        validate_line_request("POST", "https://api.line.me/v2/oauth/verify",
                              {"Content-Type": "application/x-www-form-urlencoded"}, b"token=abc")


def test_line_jwt_verify_without_query_token_fails():
    with pytest.raises(AssertionError, match="required query parameter 'access_token'"):
        validate_line_request("GET", "https://api.line.me/oauth2/v2.1/verify", {})


# -- httpx requests -------------------------------------------------------------

def test_validate_request_dispatches_httpx_requests():
    good = httpx.Request("POST", "https://a.klaviyo.com/api/event-bulk-create-jobs",
                         headers=KEY_HEADERS, content=json.dumps(BULK_EXAMPLE).encode())
    line = httpx.Request("GET", "https://api.line.me/v2/bot/info", headers={"Authorization": "Bearer t"})
    assert validate_request(good) == "bulk_create_events"
    assert validate_request(line) == "getBotInfo"
    assert assert_all_valid([good, line]) == ["bulk_create_events", "getBotInfo"]


def test_assert_all_valid_reports_every_failure():
    bad1 = httpx.Request("GET", "https://a.klaviyo.com/api/metrics?bogus=1", headers=KEY_HEADERS)
    bad2 = httpx.Request("GET", "https://api.line.me/v2/bot/info")
    with pytest.raises(AssertionError) as info:
        assert_all_valid([bad1, bad2])
    assert "request 1/2" in str(info.value) and "request 2/2" in str(info.value)


def test_client_requests_are_valid(httpx_mock):
    """The real clients' requests, captured by pytest-httpx, pass the contract."""
    from pydantic import SecretStr

    from linesync_cli.api.klaviyo import KlaviyoClient

    httpx_mock.add_response(json={"data": [], "links": {}}, is_reusable=True)
    client = KlaviyoClient(SecretStr("pk_test_contract_0000"), sleep=lambda s: None)
    client.list_metrics(api_only=True)
    client.get_flows_triggered_by_metric("AbC123")
    client.get_account()
    httpx_mock.add_response(status_code=202, url="https://a.klaviyo.com/api/event-bulk-create-jobs")
    client.bulk_create_events_encoded(json.dumps(BULK_EXAMPLE).encode())
    assert assert_all_valid(httpx_mock.get_requests()) == [
        "get_metrics", "get_flows_triggered_by_metric", "get_accounts", "bulk_create_events"]
