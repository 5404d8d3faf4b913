"""The LINE client: the only code that talks to the LINE Messaging API.

Each method returns a small frozen record (fields LINE left out are None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from linesync_cli import __version__
from linesync_cli.api.http import HttpService, RetryPolicy
from linesync_cli.errors import ApiError, AuthError, BadRequest, MissingScope, NotFound


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
        if status == 403:
            return MissingScope(f"LINE: this endpoint is not available to this account or plan (403: {said})", **kw)
        if status == 404:
            return NotFound(f"LINE: not found (404: {said})", **kw)
        if status == 400:
            return BadRequest(f"LINE rejected the request (400: {said})", **kw)
        return ApiError(f"LINE answered {status}: {said}", **kw)

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
