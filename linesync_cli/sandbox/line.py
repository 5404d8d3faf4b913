"""A small stand-in for the LINE Messaging API (bot info, profiles, token verify).

Answers as ../shared/docs/line-api.md describes: 401 with LINE's message for a bad
token, 404 `{"message":"Not found"}` for a user the channel cannot see, 400 for a
malformed user ID; the verify endpoints take the token in a form or the query,
never in an Authorization header.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from linesync_cli.sandbox.base import Incoming, RecordedRequest, Reply, StandInServer, Validator
from linesync_cli.sandbox.line_insight import INSIGHT_OPS, InsightFigures, answer_insight

USER_ID = re.compile(r"U[0-9a-f]{32}")
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."


class LineStandIn(StandInServer):
    """LINE on loopback. `token` is the valid channel access token (long-lived kind).

    `add_user(user_id, display_name=...)` makes a profile visible; `add_token(...)`
    adds more tokens (kind "long-lived" verifies at /v2/oauth/verify, "v2.1" at
    /oauth2/v2.1/verify). Insight figures: `seed_insight(...)` and `insight`
    (linesync_cli/sandbox/line_insight.py).
    """

    service = "LINE"

    def __init__(self, token: str = "line-standin-token-SECRET-0000", *, validator: Validator | None = None) -> None:
        super().__init__(validator=validator)
        self.token = token
        self.tokens: dict[str, dict[str, Any]] = {}
        self.add_token(token)
        self.users: dict[str, dict[str, Any]] = {}
        self.bot = {"userId": "U0f1e2d3c4b5a69788796a5b4c3d2e1f0", "basicId": "@123abcde",
                    "displayName": "Stand-in Shop", "chatMode": "bot", "markAsReadMode": "auto"}
        self.insight = InsightFigures()

    def seed_insight(self, *args: Any, **kwargs: Any) -> None:
        """Insight figures per JST day: see InsightFigures.seed_insight."""
        with self.lock:
            self.insight.seed_insight(*args, **kwargs)

    def add_token(self, token: str, kind: str = "long-lived", client_id: str = "1234567890",
                  expires_in: int = 3138007490) -> None:
        with self.lock:
            self.tokens[token] = {"kind": kind, "client_id": client_id, "expires_in": expires_in}

    def add_user(self, user_id: str, display_name: str = "LINE user", **extra: Any) -> None:
        with self.lock:
            self.users[user_id] = {"userId": user_id, "displayName": display_name, **extra}

    def operation_for(self, req: Incoming) -> str | None:
        path = req.route_path
        if req.method == "GET" and path == "/v2/bot/info":
            return "getBotInfo"
        if req.method == "GET" and path.startswith("/v2/bot/profile/"):
            return "getProfile"
        if req.method == "POST" and path == "/v2/oauth/verify":
            return "verifyChannelToken"
        if req.method == "GET" and path == "/oauth2/v2.1/verify":
            return "verifyChannelTokenByJWT"
        if req.method == "GET" and path in INSIGHT_OPS:
            return INSIGHT_OPS[path]
        return None

    def fault_reply(self, status: int) -> Reply:
        if status == 429:
            return Reply.json(429, {"message": "The API rate limit has been exceeded. Try again later."})
        return Reply.json(status, {"message": "Internal server error" if status == 500 else "Service unavailable"})

    def _headers(self) -> dict[str, str]:
        return {"X-Line-Request-Id": str(uuid.uuid4())}

    def answer(self, req: Incoming, record: RecordedRequest) -> Reply:
        op = self.operation_for(req)
        if op is None:
            return Reply.json(404, {"message": "Not found"}, headers=self._headers())
        with self.lock:
            if op in ("verifyChannelToken", "verifyChannelTokenByJWT"):
                return self._verify(req, record, op)
            auth = req.headers.get("authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if token not in self.tokens:
                return Reply.json(401, {"message": AUTH_FAILED}, headers=self._headers())
            if op == "getBotInfo":
                return Reply.json(200, self.bot, headers=self._headers())
            if op in INSIGHT_OPS.values():
                if token in self.insight.no_access_tokens:
                    return Reply.json(403, {"message": "Access to this API is not available for your account"},
                                      headers=self._headers())
                status, body = answer_insight(self.insight, op, req.arg)
                return Reply.json(status, body, headers=self._headers())
            user_id = req.route_path.rsplit("/", 1)[-1]
            if not USER_ID.fullmatch(user_id):
                return Reply.json(400, {"message": "The value for the 'userId' parameter is invalid"},
                                  headers=self._headers())
            user = self.users.get(user_id)
            if user is None:
                return Reply.json(404, {"message": "Not found"}, headers=self._headers())
            return Reply.json(200, user, headers=self._headers())

    def _verify(self, req: Incoming, record: RecordedRequest, op: str) -> Reply:
        if op == "verifyChannelToken":
            token = _form_token(req.raw)
            wanted_kind = "long-lived"
        else:
            token = req.arg("access_token")
            wanted_kind = "v2.1"
        info = self.tokens.get(token or "")
        if info is None:
            return Reply.json(400, {"error": "invalid_request", "error_description": "access_token invalid"})
        if info["kind"] != wanted_kind:
            # Stand-in choice: which verify endpoint accepts which token family is unconfirmed.
            description = "The access token not JWS" if wanted_kind == "v2.1" else "access_token invalid"
            return Reply.json(400, {"error": "invalid_request", "error_description": description})
        return Reply.json(200, {"client_id": info["client_id"], "expires_in": info["expires_in"],
                                "scope": "profile chat_message.write"})


def _form_token(raw: bytes) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(raw.decode("utf-8", errors="replace")).get("access_token")
    return values[0] if values else None
