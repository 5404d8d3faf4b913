"""Times: relative ranges (`30d`), ISO 8601 / epoch parsing, IANA zones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linesync_cli.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_zone(name: str | None, option: str = "--timezone") -> tzinfo | None:
    if not name:
        return None
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"{option} {name!r} is not an IANA time zone name",
            hint="use a name such as Asia/Tokyo, Asia/Bangkok or UTC",
        ) from None


def parse_duration(text: str) -> timedelta | None:
    m = _DURATION.match(text)
    if not m:
        return None
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def parse_iso(text: str, tz: tzinfo | None = None) -> datetime | None:
    """ISO 8601 to an aware datetime; a naive one takes `tz`, else None is returned."""
    s = text.strip()
    if not s:
        return None
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        if tz is None:
            return None
        dt = dt.replace(tzinfo=tz)
    return dt


def parse_when(text: str | None, *, option: str, now: datetime | None = None, tz: tzinfo | None = None) -> datetime | None:
    """`--since 30d`, `--since 2026-03-01`, `--until 2026-03-01T12:00:00+09:00`.

    A date or naive time is read in `tz` (default UTC), and said so in --help.
    """
    if text is None or not text.strip():
        return None
    now = now or datetime.now(UTC)
    delta = parse_duration(text)
    if delta is not None:
        return now - delta
    dt = parse_iso(text, tz or UTC)
    if dt is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration (30d, 12h, 2w) nor an ISO 8601 date or time",
            hint=f"e.g. {option} 30d or {option} 2026-03-01 or {option} 2026-03-01T09:00:00+09:00",
        )
    return dt.astimezone(UTC)


def parse_required_when(text: str, *, option: str, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """`parse_when` for an option that must have a value: `--since ""` is a usage error, not a crash."""
    when = parse_when(text, option=option, now=now, tz=tz)
    if when is None:
        raise UsageError(f"{option} needs a value", hint=f"e.g. {option} 30d or {option} 2026-03-01")
    return when


def klaviyo_datetime(dt: datetime) -> str:
    """Filter datetimes: ISO 8601 in UTC, unquoted, second precision (`2026-03-01T00:00:00Z`)."""
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_api_time(value: str | None) -> datetime | None:
    """Times in Klaviyo responses (`2026-03-01T00:00:00+00:00`)."""
    if not value:
        return None
    return parse_iso(value, UTC)


def humanize_age(dt: datetime | None, now: datetime | None = None) -> str:
    if dt is None:
        return "never"
    now = now or datetime.now(UTC)
    secs = int((now - dt).total_seconds())
    if secs < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def local_text(dt: datetime | None, tz: tzinfo | None, terminal: bool) -> str:
    """A time for a table: local and readable on a terminal, ISO 8601 when piped."""
    if dt is None:
        return ""
    shown = dt.astimezone(tz) if tz else dt.astimezone()
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if terminal else shown.isoformat()
