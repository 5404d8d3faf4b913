"""The typed doors to Klaviyo and LINE: every Klaviyo operation has its row, every method sends a request
the spec accepts, records parse realistic documents, and core speaks no HTTP."""

from __future__ import annotations

import gc
import re
import weakref
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from linesync_cli.api.http import RetryPolicy
from linesync_cli.api.klaviyo import OPERATIONS, KlaviyoClient, Listing, Op
from linesync_cli.api.klaviyo_records import (
    parse_account,
    parse_event_page,
    parse_flow,
    parse_metric,
    parse_profile,
    parse_segment,
)
from tests.support.spec import assert_all_valid, requires_specs
from tests.support.standin_cli import KLAVIYO_TEST_KEY

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://a.klaviyo.com"


def client() -> KlaviyoClient:
    return KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), BASE, retry=RetryPolicy(max_attempts=1),
                         sleep=lambda s: None, clock=lambda: 0.0)


def test_every_operation_has_its_limits_and_scope():
    # A member without a row would be sent with no pacing and a vague 403 hint.
    assert set(OPERATIONS) == set(Op)
    assert all(burst > 0 and steady > 0 and scope for burst, steady, scope in OPERATIONS.values())


def test_an_unknown_operation_cannot_be_sent():
    with pytest.raises(ValueError):
        client().limiter_for("get_metricz")


# Filter syntax, JSON:API envelopes, cursors and sparse fields: the client writes them.
# `(?<![.\w])fields\[` leaves Rich's `task.fields[...]` alone.
HTTP_DETAIL = r'greater-or-equal|less-than|equals\(|"data":|page_cursor|(?<![.\w])fields\['
# The bulk-create encoder writes the event bodies byte by byte in core: backfill sizes each
# batch against the 5 MB cap as it grows, hashes and records exactly those bytes.
BYTE_EXACT_ENCODER = {"linesync_cli/core/backfill/batching.py", "linesync_cli/core/backfill/records.py"}


def test_core_never_opens_the_raw_transport():
    """The typed methods are the only door: no paths, operation IDs, HTTP detail or untyped clients in core or
    commands."""
    offenders = []
    for folder in ("core", "commands"):
        for path in sorted((ROOT / "linesync_cli" / folder).rglob("*.py")):
            text = path.read_text()
            for pattern in (r'"/api/', r"\bop=", r"\b(client|klaviyo|line): Any\b", r"\._(get|post|pages|iterate)\(",
                            HTTP_DETAIL):
                if folder == "commands" and "Any" in pattern:
                    continue  # commands are not core; the rule is for core
                if pattern == HTTP_DETAIL and str(path.relative_to(ROOT)) in BYTE_EXACT_ENCODER:
                    continue
                for m in re.finditer(pattern, text):
                    offenders.append(f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}: {m.group()}")
    assert offenders == []


@requires_specs
def test_every_typed_method_sends_what_the_spec_accepts(httpx_mock):
    httpx_mock.add_response(json={"data": [], "links": {"next": None}}, is_reusable=True)
    c = client()
    when = datetime(2026, 10, 1, tzinfo=UTC)
    c.get_account()
    for listing in Listing:
        c.check_read(listing)
    c.list_metrics(api_only=True)
    c.list_metrics(api_only=False)
    c.get_flows_triggered_by_metric("AbC123")
    c.metric_aggregates("AbC123", measurements=("count", "unique"), interval="day", since=when,
                        until=when.replace(day=8), timezone="Asia/Tokyo")
    c.metric_aggregates("AbC123", measurements=("sum_value",), interval="hour", since=when,
                        until=when.replace(day=2), timezone="UTC", by=("$message",))
    list(c.profile_events("01PROFILE", since=when, until=when.replace(day=2), page_size=50))
    list(c.metric_events("AbC123", until=when, page_size=20))
    list(c.metric_events_between("AbC123", when, when.replace(day=15)))
    c.latest_event_time("AbC123")
    c.get_events_page("AbC123", when, when.replace(day=2))
    c.get_events_page("AbC123", when, when.replace(day=2), cursor="bmV4dA", profile_id="01PROFILE", page_size=200)
    c.get_profile("01PROFILE")
    c.profiles_where("email", "taro@example.jp")
    c.profiles_in("id", ["01A", "01B"])
    c.profiles_in("external_id", ["U" + "0" * 32], only_field=True)
    c.profile_properties_page(None)
    c.profile_properties_page("cur", segment_id="Seg123")
    c.profile_properties_page(None, updated_after=when)
    c.get_segment("Seg123")
    c.is_segment_member("Seg123", "01PROFILE")
    c.segments_named('say "hi"')
    c.create_segment("LINE clickers", {"condition_groups": [{"conditions": [{
        "type": "profile-property", "property": "properties['LINE User ID']",
        "filter": {"type": "existence", "operator": "is-set"}}]}]})
    assert_all_valid(httpx_mock.get_requests())


