"""Metric aggregates: the client's request bytes and paging (validated against the spec), core's zero-filled series."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from linesync_cli.api.http import RetryPolicy
from linesync_cli.api.klaviyo import KlaviyoClient
from linesync_cli.api.klaviyo_records import parse_aggregate_page
from linesync_cli.core.aggregates import (
    AggregateQuery,
    AggregateSeries,
    bucket_starts,
    klaviyo_zone_name,
    query_aggregates,
    series_from_pages,
)
from linesync_cli.errors import UsageError
from tests.support.spec import check_contract

BASE = "https://a.klaviyo.test"
TOKYO = ZoneInfo("Asia/Tokyo")


def client() -> KlaviyoClient:
    return KlaviyoClient(SecretStr("pk_test_aggregates_0000"), BASE, retry=RetryPolicy(max_attempts=2),
                         sleep=lambda s: None)


def response(dates: list[str], count: list | None = None, unique: list | None = None, **extra) -> dict:
    measurements = {}
    if count is not None:
        measurements["count"] = count
    if unique is not None:
        measurements["unique"] = unique
    rows = [{"dimensions": [], "measurements": measurements}] if measurements else []
    doc = {"data": {"type": "metric-aggregate", "id": "1", "attributes": {"dates": dates, "data": rows},
                    "links": {"self": f"{BASE}/api/metric-aggregates"}}}
    doc.update(extra)
    return doc


def tokyo_query(**kw) -> AggregateQuery:
    defaults = dict(
        metric_id="SENT01",
        since=datetime(2026, 11, 1, tzinfo=TOKYO),
        until=datetime(2026, 11, 4, tzinfo=TOKYO),
        interval="day",
        measurements=("count", "unique"),
        timezone="Asia/Tokyo",
    )
    return AggregateQuery(**(defaults | kw))


def parse_pages(query: AggregateQuery, docs: list[dict]) -> AggregateSeries:
    return series_from_pages(query, [parse_aggregate_page(doc) for doc in docs])


def test_body_has_local_bounds_with_offset_and_no_quotes(httpx_mock) -> None:
    # The exact bytes: bounds in the query's zone with their offset, unquoted; no page_cursor on page one.
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/metric-aggregates", json=response([]))
    with client() as c:
        query_aggregates(c, tokyo_query())
    assert httpx_mock.get_requests()[0].content == (
        b'{"data":{"type":"metric-aggregate","attributes":{"metric_id":"SENT01","measurements":["count","unique"],'
        b'"interval":"day","filter":["greater-or-equal(datetime,2026-11-01T00:00:00+09:00)",'
        b'"less-than(datetime,2026-11-04T00:00:00+09:00)"],"timezone":"Asia/Tokyo"}}}'
    )


def test_gaps_are_zero_filled_on_the_zone_calendar() -> None:
    # Klaviyo left out 11-02; a metric with no row at all is zeros too.
    doc = response(["2026-11-01T00:00:00+09:00", "2026-11-03T00:00:00+09:00"], count=[5, 2], unique=[3, 2])
    series = parse_pages(tokyo_query(), [doc])
    assert [b.start.isoformat() for b in series.buckets] == [
        "2026-11-01T00:00:00+09:00", "2026-11-02T00:00:00+09:00", "2026-11-03T00:00:00+09:00",
    ]
    assert series.values("count") == [5, 0, 2]
    assert series.sum("count") == 7
    empty = parse_pages(tokyo_query(), [response([])])
    assert empty.values("count") == [0, 0, 0] and empty.range_unique().value == 0


def test_range_unique_is_exact_only_with_one_active_bucket() -> None:
    many = parse_pages(tokyo_query(), [response(
        ["2026-11-01T00:00:00+09:00", "2026-11-02T00:00:00+09:00", "2026-11-03T00:00:00+09:00"],
        count=[5, 1, 2], unique=[3, 1, 2])])
    ru = many.range_unique()
    assert (ru.value, ru.exact, ru.lower_bound) == (6, False, 3)
    with pytest.raises(ValueError):
        many.sum("unique")
    one = parse_pages(tokyo_query(), [response(
        ["2026-11-01T00:00:00+09:00", "2026-11-02T00:00:00+09:00", "2026-11-03T00:00:00+09:00"],
        count=[0, 4, 0], unique=[0, 3, 0])])
    assert one.range_unique().exact and one.range_unique().value == 3


def test_klaviyo_dates_off_our_grid_are_kept_as_given() -> None:
    # Dates in UTC midnight although we asked for Tokyo: trust Klaviyo's buckets.
    doc = response(["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"], count=[1, 2], unique=[1, 1])
    series = parse_pages(tokyo_query(until=datetime(2026, 11, 3, tzinfo=TOKYO)), [doc])
    assert series.values("count") == [1, 2]


def test_bucket_starts_for_weeks_months_and_hours() -> None:
    since, until = datetime(2026, 10, 20, 12, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    months = bucket_starts(since, until, "month", UTC)
    assert [m.date().isoformat() for m in months] == ["2026-10-01", "2026-11-01", "2026-12-01"]
    weeks = bucket_starts(since, until, "week", UTC)
    assert weeks[0].date().isoformat() == "2026-10-19" and all(w.weekday() == 0 for w in weeks)
    sunday_weeks = bucket_starts(since, until, "week", UTC, week_anchor=datetime(2026, 10, 18).date())
    assert sunday_weeks[0].date().isoformat() == "2026-10-18"
    hours = bucket_starts(datetime(2026, 11, 1, 0, 30, tzinfo=UTC), datetime(2026, 11, 1, 3, tzinfo=UTC), "hour", UTC)
    assert len(hours) == 3


def test_zone_names_follow_klaviyo() -> None:
    assert klaviyo_zone_name("Europe/Kyiv") == "Europe/Kiev"
    assert klaviyo_zone_name("utc") == "UTC"
    with pytest.raises(UsageError):
        klaviyo_zone_name("Factory")
    with pytest.raises(UsageError):
        klaviyo_zone_name("Mars/Olympus")


def test_query_follows_page_cursor_and_every_body_matches_the_spec(httpx_mock) -> None:
    dates = ["2026-11-01T00:00:00+09:00", "2026-11-02T00:00:00+09:00", "2026-11-03T00:00:00+09:00"]
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/metric-aggregates",
                            json=response(dates, count=[1, 2, 3], unique=[1, 1, 1],
                                          links={"self": "x", "next": f"{BASE}/api/metric-aggregates?page_cursor=CUR2"}))
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/metric-aggregates",
                            json=response(dates, count=[10, 0, 0], unique=[1, 0, 0]))
    with client() as c:
        series = query_aggregates(c, tokyo_query())
    assert series.values("count") == [11, 2, 3]
    requests = httpx_mock.get_requests()
    assert len(requests) == 2
    assert json.loads(requests[1].content)["data"]["attributes"]["page_cursor"] == "CUR2"
    assert "page_cursor" not in json.loads(requests[0].content)["data"]["attributes"]
    check_contract(requests, operations=["query_metric_aggregates"] * 2)
