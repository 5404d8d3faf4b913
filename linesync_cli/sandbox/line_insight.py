"""LINE's Insight endpoints for the LINE stand-in (spec `../shared/specs/line/insight.yml`).

Answers as line-api.md section 10 describes:
- `GET /v2/bot/insight/message/delivery?date=yyyyMMdd` and `GET /v2/bot/insight/followers?date=`:
  JST days; `unready` for today and later (and for days marked so), `out_of_service`
  before the account's first day; figures under the privacy threshold (fewer than 20)
  are null; a send type not used that day is left out.
- `GET /v2/bot/insight/message/event?requestId=`: the overview, messages and clicks of a
  broadcast or narrowcast; an unknown request ID gets an overview of nulls (stand-in
  choice: LINE's answer for it is not documented).
- `GET /v2/bot/insight/message/event/aggregation?customAggregationUnit=&from=&to=`: a unit's
  overview (no `delivered`); `to` more than 30 days after `from` is a 400.

Seed it with `seed_insight(first_day, delivered=[...], followed=[...], blocked=[...])` (one
value per JST day from `first_day`), or day by day with `set_delivery` / `set_followers`;
`add_message_event(...)` and `add_unit(...)` for per-send figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9), "JST")
PRIVACY_THRESHOLD = 20
INSIGHT_OPS = {
    "/v2/bot/insight/message/delivery": "getNumberOfMessageDeliveries",
    "/v2/bot/insight/followers": "getNumberOfFollowers",
    "/v2/bot/insight/message/event": "getMessageEvent",
    "/v2/bot/insight/message/event/aggregation": "getStatisticsPerUnit",
}
_DATE = re.compile(r"[0-9]{8}")
_UNIT = re.compile(r"[a-zA-Z0-9_]{1,30}")


def jst_today() -> date:
    return datetime.now(UTC).astimezone(JST).date()


def _withheld(value: int | None) -> int | None:
    return None if value is None or value < PRIVACY_THRESHOLD else value


class InsightFigures:
    """The Insight state of one stand-in channel (all under the stand-in's lock)."""

    def __init__(self) -> None:
        self.account_first_day: date | None = None  # days before it are out_of_service
        self.deliveries: dict[date, dict[str, int]] = {}  # JST day -> send type -> delivered
        self.followers: dict[date, dict[str, int]] = {}  # JST day -> followers/targetedReaches/blocks
        self.unready_days: set[date] = set()
        self.message_events: dict[str, dict[str, Any]] = {}
        self.units: dict[str, dict[str, Any]] = {}
        # Refused with 403 (a token without Insight access): the tokens listed here.
        self.no_access_tokens: set[str] = set()

    # -- seeding -----------------------------------------------------------------------
    def set_delivery(self, day: date, **by_type: int) -> None:
        self.deliveries[day] = dict(by_type)

    def set_followers(self, day: date, followers: int, blocks: int, targeted_reaches: int | None = None) -> None:
        self.followers[day] = {"followers": followers, "blocks": blocks,
                               "targetedReaches": targeted_reaches if targeted_reaches is not None
                               else int(followers * 0.75)}

    def seed_insight(self, first_day: date, delivered: Sequence[int], followed: Sequence[int] | None = None,
                     blocked: Sequence[int] | None = None, *, send_type: str = "apiPush",
                     followers_before: int = 1000, blocks_before: int = 50) -> None:
        """One value per JST day from `first_day`: messages delivered (of `send_type`), new
        followers and net new blocks; LINE's cumulative figures are built from them, and the
        day before `first_day` gets the `*_before` totals."""
        followed = list(followed or [0] * len(delivered))
        blocked = list(blocked or [0] * len(delivered))
        self.set_followers(first_day - timedelta(days=1), followers_before, blocks_before)
        followers, blocks = followers_before, blocks_before
        for i, count in enumerate(delivered):
            day = first_day + timedelta(days=i)
            self.set_delivery(day, **({send_type: count} if count else {}))
            followers += followed[i] if i < len(followed) else 0
            blocks += blocked[i] if i < len(blocked) else 0
            self.set_followers(day, followers, blocks)

    def add_message_event(self, request_id: str, sent_at: datetime, delivered: int | None,
                          unique_impression: int | None, unique_click: int | None) -> None:
        self.message_events[request_id] = {
            "requestId": request_id, "timestamp": int(sent_at.timestamp()), "delivered": delivered,
            "uniqueImpression": _withheld(unique_impression), "uniqueClick": _withheld(unique_click),
            "uniqueMediaPlayed": None, "uniqueMediaPlayed100Percent": None}

    def add_unit(self, unit: str, first_day: date, last_day: date, unique_impression: int | None,
                 unique_click: int | None) -> None:
        self.units[unit] = {"first": first_day, "last": last_day, "overview": {
            "uniqueImpression": _withheld(unique_impression), "uniqueClick": _withheld(unique_click),
            "uniqueMediaPlayed": None, "uniqueMediaPlayed100Percent": None}}

    # -- answers ------------------------------------------------------------------------
    def _day_status(self, day: date) -> str:
        if day >= jst_today() or day in self.unready_days:
            return "unready"
        if self.account_first_day is not None and day < self.account_first_day:
            return "out_of_service"
        return "ready"

    def delivery(self, day: date) -> dict[str, Any]:
        status = self._day_status(day)
        if status != "ready":
            return {"status": status}
        by_type = self.deliveries.get(day, {})
        # Under the threshold the whole day is withheld (stand-in choice: every type null).
        if 0 < sum(by_type.values()) < PRIVACY_THRESHOLD:
            return {"status": "ready", **{t: None for t in by_type}}
        return {"status": "ready", **{t: v for t, v in by_type.items() if v}}

    def follower_figures(self, day: date) -> dict[str, Any]:
        status = self._day_status(day)
        if status != "ready":
            return {"status": status}
        known = [d for d in self.followers if d <= day]
        figures = self.followers[max(known)] if known else {"followers": 0, "blocks": 0, "targetedReaches": 0}
        return {"status": "ready", **{k: _withheld(v) for k, v in figures.items()}}

    def message_event(self, request_id: str) -> dict[str, Any]:
        overview = self.message_events.get(request_id) or {
            "requestId": None, "timestamp": None, "delivered": None, "uniqueImpression": None,
            "uniqueClick": None, "uniqueMediaPlayed": None, "uniqueMediaPlayed100Percent": None}
        return {"overview": overview, "messages": [], "clicks": []}

    def unit_statistics(self, unit: str, first: date, last: date) -> dict[str, Any]:
        found = self.units.get(unit)
        if found is None or found["last"] < first or found["first"] > last:
            overview = {"uniqueImpression": None, "uniqueClick": None, "uniqueMediaPlayed": None,
                        "uniqueMediaPlayed100Percent": None}
        else:
            overview = dict(found["overview"])
        return {"overview": overview, "messages": [], "clicks": []}


def parse_line_date(text: str | None) -> date | None:
    if text is None or not _DATE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def answer_insight(figures: InsightFigures, op: str, arg) -> tuple[int, dict[str, Any]]:
    """(status, body) for one Insight request; `arg(name)` reads a query parameter."""
    if op in ("getNumberOfMessageDeliveries", "getNumberOfFollowers"):
        day = parse_line_date(arg("date"))
        if day is None:
            return 400, {"message": "The request body has 1 error(s)",
                         "details": [{"message": "invalid date", "property": "date"}]}
        return 200, figures.delivery(day) if op == "getNumberOfMessageDeliveries" else figures.follower_figures(day)
    if op == "getMessageEvent":
        request_id = arg("requestId")
        if not request_id:
            return 400, {"message": "requestId is required", "details": [{"property": "requestId"}]}
        return 200, figures.message_event(request_id)
    unit = arg("customAggregationUnit") or ""
    first, last = parse_line_date(arg("from")), parse_line_date(arg("to"))
    if not _UNIT.fullmatch(unit) or first is None or last is None:
        return 400, {"message": "invalid customAggregationUnit, from or to"}
    if last < first or (last - first).days > 30:
        return 400, {"message": "The period must be within 30 days", "details": [{"property": "to"}]}
    return 200, figures.unit_statistics(unit, first, last)