# -- records from realistic documents ---------------------------------------------------------

def test_read_page_carries_event_id_profile_and_the_next_cursor():
    from linesync_cli.api.klaviyo_records import parse_read_page

    doc = {"data": [
        {"type": "event", "id": "E1", "attributes": {"datetime": "2026-10-01T09:00:00+00:00",
                                                     "event_properties": {"$event_id": "ev-1", "Broadcast ID": "B"}},
         "relationships": {"profile": {"data": {"type": "profile", "id": "P1"}}}},
        {"type": "event", "id": "E2", "attributes": {"event_properties": None}},
    ], "links": {"next": "https://a.klaviyo.com/api/events?filter=x&page%5Bcursor%5D=abc%3D"}}
    page = parse_read_page(doc, "M1", 1000)
    first, second = page.events
    assert (first.id, first.metric_id, first.profile_id, first.unique_id) == ("E1", "M1", "P1", "ev-1")
    assert second.profile_id is None and second.properties == {} and second.unique_id is None
    assert page.next_cursor == "abc=" and page.page_size == 1000
    assert parse_read_page({"data": [], "links": {"next": None}}, "M1", 200).next_cursor is None


def test_event_page_carries_its_included_metric_and_profile_and_tolerates_gaps():
    doc = {
        "data": [
            {"type": "event", "id": "E1",
             "attributes": {"datetime": "2026-10-01T09:00:00+00:00", "event_properties": {"URL": "https://x.jp"}},
             "relationships": {"metric": {"data": {"type": "metric", "id": "M1"}},
                               "profile": {"data": {"type": "profile", "id": "P1"}}}},
            {"type": "event", "id": "E2", "attributes": {}},  # sparse: no datetime, no relationships
        ],
        "included": [
            {"type": "metric", "id": "M1", "attributes": {
                "name": "Clicked LINE Message", "integration": {"name": "App", "category": {"category": "API"}}}},
            {"type": "profile", "id": "P1", "attributes": {"email": "taro@example.jp"}},
        ],
        "links": {"next": "https://a.klaviyo.com/api/events?page%5Bcursor%5D=x"},
    }
    page = parse_event_page(doc)
    first, second = page.events
    assert first.datetime == datetime(2026, 10, 1, 9, tzinfo=UTC) and first.properties == {"URL": "https://x.jp"}
    assert (first.metric_id, first.profile_id) == ("M1", "P1")
    assert page.metrics["M1"].integration_category == "API" and page.metrics["M1"].is_api  # OAuth-app shape
    assert page.profiles["P1"].email == "taro@example.jp" and page.profiles["P1"].phone_number is None
    assert (second.datetime, second.metric_id, second.profile_id, second.properties) == (None, None, None, {})
    assert page.has_next and not parse_event_page({"data": []}).has_next


