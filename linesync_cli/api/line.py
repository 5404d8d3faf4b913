"""The LINE client: the only code that talks to the LINE Messaging API.

Each method returns a small frozen record (fields LINE left out are None)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from pydantic import SecretStr

from linesync_cli import __version__
from linesync_cli.api.http import HttpService, RetryPolicy
from linesync_cli.api.line_insight import DeliveryCounts, FollowerCounts, InteractionOverview, line_date
from linesync_cli.api.ratelimit import Window, WindowLimiter
from linesync_cli.errors import ApiError, AuthError, BadRequest, MissingScope, NotFound, RateLimited

# LINE limits each endpoint (method + path) per channel; the Insight group allows 60
# requests an hour (line-api.md section 7, as of 2025-04-16). Paced here so a long
# reconcile waits instead of collecting 429s, which LINE does not retry for us.
INSIGHT_OPERATIONS: dict[str, str] = {
    "getNumberOfMessageDeliveries": "GET /v2/bot/insight/message/delivery",
    "getNumberOfFollowers": "GET /v2/bot/insight/followers",
    "getMessageEvent": "GET /v2/bot/insight/message/event",
    "getStatisticsPerUnit": "GET /v2/bot/insight/message/event/aggregation",
}
INSIGHT_PER_HOUR = 60
INSIGHT_PERMISSION = "access to the account's statistics (Messaging API Insight)"


class LineClient(HttpService):
    service = "LINE"

    def __init__(
        self,
        channel_access_token: SecretStr,
        base_url: str = "https://api.line.me",
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        self._token = channel_access_token
        headers = {"User-Agent": f"linesync/{__version__}"}
        super().__init__(base_url, headers, timeout=timeout, transport=transport, retry=retry, **kwargs)
        self._limiters: dict[str, WindowLimiter] = {}
        self.insight_per_hour = INSIGHT_PER_HOUR

    def limiter_for(self, op: str | None) -> WindowLimiter | None:
        if op not in INSIGHT_OPERATIONS:
            return None
        limiter = self._limiters.get(op)
        if limiter is None:
            limiter = WindowLimiter([Window(self.insight_per_hour, 3600.0)], clock=self._clock, sleep=self._sleep)
            self._limiters[op] = limiter
        return limiter

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def translate_error(self, response: httpx.Response, op: str | None, scope: str | None) -> ApiError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        said = str(body.get("message") or body.get("error_description") or body.get("error") or response.reason_phrase)
        details = body.get("details") if isinstance(body.get("details"), list) else []
        kw = dict(service=self.service, status=status, errors=details, request_id=response.headers.get("x-line-request-id"))
        if status == 401:
            return AuthError(
                f"LINE refused the channel access token (401: {said})",
                hint="issue a new token in the LINE Developers Console (Messaging API tab) "
                "and set LINESYNC_LINE_CHANNEL_ACCESS_TOKEN",
                **kw,
            )
        if status == 403 and op in INSIGHT_OPERATIONS:
            return MissingScope(
                f"LINE refused {INSIGHT_OPERATIONS[op]} (403: {said}): this channel access token lacks "
                f"{INSIGHT_PERMISSION}",
                hint="use the token of the Messaging API channel of this LINE Official Account (LINE Developers "
                "Console > the channel > Messaging API); Insight needs an account whose plan includes statistics",
                **kw,
            )
        if status == 403:
            return MissingScope(f"LINE: this endpoint is not available to this account or plan (403: {said})", **kw)
        if status == 404:
            return NotFound(f"LINE: not found (404: {said})", **kw)
        if status == 400:
            return BadRequest(f"LINE rejected the request (400: {said})", **kw)
        return ApiError(f"LINE answered {status}: {said}", **kw)

    def _rate_limited(self, response: httpx.Response, op: str | None, scope: str | None, wait: float) -> RateLimited:
        error = super()._rate_limited(response, op, scope, wait)
        if op in INSIGHT_OPERATIONS:
            # Another run (or tool) on this channel spent the hour's budget.
            error.message = (f"LINE kept answering 429 for {INSIGHT_OPERATIONS[op]}: it allows "
                             f"{self.insight_per_hour} Insight requests an hour per endpoint and channel")
            error.hint = ("another run or tool used this hour's budget; run again in an hour: days LINE already "
                          "answered are kept and not asked again")
            error.args = (error.message,)
        return error

    def unreachable_hint(self) -> str:
        return "check the network, proxy settings and LINESYNC_LINE_BASE_URL"

    def describe(self, op: str | None) -> str | None:
        return {"get_bot_info": "reading the bot info", "get_profile": "reading a LINE profile",
                "verify_token": "verifying the channel access token"}.get(op or "")

    def get_bot_info(self) -> BotInfo:
        """`GET /v2/bot/info`: the best single check that the token works."""
        return BotInfo.parse(self.send("GET", "/v2/bot/info", headers=self._auth(), op="get_bot_info").json())

    def get_profile(self, user_id: str) -> LineProfile:
        """`GET /v2/bot/profile/{userId}`. 404 covers: not a friend, blocked, unknown or other provider."""
        return LineProfile.parse(self.send("GET", f"/v2/bot/profile/{user_id}", headers=self._auth(), op="get_profile").json())

    def verify_token(self) -> TokenInfo:
        """The token's channel and expiry.

        Long-lived and short-lived tokens verify at `POST /v2/oauth/verify`; v2.1
        (JWT-issued) tokens at `GET /oauth2/v2.1/verify`. Neither takes an
        Authorization header; the token travels in the form or the query (the
        logs redact it).
        """
        token = self._token.get_secret_value()
        try:
            body = self.send("POST", "/v2/oauth/verify", data={"access_token": token}, op="verify_token").json()
        except BadRequest:
            body = self.send("GET", "/oauth2/v2.1/verify", params={"access_token": token}, op="verify_token").json()
        return TokenInfo.parse(body)

    # -- Insight (JST days; 60 requests an hour per endpoint) ---------------------
    def _insight(self, op: str, params: dict[str, str]) -> dict:
        path = INSIGHT_OPERATIONS[op].split(" ", 1)[1]
        doc = self.send("GET", path, op=op, params=params, headers=self._auth()).json()
        return doc if isinstance(doc, dict) else {}

    def get_message_deliveries(self, day: date) -> DeliveryCounts:
        """Messages delivered on one JST day, by send type (`status` says whether LINE has counted it)."""
        return DeliveryCounts.from_json(day, self._insight("getNumberOfMessageDeliveries", {"date": line_date(day)}))

    def get_followers(self, day: date) -> FollowerCounts:
        """Followers (cumulative first-time adds), targeted reaches and blocks at the end of a JST day."""
        return FollowerCounts.from_json(day, self._insight("getNumberOfFollowers", {"date": line_date(day)}))

    def get_message_event(self, request_id: str) -> InteractionOverview:
        """Delivered, unique impressions and clicks of one broadcast or narrowcast (its X-Line-Request-Id)."""
        return InteractionOverview.from_json(self._insight("getMessageEvent", {"requestId": request_id}))

    def get_statistics_per_unit(self, unit: str, first: date, last: date) -> InteractionOverview:
        """Unique impressions and clicks of push/multicast sent with a custom aggregation unit, JST days
        `first`..`last` (at most 30 days apart; LINE serves no delivered count here)."""
        return InteractionOverview.from_json(self._insight(
            "getStatisticsPerUnit",
            {"customAggregationUnit": unit, "from": line_date(first), "to": line_date(last)},
        ))


def _str(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class BotInfo:
    """The bot of the channel the token belongs to (missing fields are None)."""

    user_id: str | None  # the webhook's `destination`
    basic_id: str | None
    premium_id: str | None
    display_name: str | None
    chat_mode: str | None
    mark_as_read_mode: str | None

    @classmethod
    def parse(cls, body: Any) -> BotInfo:
        return cls(_str(body, "userId"), _str(body, "basicId"), _str(body, "premiumId"), _str(body, "displayName"),
                   _str(body, "chatMode"), _str(body, "markAsReadMode"))


@dataclass(frozen=True)
class LineProfile:
    user_id: str | None
    display_name: str | None

    @classmethod
    def parse(cls, body: Any) -> LineProfile:
        return cls(_str(body, "userId"), _str(body, "displayName"))


@dataclass(frozen=True)
class TokenInfo:
    client_id: str | None  # the channel ID
    expires_in: int | None  # seconds; None when LINE did not say
    scope: str | None

    @classmethod
    def parse(cls, body: Any) -> TokenInfo:
        raw = body.get("expires_in") if isinstance(body, dict) else None
        expires = int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
        return cls(_str(body, "client_id"), expires, _str(body, "scope"))
