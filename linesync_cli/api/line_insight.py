"""LINE's Insight figures as small typed values (spec `../shared/specs/line/insight.yml`).

The LINE client's insight methods return these; the core never sees LINE's JSON.
Facts they encode (line-api.md section 10):
- Days are JST (UTC+9) calendar days, written `yyyyMMdd`.
- `status` is `ready`, `unready` (LINE has not finished counting: usually ready the
  next day) or `out_of_service` (a day before LINE counted for this account).
- Under the privacy threshold (fewer than 20) a figure is null; the delivery
  endpoints of the Messaging API say `unavailable_for_privacy` instead, accepted too.
- A property LINE omits had no value (LINE leaves valueless properties out): a send
  type that is absent was not used that day, which is 0, unlike a null (withheld).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9), "JST")

READY = "ready"
UNREADY = "unready"
OUT_OF_SERVICE = "out_of_service"
PRIVACY = "unavailable_for_privacy"

# Send types of `GET /v2/bot/insight/message/delivery`, in the spec's order.
DELIVERY_TYPES = (
    "broadcast", "targeting", "autoResponse", "welcomeResponse", "chat",
    "apiBroadcast", "apiPush", "apiMulticast", "apiNarrowcast", "apiReply",
)

# `customAggregationUnit`: spec pattern; `to` may be at most 30 days after `from`.
UNIT_PATTERN = r"^[a-zA-Z0-9_]{1,30}$"
UNIT_MAX_SPAN_DAYS = 30
# Interactions with a broadcast or narrowcast are counted for 14 days after sending.
EVENT_WINDOW_DAYS = 14


def line_date(day: date) -> str:
    """A JST day as LINE's `yyyyMMdd` query value."""
    return day.strftime("%Y%m%d")


def today_jst(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(JST).date()


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _status(doc: dict) -> str:
    status = doc.get("status")
    return str(status) if status else READY


@dataclass(frozen=True)
class DeliveryCounts:
    """Messages LINE delivered on one JST day, by send type."""

    day: date
    status: str  # ready | unready | out_of_service | unavailable_for_privacy
    by_type: dict[str, int | None] = field(default_factory=dict)  # only the types LINE returned

    @property
    def withheld(self) -> bool:
        """Under the privacy threshold: LINE withholds the figures."""
        return self.status == PRIVACY or (self.status == READY and any(v is None for v in self.by_type.values()))

    @property
    def total(self) -> int | None:
        """All send types added up; None unless the day is ready and nothing is withheld."""
        if self.status != READY or self.withheld:
            return None
        return sum(v or 0 for v in self.by_type.values())

    @classmethod
    def from_json(cls, day: date, doc: dict) -> DeliveryCounts:
        by_type = {t: _int_or_none(doc[t]) for t in DELIVERY_TYPES if t in doc}
        return cls(day, _status(doc), by_type)


@dataclass(frozen=True)
class FollowerCounts:
    """LINE's follower figures as of the end of one JST day (cumulative, not per day)."""

    day: date
    status: str
    followers: int | None  # first-time adds so far; never decreases
    targeted_reaches: int | None
    blocks: int | None  # users blocking now; falls when someone unblocks

    @classmethod
    def from_json(cls, day: date, doc: dict) -> FollowerCounts:
        return cls(day, _status(doc), _int_or_none(doc.get("followers")),
                   _int_or_none(doc.get("targetedReaches")), _int_or_none(doc.get("blocks")))


@dataclass(frozen=True)
class InteractionOverview:
    """`overview` of a request ID's or a custom aggregation unit's statistics.

    `delivered` is null until every message of the send is out, and is not served for
    aggregation units at all; the unique figures are null under the privacy threshold.
    """

    request_id: str | None
    sent_at: datetime | None
    delivered: int | None
    unique_impression: int | None
    unique_click: int | None
    unique_media_played: int | None
    known: bool  # LINE returned any figure or the request ID at all

    @classmethod
    def from_json(cls, doc: dict) -> InteractionOverview:
        raw = doc.get("overview")
        overview: dict[str, Any] = raw if isinstance(raw, dict) else {}
        ts = _int_or_none(overview.get("timestamp"))
        values = {k: _int_or_none(overview.get(k)) for k in
                  ("delivered", "uniqueImpression", "uniqueClick", "uniqueMediaPlayed")}
        request_id = overview.get("requestId")
        return cls(
            request_id=str(request_id) if request_id else None,
            sent_at=datetime.fromtimestamp(ts, UTC) if ts else None,
            delivered=values["delivered"],
            unique_impression=values["uniqueImpression"],
            unique_click=values["uniqueClick"],
            unique_media_played=values["uniqueMediaPlayed"],
            known=bool(request_id) or any(v is not None for v in values.values()),
        )