def test_missing_optional_attributes_are_none_not_key_errors():
    assert parse_profile({"type": "profile", "id": "P1", "attributes": {"properties": "not a dict"}}) \
        == parse_profile({"id": "P1"})
    p = parse_profile({"id": "P1"})
    assert (p.email, p.phone_number, p.external_id, p.properties) == (None, None, None, {})
    m = parse_metric({"id": "M1", "attributes": {"name": "Opened Email"}})
    assert (m.integration_name, m.integration_category, m.created, m.is_api) == ("", "", None, False)
    account = parse_account({"data": []})
    assert (account.id, account.organization_name, account.timezone, account.test_account) == (None, None, None, False)
    account = parse_account({"data": [{"id": "Ac1", "attributes": {
        "contact_information": {"organization_name": "Shop"}, "test_account": True, "timezone": "Asia/Tokyo"}}]})
    assert (account.id, account.organization_name, account.test_account, account.timezone) == \
        ("Ac1", "Shop", True, "Asia/Tokyo")
    seg = parse_segment({"id": "S1", "attributes": {"name": "LINE clickers", "is_active": "yes"}})
    assert (seg.name, seg.is_active, seg.is_processing, seg.updated) == ("LINE clickers", None, None, None)
    assert parse_segment(None).id == ""  # a create answered without a body
    flow = parse_flow({"id": "F1", "attributes": {"name": "Welcome", "status": "live"}})
    assert (flow.name, flow.status, flow.archived) == ("Welcome", "live", False)


def test_line_records_parse_what_line_sends_and_tolerate_gaps():
    from linesync_cli.api.line import BotInfo, LineProfile, TokenInfo

    bot = BotInfo.parse({"userId": "U" + "a" * 32, "basicId": "@123abcde", "displayName": "Shop",
                         "chatMode": "bot", "markAsReadMode": "auto"})
    assert (bot.basic_id, bot.chat_mode, bot.premium_id) == ("@123abcde", "bot", None)
    assert BotInfo.parse([]) == BotInfo(None, None, None, None, None, None)  # not an object: nothing, not a crash
    assert LineProfile.parse({"displayName": "Hanako"}) == LineProfile(None, "Hanako")
    assert TokenInfo.parse({"client_id": "1350031035", "expires_in": 2591659, "scope": "profile"}) \
        == TokenInfo("1350031035", 2591659, "profile")
    # expires_in that is not a number (or a bool) is unknown, so doctor says "expiry unknown"
    assert TokenInfo.parse({"expires_in": "soon"}).expires_in is None
    assert TokenInfo.parse({"expires_in": True}).expires_in is None


def test_raw_event_page_finds_the_cursor_whatever_the_member_order():
    import json

    from linesync_cli.api.klaviyo_records import parse_raw_event_page

    nxt = "https://a.klaviyo.com/api/events?filter=x&page%5Bcursor%5D=abc%3D"
    event = {"type": "event", "id": "E1", "attributes": {"event_properties": {"links": {"next": "?page%5Bcursor%5D=no"}}},
             "links": {"self": "https://a.klaviyo.com/api/events/E1/"}}
    last = json.dumps({"data": [event], "links": {"self": "s", "next": nxt}}).encode()
    first = json.dumps({"links": {"self": "s", "next": nxt}, "data": [event]}).encode()
    done = json.dumps({"links": {"next": None}, "data": [event]}, indent=2).encode()
    assert parse_raw_event_page(last, 1000).next_cursor == "abc="
    assert parse_raw_event_page(first, 1000).next_cursor == "abc="  # the event's own links are not the page's
    assert parse_raw_event_page(done, 200).next_cursor is None and parse_raw_event_page(done, 200).page_size == 200
    assert parse_raw_event_page(last, 1000).body is last
    with pytest.raises(ValueError):
        parse_raw_event_page(b"<html>502 Bad Gateway</html>", 1000)


def test_a_response_and_its_request_are_freed_when_dropped_without_the_cyclic_collector(klaviyo_standin):
    """httpx's response and its stream refer to each other; unbroken, every response (its request,
    and a backfill's body of up to 5 MB) waited for the cyclic collector, and a run that holds the
    collector off kept every body it sent since the last one."""
    client = KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), klaviyo_standin.base_url, retry=RetryPolicy(max_attempts=1))
    gc.disable()
    try:
        response = client.send("GET", "/api/accounts", op=Op.GET_ACCOUNTS)
        assert response.json()["data"], "read as before"
        freed, request_freed = weakref.ref(response), weakref.ref(response.request)
        del response
        assert freed() is None
        assert request_freed() is None
    finally:
        gc.enable()
        client.close()
