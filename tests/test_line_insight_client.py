"""The LINE client's Insight methods: typed results, pacing at 60 an hour per endpoint, errors."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from pydantic import SecretStr

from linesync_cli.api.line import LineClient
from linesync_cli.api.line_insight import DeliveryCounts, FollowerCounts
from linesync_cli.errors import AuthError, ExitCode, MissingScope, RateLimited
from tests.test_foundation import FakeTime


def client(handler, time: FakeTime | None = None) -> LineClient:
    time = time or FakeTime()
    return LineClient(SecretStr("tok-SECRET-123456"), "https://api.line.me", transport=httpx.MockTransport(handler),
                      clock=time.clock, sleep=time.sleep)


def test_deliveries_are_typed_with_absent_types_as_0_and_nulls_as_withheld():
    docs = iter([{"status": "ready", "broadcast": 5385, "targeting": 522},
                 {"status": "ready", "apiPush": None},
                 {"status": "unready"}])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["date"])
        return httpx.Response(200, json=next(docs))

    line = client(handler)
    ready = line.get_message_deliveries(date(2026, 11, 30))
    assert ready == DeliveryCounts(date(2026, 11, 30), "ready", {"broadcast": 5385, "targeting": 522})
    assert ready.total == 5907 and not ready.withheld
    withheld = line.get_message_deliveries(date(2026, 12, 1))
    assert withheld.withheld and withheld.total is None
    assert line.get_message_deliveries(date(2026, 12, 2)).total is None
    assert seen == ["20261130", "20261201", "20261202"]


def test_followers_are_typed():
    line = client(lambda r: httpx.Response(200, json={"status": "ready", "followers": 7620, "targetedReaches": 5848,
                                                      "blocks": 237}))
    assert line.get_followers(date(2026, 1, 2)) == FollowerCounts(date(2026, 1, 2), "ready", 7620, 5848, 237)


def test_insight_is_paced_at_60_an_hour_per_endpoint():
    time = FakeTime()
    line = client(lambda r: httpx.Response(200, json={"status": "ready"}), time)
    for _ in range(60):
        line.get_followers(date(2026, 1, 1))
        line.get_message_deliveries(date(2026, 1, 1))
    assert time.sleeps == []  # two endpoints, 60 each: within both budgets
    line.get_followers(date(2026, 1, 1))
    assert sum(time.sleeps) >= 3600  # the 61st request of one endpoint waits for the hour to roll


def test_401_is_exit_3_and_403_names_the_insight_permission():
    line = client(lambda r: httpx.Response(401, json={"message": "Authentication failed."}))
    with pytest.raises(AuthError) as refused:
        line.get_followers(date(2026, 1, 1))
    assert refused.value.exit_code == ExitCode.AUTH
    line = client(lambda r: httpx.Response(403, json={"message": "Access to this API is not available for your account"}))
    with pytest.raises(MissingScope) as forbidden:
        line.get_message_event("abc")
    assert forbidden.value.exit_code == ExitCode.AUTH
    assert forbidden.value.message.startswith("LINE refused GET /v2/bot/insight/message/event (403: Access to this")
    assert "access to the account's statistics (Messaging API Insight)" in forbidden.value.message
    assert "SECRET" not in forbidden.value.message + (forbidden.value.hint or "")


def test_5xx_is_retried():
    answers = iter([httpx.Response(503, json={"message": "busy"}), httpx.Response(200, json={"status": "unready"})])
    line = client(lambda r: next(answers))
    assert line.get_followers(date(2026, 1, 1)).status == "unready"
    assert line.stats["retries"] == 1


def test_429_that_outlasts_the_retries_says_the_hourly_budget_is_spent():
    line = client(lambda r: httpx.Response(429, json={"message": "The API rate limit has been exceeded."}))
    with pytest.raises(RateLimited) as limited:
        line.get_message_deliveries(date(2026, 1, 1))
    assert limited.value.exit_code == ExitCode.UNAVAILABLE
    assert limited.value.message == ("LINE kept answering 429 for GET /v2/bot/insight/message/delivery: it allows "
                                     "60 Insight requests an hour per endpoint and channel")
    assert "run again in an hour" in (limited.value.hint or "")
