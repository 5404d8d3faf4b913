"""The HTTP discipline shared by the Klaviyo and LINE clients.

One place decides what is retried and for how long, how waits are computed after a
429, and what is logged. Service clients supply headers and translate error
responses into typed errors; commands never see httpx.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from linesync_cli.api.ratelimit import Slot, WindowLimiter
from linesync_cli.errors import ApiError, RateLimited, Unavailable

log = logging.getLogger("linesync.http")
# At DEBUG (`--debug`): one line per paced request with its instants on the client's
# monotonic clock (what the throughput benchmark reads to see where a run's time went).
# Off, it costs one isEnabledFor a request.
pacing_log = logging.getLogger("linesync.pacing")

# Requests worth keeping in flight for one operation: its fastest allowed rate times
# the observed latency, and never fewer than this.
MIN_IN_FLIGHT = 2

# Idle connections are kept this long (httpx's default is 5 s): a backfill idles most of each
# steady window once its budget is spent, and the next window's first burst window then found
# its connections closed: 10 new connections at once, which a server with a short accept queue
# (the stand-in's is 5) answers a SYN retry later (1 s), past the burst window, or which cost a
# TLS handshake each. A connection the server closed meanwhile is noticed when taken from the
# pool (or, racing, fails as a dropped connection, which is retried).
KEEPALIVE_SECONDS = 120.0

# 5xx worth retrying. 501 (not implemented) will not get better.
RETRYABLE_STATUS = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
_SECRET_QUERY_KEYS = frozenset({"access_token", "api_key", "client_secret", "token"})
_EXPECTED_IN = re.compile(r"expected available in (\d+(?:\.\d+)?) second", re.IGNORECASE)


def redact_url(url: str | httpx.URL) -> str:
    """Drop secret query parameters (LINE's verify endpoint takes the token in the URL)."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    query = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[](),:\"'")))


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A server that asks for a longer wait than this is treated as unavailable.
    max_retry_after: float = 120.0


@dataclass(frozen=True)
class RetryNotice:
    """Told to `HttpService.on_retry` before each wait, so a command can say what the network is doing."""

    service: str  # "Klaviyo" | "LINE"
    problem: str  # "unreachable", "answered 503", "rate limited (429)", "timed out"
    retry: int  # this retry, 1-based
    retries: int  # retries allowed in all
    wait: float  # seconds until it is sent
    what: str | None = None  # what was asked ("listing metrics, page 2")

    def text(self) -> str:
        return f"{self.service} {self.problem}, retry {self.retry}/{self.retries} in {self.wait:.1f} s" + (
            f" ({self.what})" if self.what else "")


def retry_after_seconds(response: httpx.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a 429/503 asks us to wait: `Retry-After`, else Klaviyo's detail text."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(header).timestamp() - now())
            except (TypeError, ValueError, IndexError):
                pass
    # Klaviyo's 429 often has no Retry-After; its detail says
    # "Request was throttled. Expected available in 0 seconds."
    try:
        body = response.json()
    except ValueError:
        return None
    for err in body.get("errors", []) if isinstance(body, dict) else []:
        m = _EXPECTED_IN.search(str(err.get("detail", "")) if isinstance(err, dict) else "")
        if m:
            return float(m.group(1))
    return None


def wanted_in_flight(limiter: WindowLimiter, latency: float | None, upper: int) -> int:
    """Requests worth keeping in flight for an operation paced by `limiter`, between
    MIN_IN_FLIGHT and `upper`: its burst rate times `latency` (None: no answer yet, the
    burst window's whole limit), plus one being sent; while the limiter places the burst
    windows (see ratelimit.py), a whole burst window's worth more, waiting at the limiter
    with bodies built, so that each window's 10 leave together as it starts."""
    burst = min(limiter.windows, key=lambda w: w.seconds)
    if latency is None:
        wanted = burst.limit
    else:
        wanted = math.ceil(latency * burst.limit / burst.seconds) + (burst.limit if limiter.aligned else 1)
    return max(min(MIN_IN_FLIGHT, upper), min(upper, wanted))


def _unbind(response: httpx.Response) -> None:
    """Break httpx's response <-> stream reference cycle once the body has been read.

    httpx wraps each response's stream in one that refers back to the response, so a
    response (with its request, and the request's body) outlives its last use until the
    cyclic collector runs. A backfill sends a body of up to 5 MB ten times a second: kept
    for a collection's period, that was hundreds of MB. The content is read (nothing here
    streams), so the stream is replaced by the bytes it gave.
    """
    response.stream = httpx.ByteStream(response.content)


class HttpService:
    """httpx.Client plus retries, pacing and logging. Subclasses translate errors."""

    service = "API"

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS),
        )
        self.stats = {"requests": 0, "retries": 0, "throttled": 0}
        # Told before each retry's wait, and None once a retried request got an answer (the CLI
        # shows the notice on stderr and clears it); None: silent.
        self.on_retry: Callable[[RetryNotice | None], None] | None = None
        # Per operation: seconds from sending to the answer (not the pacing wait), smoothed.
        self._latency: dict[str, float] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks for subclasses ------------------------------------------------
    def limiter_for(self, op: str | None) -> WindowLimiter | None:
        return None

    def in_flight_for(self, op: str, upper: int) -> int:
        """How many `op` requests to keep in flight: enough to send at its fastest allowed
        rate (the burst window) at the latency observed so far, between MIN_IN_FLIGHT and
        `upper`. Before any answer, the burst window's whole limit (it may go at once)."""
        limiter = self.limiter_for(op)
        if limiter is None or not limiter.windows:
            return max(1, upper)
        return wanted_in_flight(limiter, self._latency.get(op), upper)

    def observe_headers(self, op: str | None, response: httpx.Response, slot: Slot | None = None) -> None:
        """Learn rate-limit state from a non-429 response (Klaviyo's RateLimit-* headers).

        Must hand `slot` back to the operation's limiter (observe() or settle()).
        """
        limiter = self.limiter_for(op)
        if limiter is not None:
            limiter.settle(slot)

    def translate_error(self, response: httpx.Response, op: str | None, scope: str | None) -> ApiError:
        raise NotImplementedError

    def unreachable_hint(self) -> str:
        return "check the network and the base URL"

    def describe(self, op: str | None) -> str | None:
        """What an operation asks, in words, for errors and retry notes ("listing metrics")."""
        return None

    # -- the request loop ----------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries from parallel workers apart.
        cap = min(self.retry.max_delay, self.retry.base_delay * (2 ** attempt))
        return cap * (0.5 + 0.5 * self._rng())

    def send(
        self,
        method: str,
        url: str,
        *,
        op: str | None = None,
        scope: str | None = None,
        idempotent: bool = True,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        page: int | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise a typed ApiError.

        Not idempotent (e.g. creating a segment): retried only when the request
        surely was not processed (connection refused, 429). Errors and retry notes
        say what was asked (the operation, and the page of a listing).
        """
        what = self.describe(op)
        if what and page is not None and page > 1:
            what = f"{what}, page {page}"
        try:
            return self._send(method, url, op=op, scope=scope, idempotent=idempotent, params=params,
                              json_body=json_body, data=data, headers=headers, content=content, what=what)
        except ApiError as error:
            if what and not error.message.endswith(what):
                error.message = f"{error.message} while {what}"
                error.args = (error.message,)
            raise

    def _retrying(self, problem: str, attempt: int, wait: float, what: str | None) -> None:
        self.stats["retries"] += 1
        notice = RetryNotice(self.service, problem, attempt + 1, self.retry.max_attempts - 1, wait, what)
        log.info("%s", notice.text())
        if self.on_retry is not None:
            self.on_retry(notice)

    def _send(self, method: str, url: str, *, op: str | None, scope: str | None, idempotent: bool,
              params: dict[str, Any] | None, json_body: Any, data: dict[str, str] | None,
              headers: dict[str, str] | None, content: bytes | None, what: str | None) -> httpx.Response:
        limiter = self.limiter_for(op)
        last_problem = ""
        for attempt in range(self.retry.max_attempts):
            slot = limiter.acquire() if limiter is not None else None
            started = self._clock()
            self.stats["requests"] += 1
            try:
                response = self._client.request(
                    method, url, params=params, json=json_body, data=data, headers=headers, content=content,
                )
            except httpx.ConnectError as exc:
                retry_ok, last_problem, short = True, f"cannot connect ({_short(exc)})", "unreachable"
            except httpx.TimeoutException as exc:
                retry_ok, last_problem, short = idempotent, f"timed out ({_short(exc)})", "timed out"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                retry_ok, last_problem, short = idempotent, f"connection dropped ({_short(exc)})", "dropped the connection"
            except httpx.HTTPError as exc:
                retry_ok, last_problem, short = False, f"request failed ({_short(exc)})", "request failed"
            except BaseException:  # e.g. Ctrl-C: the slot must not stay taken
                if limiter is not None:
                    limiter.settle(slot)
                raise
            else:
                answered = self._clock()
                elapsed = answered - started
                _unbind(response)
                if slot is not None and pacing_log.isEnabledFor(logging.DEBUG):
                    pacing_log.debug("%s waited=%.4f sent=%.4f answered=%.4f status=%d remaining=%s reset=%s placed=%d",
                                     op, slot.waited, slot.sent, answered, response.status_code,
                                     response.headers.get("RateLimit-Remaining", "-"),
                                     response.headers.get("RateLimit-Reset", "-"), slot.aligned)
                log.info("%s %s %s %.2fs%s", method, redact_url(response.request.url), response.status_code, elapsed,
                         self._attempt_label(attempt))
                if op is not None:
                    seen = self._latency.get(op)
                    self._latency[op] = elapsed if seen is None else seen + 0.2 * (elapsed - seen)
                status = response.status_code
                if status != 429:
                    self.observe_headers(op, response, slot)
                if attempt and self.on_retry is not None:
                    self.on_retry(None)
                if status < 400:
                    return response
                if status == 429:
                    self.stats["throttled"] += 1
                    wait = retry_after_seconds(response)
                    if wait is not None and wait > self.retry.max_retry_after:
                        if limiter is not None:
                            limiter.refused(slot, wait, wait)
                        raise self._rate_limited(response, op, scope, wait)
                    said = wait
                    if wait is None:
                        wait = self._backoff(attempt + 1)
                    else:
                        # "N seconds" is rounded down: the window rolls within N+1 s. The first
                        # retry comes at once (a hair of jitter keeps parallel senders apart);
                        # each further one waits a quarter second more, so the retries outlast a
                        # 1 s burst window that another process's requests had filled.
                        wait = wait + 0.05 + 0.25 * self._rng() + 0.25 * attempt
                    if limiter is not None:
                        limiter.refused(slot, wait, said)
                    if attempt + 1 >= self.retry.max_attempts:
                        raise self._rate_limited(response, op, scope, wait)
                    self._retrying("rate limited (429)", attempt, wait, what)
                    if limiter is None:
                        self._sleep(wait)
                    continue
                if status in RETRYABLE_STATUS and idempotent and attempt + 1 < self.retry.max_attempts:
                    wait = retry_after_seconds(response) if status == 503 else None
                    wait = min(wait, self.retry.max_delay) if wait is not None else self._backoff(attempt)
                    self._retrying(f"answered {status}", attempt, wait, what)
                    self._sleep(wait)
                    continue
                error = _without_credentials(self.translate_error(response, op, scope), response.request)
                if status >= 500:
                    raise Unavailable(
                        f"{self.service} is unavailable: HTTP {status} after {_attempts(attempt + 1)}"
                        + (f" ({error.message})" if error.message else ""),
                        hint=f"try again later; {self.service}'s status page may say more",
                        service=self.service, status=status, errors=error.errors, request_id=error.request_id,
                    )
                raise error
            # network failure path
            if limiter is not None:
                limiter.settle(slot)
            log.info("%s %s %s%s", method, redact_url(self._client.build_request(method, url, params=params).url),
                     last_problem, self._attempt_label(attempt))
            if retry_ok and attempt + 1 < self.retry.max_attempts:
                wait = self._backoff(attempt)
                self._retrying(short, attempt, wait, what)
                self._sleep(wait)
                continue
            break
        host = urlsplit(self.base_url).netloc
        raise Unavailable(
            f"{self.service} at {host} is unreachable: {last_problem} after {_attempts(attempt + 1)}",
            hint=self.unreachable_hint(),
            service=self.service,
        )

    def _attempt_label(self, attempt: int) -> str:
        return f" (attempt {attempt + 1}/{self.retry.max_attempts})" if attempt else ""

    def _rate_limited(self, response: httpx.Response, op: str | None, scope: str | None, wait: float) -> RateLimited:
        return RateLimited(
            f"{self.service} kept answering 429 (rate limited){f' for {op}' if op else ''}; "
            f"it asked to wait {wait:.0f}s more",
            hint="another integration may share this account's quota; try again later",
            service=self.service, status=429,
        )


def _credentials(request: httpx.Request) -> list[str]:
    """The secrets a request carried: the Authorization value, and LINE verify's token field."""
    found = []
    auth = request.headers.get("authorization")
    if auth:
        found.append(auth.split()[-1])
    fields = list(request.url.params.multi_items())
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields += parse_qsl(request.content.decode("utf-8", "replace"))
    found += [value for key, value in fields if key.lower() in _SECRET_QUERY_KEYS]
    return [secret for secret in found if len(secret) >= 8]


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def _without_credentials(error: ApiError, request: httpx.Request) -> ApiError:
    """An API that quotes our key or token back (a proxy, a debug page) must not get it printed or stored."""
    secrets = _credentials(request)
    if secrets:
        error.message = _scrub(error.message, secrets)
        error.hint = _scrub(error.hint, secrets)
        error.errors = _scrub(error.errors, secrets)
        error.args = (error.message,)
    return error


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
