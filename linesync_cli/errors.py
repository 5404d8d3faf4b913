"""Typed errors and the exit codes of design.md section 7.

Every expected failure is a LinesyncError: one line of message, an optional hint
naming the next command, and the exit code. `app.main` turns them into output in
one place; nothing else prints errors or picks exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a check failed, a link was not found, some records rejected/failed
    USAGE = 2  # usage or configuration error
    AUTH = 3  # Klaviyo or LINE refused the credentials
    UNAVAILABLE = 4  # API unavailable after retries
    INTERRUPTED = 130


class LinesyncError(Exception):
    """Base of every expected failure."""

    exit_code: ExitCode = ExitCode.FAILED
    code: str = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(LinesyncError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ConfigError(UsageError):
    code = "config"


class InputFileError(UsageError):
    code = "input-file"


class NoLinkIndex(UsageError):
    code = "no-link-index"


class CheckFailed(LinesyncError):
    """A check, a link or some records failed (exit 1), already reported."""

    code = "check-failed"


class ApiError(LinesyncError):
    """An HTTP API answered with an error. `service` is "Klaviyo" or "LINE"."""

    code = "api-error"

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        service: str = "Klaviyo",
        status: int | None = None,
        errors: list[dict] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.service = service
        self.status = status
        # The API's own error objects (JSON:API `errors` for Klaviyo), kept for
        # callers that act on them (e.g. backfill reading `source.pointer`).
        self.errors = errors or []
        self.request_id = request_id


class BadRequest(ApiError):
    """400/409/422: the API rejected what we sent."""

    code = "bad-request"


class CursorRefused(BadRequest):
    """A saved page cursor that Klaviyo no longer accepts (expired, or from another query)."""

    code = "cursor-refused"


class NotFound(ApiError):
    code = "not-found"


class AuthError(ApiError):
    """401: the credentials were refused."""

    exit_code = ExitCode.AUTH
    code = "auth"


class MissingScope(AuthError):
    """403 with a JSON body: the key lacks a scope (or the account a feature)."""

    code = "missing-scope"


class ChallengeBlocked(AuthError):
    """403 with an HTML body: a Cloudflare bot challenge, not a scope problem."""

    code = "challenge"


class Unavailable(ApiError):
    """Network errors, 5xx or rate limits that outlasted the retries."""

    exit_code = ExitCode.UNAVAILABLE
    code = "unavailable"


class RateLimited(Unavailable):
    code = "rate-limited"


class Interrupted(LinesyncError):
    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"
